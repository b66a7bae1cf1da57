"""Bytes on disk to protobuf, safely: the wire walk without weight bytes, external-data checks, initializers, dtypes."""
