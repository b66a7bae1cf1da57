"""External data, fenced: every location is checked to lie inside the model's own folder before
any file is opened, and bytes are read only where a feature needs values (--verify)."""

from __future__ import annotations

import errno
import math
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from onnx import ModelProto, TensorProto

from modelaudit.errors import InvalidModelError, UnsafeExternalDataError

from .dtypes import tensor_bytes

__all__ = ["ExternalRef", "external_refs", "check_external", "check_all", "load_external", "model_folder"]


def model_folder(path: str | os.PathLike) -> Path:
    """The folder the user named: a model reached through a symbolic link reads its external data
    from beside the link, never from the folder of the link's target."""
    return Path(os.path.abspath(path)).parent


@dataclass(frozen=True)
class ExternalRef:
    tensor: TensorProto
    place: tuple  # where the tensor sits, as parts: described only when an error names it
    location: str
    raw_offset: str | None
    raw_length: str | None

    @property
    def where(self) -> str:
        """ "initializer", "node 'x' attribute value", "subgraph of 'loop': initializer"…"""
        return _describe(self.place)

    @property
    def offset(self) -> int:
        return _int(self.raw_offset, "offset", self.tensor.name) or 0

    @property
    def length(self) -> int | None:
        return _int(self.raw_length, "length", self.tensor.name)


def _describe(place: tuple) -> str:
    """The text of a place (prefix, node or None, attribute or a name, suffix). The walk builds
    tuples, not strings: only a refused location is ever described (docs/performance.md)."""
    prefix, node, what, suffix = place
    if node is None:
        return f"{prefix}{what}{suffix}"
    return f"{prefix}node '{node.name or node.op_type}' attribute {what.name}{suffix}"


def _entries(tensor: TensorProto) -> dict[str, str]:
    return {e.key: e.value for e in tensor.external_data}


