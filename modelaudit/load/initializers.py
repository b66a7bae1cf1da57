"""A graph's initializers read from protobuf once: name, dims, dtype and where the data lives.

Every protobuf field read from Python costs a fresh object; a transformer exported by torch holds
tens of thousands of small initializers (Gather indices, Unsqueeze axes), and the load, the shape
inference, the weight walk and the checks all need the same four fields of each.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from onnx import GraphProto, TensorProto

__all__ = ["Initializer", "read_initializers", "holds_data"]

_EXTERNAL = TensorProto.EXTERNAL
_DATA_FIELDS = ("raw_data", "float_data", "int32_data", "int64_data", "double_data", "uint64_data", "string_data")


class Initializer(NamedTuple):
    name: str  # bytes when protobuf met invalid UTF-8: _check_structure refuses those
    dims: tuple[int, ...]
    dtype: int
    external: bool  # data_location == EXTERNAL: never read to count
    proto: TensorProto

    @property
    def numel(self) -> int:
        return math.prod(self.dims)


def read_initializers(graph: GraphProto) -> list[Initializer]:
    """The dense initializers of one graph (not its subgraphs), in file order."""
    return [Initializer(t.name, tuple(t.dims), t.data_type, t.data_location == _EXTERNAL, t) for t in graph.initializer]


def holds_data(tensor: TensorProto) -> bool:
    """Whether the tensor's values are in the parsed message. The weightless read (load.wire) leaves
    the bytes of big tensors in the file, so a tensor with elements but no data field must never
    be decoded: numpy_helper would read it as empty."""
    if tensor.data_location == _EXTERNAL:
        return False
    if not math.prod(tensor.dims):
        return True
    return any(len(getattr(tensor, f)) for f in _DATA_FIELDS)
