"""Reading a model file as protobuf, safely: what is not a model is refused in one line, big tensors'
bytes stay in the file.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import NamedTuple

from google.protobuf.message import DecodeError
from onnx import ModelProto

from modelaudit.errors import InvalidModelError, UsageError
from modelaudit.load.wire import StrippedData, WireError, strip_weights

__all__ = ["Loaded", "read_model", "read_model_light", "MAX_PROTO_BYTES"]

MAX_PROTO_BYTES = 2**31 - 1  # protobuf cannot hold a message of 2 GiB or more
WHOLE_BYTES = 16 << 20  # a file this small is read whole: walking its fields costs more than holding its bytes


_LFS_MAGIC = b"version https://git-lfs"


class Loaded(NamedTuple):
    model: ModelProto
    path: Path | None
    weights_in_file: StrippedData | None  # big tensors whose bytes stayed in the file
    data: bytes | None  # the bytes parsed: they serve as the first shape-inference skeleton


def read_model(source: str | os.PathLike | ModelProto, full: bool = True) -> tuple[ModelProto, Path | None]:
    """Parses a model file as protobuf (whatever its extension), refusing what is not a model."""
    loaded = read_model_light(source, full=full)
    return loaded.model, loaded.path


def read_model_light(source: str | os.PathLike | ModelProto, full: bool = False) -> Loaded:
    """read_model, but a large file is read without the bytes of its big tensors (unless `full`)."""
    if isinstance(source, ModelProto):
        return Loaded(source, None, None, None)
    path = Path(source)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot be read ({exc.strerror})") from None
    if stat.S_ISDIR(st.st_mode):
        raise InvalidModelError(f"{path}: is a directory, not an ONNX model file")
    if not stat.S_ISREG(st.st_mode):
        raise InvalidModelError(f"{path}: is not a regular file (a pipe, socket or device)")
    if st.st_size == 0:
        raise InvalidModelError(f"{path}: is empty (0 bytes), not an ONNX model")
    if st.st_size > MAX_PROTO_BYTES:
        raise InvalidModelError(
            f"{path}: is {st.st_size / 2**30:.1f} GiB; a single ONNX protobuf cannot exceed 2 GiB",
            "save the weights as external data: onnx.save(model, path, save_as_external_data=True)",
        )
    stripped = None
    try:
        with open(path, "rb") as fh:
            head = fh.read(512)
            _sniff(path, head)
            if not full and st.st_size > WHOLE_BYTES:
                data, stripped = strip_weights(path)
            else:
                data = head + fh.read()
    except OSError as exc:
        raise UsageError(f"{path}: cannot be read ({exc.strerror})") from None
    except WireError as exc:
        if "nested" in str(exc):  # a deliberate nesting bomb, not a corrupt file: say which limit
            raise _too_deep(path) from None
        raise InvalidModelError(
            f"{path}: is not a valid ONNX model (protobuf parse failed: "
            "the file is corrupt, truncated or of another type)"
        ) from None
    model = ModelProto()
    try:
        model.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as exc:
        if "MaxDepth" in str(exc) or "nested" in str(exc):
            raise _too_deep(path) from None
        raise InvalidModelError(
            f"{path}: is not a valid ONNX model (protobuf parse failed: "
            "the file is corrupt, truncated or of another type)"
        ) from None
    if not model.HasField("graph") or (not model.graph.node and not model.graph.output):
        raise InvalidModelError(f"{path}: is not an ONNX model (it holds no graph)")
    return Loaded(model, path, stripped if stripped is not None and stripped.count else None, data)


def _too_deep(path: Path) -> InvalidModelError:
    return InvalidModelError(
        f"{path}: protobuf messages are nested past protobuf's depth limit of 100 "
        "(subgraphs about 33 levels deep or more; modelaudit audits subgraphs up to 31 deep)"
    )


def _sniff(path: Path, data: bytes) -> None:
    head = data.lstrip()
    if head.startswith(_LFS_MAGIC):
        raise InvalidModelError(f"{path}: is a Git LFS pointer, not the model", "run git lfs pull")
    lowered = head[:64].lower()
    if lowered.startswith((b"<!doctype", b"<html", b"<?xml", b"<head", b"<body")):
        raise InvalidModelError(
            f"{path}: is an HTML/XML page, not an ONNX model", "download the raw file, not the web page that shows it"
        )