def _int(value: str | None, what: str, name: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        number = int(value)
    except ValueError:
        raise InvalidModelError(f"tensor '{name}': external data {what} '{value[:40]}' is not an integer") from None
    if number < 0:
        raise InvalidModelError(f"tensor '{name}': external data {what} {number} is negative")
    return number


def _sparse(sparse, place: tuple):
    prefix, node, what, _ = place
    yield sparse.values, (prefix, node, what, " values")
    yield sparse.indices, (prefix, node, what, " indices")


def _tensors_of_nodes(nodes, where: str):
    """Every tensor a list of nodes holds in attributes (TENSOR, TENSORS, SPARSE_TENSOR(S)), their
    subgraphs included. Every field is read whatever the attribute's type names: a hostile file can
    set g and graphs, or t beside g. No depth limit is needed: protobuf parsing bounds the nesting."""
    for node in nodes:
        for attr in node.attribute:
            here = (where, node, attr, "")
            if attr.HasField("t"):
                yield attr.t, here
            for t in attr.tensors:
                yield t, here
            if attr.HasField("sparse_tensor"):
                yield from _sparse(attr.sparse_tensor, here)
            for sparse in attr.sparse_tensors:
                yield from _sparse(sparse, here)
            if attr.HasField("g"):
                yield from _tensors_of_graph(attr.g, f"{where}subgraph of '{node.name or node.op_type}': ")
            for sub in attr.graphs:
                yield from _tensors_of_graph(sub, f"{where}subgraph of '{node.name or node.op_type}': ")


def _tensors_of_graph(graph, where: str):
    here = (where, None, "initializer", "")
    for t in graph.initializer:
        yield t, here
    for sparse in graph.sparse_initializer:
        yield from _sparse(sparse, (where, None, "sparse initializer", ""))
    if where or _may_hold_external(graph.node):
        yield from _tensors_of_nodes(graph.node, where)


_EXTERNAL_MARK = bytes([14 << 3, TensorProto.EXTERNAL])  # TensorProto field 14 (data_location) = EXTERNAL


def _may_hold_external(nodes) -> bool:
    """Whether a tensor anywhere in these nodes (attributes, subgraphs, at any depth) can be
    external. protobuf writes what it serializes canonically (minimal varints), so such a tensor
    shows these two bytes in the nodes' serialization, whatever encoding the file used; their
    absence proves there is none. Serializing the nodes in C is cheaper than reading their
    attributes from Python (docs/performance.md); two bytes found by chance (a name, an
    attribute's value) only mean the attributes are read as before."""
    return any(_EXTERNAL_MARK in node.SerializeToString() for node in nodes)


def _all_tensors(model: ModelProto):
    """Every TensorProto the model can hold (with its place): the main graph, every subgraph,
    every local function's body (and its subgraphs), the training info."""
    yield from _tensors_of_graph(model.graph, "")
    for function in model.functions:
        yield from _tensors_of_nodes(function.node, f"function '{function.name}': ")
    for info in model.training_info:
        yield from _tensors_of_graph(info.initialization, "training_info initialization: ")
        yield from _tensors_of_graph(info.algorithm, "training_info algorithm: ")


def external_refs(model: ModelProto) -> list[ExternalRef]:
    """Every tensor stored as external data, wherever it sits in the model."""
    refs = []
    for tensor, place in _all_tensors(model):
        if tensor.data_location != TensorProto.EXTERNAL:
            continue
        entries = _entries(tensor)
        refs.append(
            ExternalRef(tensor, place, entries.get("location", ""), entries.get("offset"), entries.get("length"))
        )
    return refs


def check_all(model: ModelProto, folder: Path | None) -> list[Path]:
    """Every external-data location of the model, checked without opening any file: an absolute
    path, `..`, a symbolic link or a hard-linked file is refused (UnsafeExternalDataError, exit 4).
    A missing file is no error here: counting needs only the tensors' dims. Returns the distinct
    files the locations name, in the order first named."""
    if folder is None:
        return []
    locations = _Locations(folder)
    locations.check_all(external_refs(model))
    return [path for path, _ in locations.seen.values()]


class _Locations:
    """Each distinct location resolved and stat'ed once: a large export points every tensor into
    one file (docs/performance.md). The first tensor naming a location is
    the one an error names, as when every tensor was checked on its own."""

    def __init__(self, folder: Path):
        self.root = folder.resolve()
        self.seen: dict[str, tuple[Path, os.stat_result | None]] = {}

    def check_all(self, refs: list[ExternalRef]) -> None:
        for ref in refs:
            path, st = self.path(ref)
            if st is not None and stat.S_ISREG(st.st_mode) and st.st_nlink > 1:
                raise UnsafeExternalDataError(
                    f"tensor '{ref.tensor.name}' ({ref.where}): external data file "
                    f"'{ref.location}' has other hard links, which may lead outside the "
                    "model's folder; refused"
                )

    def path(self, ref: ExternalRef) -> tuple[Path, os.stat_result | None]:
        """The checked path behind a reference and its lstat (None when missing)."""
        known = self.seen.get(ref.location)
        if known is None:
            path = _checked(ref, self.root)
            try:
                st = os.lstat(path)
            except OSError:
                st = None
            known = self.seen[ref.location] = (path, st)
        return known


def check_external(ref: ExternalRef, folder: Path | None) -> Path:
    """The file behind a reference, proven to lie inside `folder`; refused otherwise, unopened."""
    if folder is None:
        raise UnsafeExternalDataError(
            f"tensor '{ref.tensor.name}' ({ref.where}): external data of an in-memory "
            "model has no folder to be read from"
        )
    return _checked(ref, folder.resolve())


def _checked(ref: ExternalRef, root: Path) -> Path:
    """check_external against a folder already resolved (once per model, not once per tensor)."""
    where = f"tensor '{ref.tensor.name}' ({ref.where})"
    location = ref.location
    if not location or "\x00" in location:
        raise UnsafeExternalDataError(f"{where}: external data has no valid location")
    if os.path.isabs(location) or location.startswith(("\\", "/")) or (len(location) > 1 and location[1] == ":"):
        raise UnsafeExternalDataError(
            f"{where}: external data location '{location}' is an absolute path; "
            "only files inside the model's folder are read"
        )
    parts = Path(location.replace("\\", "/")).parts
    if ".." in parts:
        raise UnsafeExternalDataError(f"{where}: external data location '{location}' leaves the model's folder")
    candidate = root.joinpath(*parts)
    real = Path(_realpath(candidate, where, location))
    if real != candidate or root not in real.parents:
        raise UnsafeExternalDataError(
            f"{where}: external data location '{location}' is behind a symbolic link "
            "that leaves or bypasses the model's folder"
        )
    return real


def _realpath(candidate: Path, where: str, location: str) -> str:
    """The path with every link resolved; a missing file is no error (counting needs only dims),
    a link that loops is refused: it names no file at all, and a link is refused anyway."""
    try:
        return os.path.realpath(candidate, strict=True)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafeExternalDataError(
                f"{where}: external data location '{location}' is a symbolic link loop; refused"
            ) from None
        return os.path.realpath(candidate)


def load_external(model: ModelProto, folder: Path | None) -> None:
    """Reads every external tensor's bytes into the model, after checking each location and size;
    each file is checked, stat'ed and opened once however many tensors point into it."""
    refs = external_refs(model)
    if not refs:
        return
    if folder is None:
        check_external(refs[0], None)  # refused: an in-memory model has no folder
        return
    locations = _Locations(folder)
    files: dict[str, int] = {}
    try:
        for ref in refs:
            path, st = locations.path(ref)
            name = ref.tensor.name
            if st is None:
                raise InvalidModelError(f"tensor '{name}': external data file '{ref.location}' is missing")
            if not stat.S_ISREG(st.st_mode):
                raise InvalidModelError(f"tensor '{name}': external data '{ref.location}' is not a regular file")
            if st.st_nlink > 1:
                raise UnsafeExternalDataError(
                    f"tensor '{name}': external data file '{ref.location}' has other hard "
                    "links, which may lead outside the model's folder; refused"
                )
            offset = ref.offset
            length = ref.length if ref.length is not None else st.st_size - offset
            if offset > st.st_size or length > st.st_size - offset:
                raise InvalidModelError(
                    f"tensor '{name}': external data '{ref.location}' is {st.st_size:,} bytes, "
                    f"shorter than offset {offset:,} + length {length:,}"
                )
            needed = tensor_bytes(math.prod(ref.tensor.dims), ref.tensor.data_type)
            if needed is not None and length < needed:
                raise InvalidModelError(
                    f"tensor '{name}': external data holds {length:,} bytes, its dims need {needed:,}"
                )
            fd = files.get(ref.location)
            if fd is None:
                fd = files[ref.location] = _open_regular(path, ref)
            data = os.pread(fd, length, offset)
            if len(data) != length:
                raise InvalidModelError(f"tensor '{name}': external data '{ref.location}' ended early")
            ref.tensor.raw_data = data
            ref.tensor.data_location = TensorProto.DEFAULT
            del ref.tensor.external_data[:]
    finally:
        for fd in files.values():
            os.close(fd)


def _open_regular(path: Path, ref: ExternalRef) -> int:
    """A descriptor of the file, refused if it was swapped for a link or a non-regular file since its lstat."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise InvalidModelError(f"tensor '{ref.tensor.name}': external data '{ref.location}' is not a regular file")
    return fd
