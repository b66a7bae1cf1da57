"""Safe loading of an ONNX file into a ModelGraph: networkx DAG, topological order, shapes."""

from __future__ import annotations

import math
import os
import stat
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import NamedTuple

import networkx as nx
import numpy as np
from google.protobuf.message import DecodeError
from onnx import AttributeProto, GraphProto, ModelProto, NodeProto, TensorProto
from onnx import defs as onnx_defs

from modelaudit.errors import InvalidModelError, UsageError
from modelaudit.load.dtypes import tensor_bytes
from modelaudit.load.external import check_all
from modelaudit.load.initializers import Initializer, read_initializers
from modelaudit.load.wire import StrippedData, WireError, strip_weights
from modelaudit.shapes.infer import TensorInfo, infer

__all__ = ["ModelGraph", "NodeView", "load", "read_model", "link", "topological_order", "MAX_PROTO_BYTES"]

MAX_PROTO_BYTES = 2**31 - 1  # protobuf cannot hold a message of 2 GiB or more
_LFS_MAGIC = b"version https://git-lfs"


@dataclass
class ModelGraph:
    """The model's nodes as a DAG (edges are tensors), in topological order, with tensor shapes."""

    model: ModelProto
    path: Path | None
    edges: list[tuple[int, int]]  # (u, v): node v reads a tensor node u writes
    order: list[int]
    producer: dict[str, int]
    tensors: dict[str, TensorInfo]
    values: dict[str, np.ndarray]
    initializers: dict[str, Initializer]
    opsets: dict[str, int]
    inputs: list[str]
    outputs: list[str]
    warnings: list[str] = field(default_factory=list)

    views: list = field(default_factory=list)
    weights_in_file: StrippedData | None = None  # big tensors whose bytes were left in the file
    _nbytes: dict = field(default_factory=dict, repr=False)

    @cached_property
    def dag(self) -> nx.DiGraph:
        """The top-level nodes as a networkx DiGraph, built when first asked for: the audit itself
        walks `order` and needs no graph object (a third of a second on 50,000 nodes)."""
        return _dag(len(self.views), self.edges)

    @property
    def nodes(self):
        """The top-level nodes as NodeViews, in file order."""
        return self.views

    @property
    def folder(self) -> Path | None:
        """The model's own folder: the only place external data may be read from."""
        return self.path.resolve().parent if self.path is not None else None

    def opset(self, domain: str) -> int:
        return self.opsets.get("" if domain == "ai.onnx" else domain, 0)

    def info(self, name: str) -> TensorInfo | None:
        return self.tensors.get(name)

    def nbytes(self, name: str) -> int | None:
        """Bytes of a tensor whose shape and dtype are known (each computed once)."""
        cache = self._nbytes
        if name in cache:
            return cache[name]
        info = self.tensors.get(name)
        size = cache[name] = None if info is None else _bytes_of(info.shape, info.dtype)
        return size


@lru_cache(maxsize=4096)
def _bytes_of(shape: tuple | None, dtype: int) -> int | None:
    """Bytes of a fully known shape: most tensors share their shape and dtype with many others."""
    if shape is None or not all(d.__class__ is int for d in shape):
        return None
    return tensor_bytes(math.prod(shape), dtype)


SKELETON_BYTES = 256 << 20  # parsed bytes this small go to shape inference as they are


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
            "save the weights as external data: onnx.save(model, path, save_as_external_data=True)")
    stripped = None
    try:
        with open(path, "rb") as fh:
            head = fh.read(512)
            _sniff(path, head)
            if not full:
                data, stripped = strip_weights(path)
            else:
                data = head + fh.read()
    except OSError as exc:
        raise UsageError(f"{path}: cannot be read ({exc.strerror})") from None
    except WireError:
        raise InvalidModelError(f"{path}: is not a valid ONNX model (protobuf parse failed: "
                                "the file is corrupt, truncated or of another type)") from None
    model = ModelProto()
    try:
        model.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError):
        raise InvalidModelError(f"{path}: is not a valid ONNX model (protobuf parse failed: "
                                "the file is corrupt, truncated or of another type)") from None
    if not model.HasField("graph") or (not model.graph.node and not model.graph.output):
        raise InvalidModelError(f"{path}: is not an ONNX model (it holds no graph)")
    return Loaded(model, path, stripped if stripped is not None and stripped.count else None, data)


def _sniff(path: Path, data: bytes) -> None:
    head = data.lstrip()
    if head.startswith(_LFS_MAGIC):
        raise InvalidModelError(f"{path}: is a Git LFS pointer, not the model", "run git lfs pull")
    lowered = head[:64].lower()
    if lowered.startswith((b"<!doctype", b"<html", b"<?xml", b"<head", b"<body")):
        raise InvalidModelError(f"{path}: is an HTML/XML page, not an ONNX model",
                                "download the raw file, not the web page that shows it")


class NodeView:
    """A node's fields read once from protobuf (each protobuf field read is slow from Python);
    it answers like a NodeProto for op_type, domain, name, input, output and attribute."""

    __slots__ = ("op_type", "domain", "name", "input", "output", "proto", "has_graph")

    def __init__(self, proto: NodeProto):
        self.proto = proto
        self.op_type = op_type = proto.op_type
        self.domain = domain = proto.domain
        self.name = name = proto.name
        self.input = inputs = proto.input[:]  # a list: slicing is the cheapest copy protobuf offers
        self.output = outputs = proto.output[:]
        try:  # protobuf hands back bytes for invalid UTF-8; joining str with bytes raises TypeError
            op_type + domain + name + "".join(inputs) + "".join(outputs)
        except TypeError:
            raise InvalidModelError(f"node '{_printable(name)}' ({_printable(op_type)}) has a name, op or "
                                    "tensor name that is not valid UTF-8") from None
        # a standard op has subgraphs only where its schema says so; other ops tell by their attributes
        declared = _STANDARD_SUBGRAPHS.get(op_type, _UNSEEN) if domain == "" or domain == "ai.onnx" else None
        if declared is _UNSEEN:
            declared = _schema_has_graph(op_type)
        self.has_graph = declared if declared is not None else bool(len(proto.attribute)) and any(
            a.type in (AttributeProto.GRAPH, AttributeProto.GRAPHS) for a in proto.attribute)

    @property
    def attribute(self):
        return self.proto.attribute


_UNSEEN = object()
_STANDARD_SUBGRAPHS: dict[str, bool | None] = {}  # ai.onnx op -> its schema has a graph attribute (None: no schema)


def _schema_has_graph(op_type: str) -> bool | None:
    """Whether the ai.onnx op's newest schema declares a graph attribute (If, Loop, Scan,
    SequenceMap); None for an op onnx does not know. Asked once per op type."""
    try:
        schema = onnx_defs.get_schema(op_type, "")
    except onnx_defs.SchemaError:
        declared = None
    else:
        declared = any(attr.type in (AttributeProto.GRAPH, AttributeProto.GRAPHS) for attr in schema.attributes.values())
    _STANDARD_SUBGRAPHS[op_type] = declared
    return declared


def _printable(text) -> str:
    return text.decode("utf-8", "replace") if isinstance(text, bytes) else text


def _node_label(node, index: int) -> str:
    return f"#{index} {node.op_type} '{node.name}'" if node.name else f"#{index} {node.op_type}"


def _defined(graph: GraphProto, init_names=None) -> set[str]:
    defined = {t.name for t in graph.initializer} if init_names is None else set(init_names)
    defined.update(vi.name for vi in graph.input)
    defined.update(t.values.name for t in graph.sparse_initializer)
    return defined


def _dag(count: int, edges: list[tuple[int, int]]) -> nx.DiGraph:
    dag = nx.DiGraph()
    dag.add_nodes_from(range(count))
    dag.add_edges_from(edges)
    return dag


def link(graph: GraphProto, outer=frozenset(), nodes=None, init_names=None) -> tuple[list[tuple[int, int]], dict[str, int]]:
    """(edges, producer) of one graph's nodes: an edge (u, v) means node v reads a tensor node u
    writes. Refuses tensors produced twice or never defined. `outer` holds the names an enclosing
    graph makes visible to a subgraph; `nodes` may give NodeViews of graph.node."""
    nodes = graph.node if nodes is None else nodes
    defined = _defined(graph, init_names)
    producer: dict[str, int] = {}
    for index, node in enumerate(nodes):
        if node.output and not any(node.output):
            raise InvalidModelError(f"node {_node_label(node, index)} has only empty output names")
        for name in node.output:
            if not name:
                continue
            if name in producer:
                raise InvalidModelError(
                    f"tensor '{name}' is produced twice: by {_node_label(nodes[producer[name]], producer[name])} "
                    f"and by {_node_label(node, index)}")
            producer[name] = index
    edges = []
    for index, node in enumerate(nodes):
        for name in node.input:
            if not name:
                continue
            source = producer.get(name)
            if source is not None:
                edges.append((source, index))
            elif name not in defined and name not in outer:
                raise InvalidModelError(
                    f"node {_node_label(node, index)} reads tensor '{name}', which no node, initializer "
                    "or graph input defines (the file is truncated or inconsistent)")
    for vi in graph.output:
        if vi.name not in producer and vi.name not in defined and vi.name not in outer:
            raise InvalidModelError(f"graph output '{vi.name}' is never produced (the file is truncated or inconsistent)")
    return edges, producer


def topological_order(edges: list[tuple[int, int]], nodes) -> tuple[list[int], bool]:
    """Deterministic topological order of `nodes` (the file's where it is one) and whether the file
    was unsorted."""
    if all(u < v for u, v in edges):  # the common case, checked in O(edges): no sort needed
        return list(range(len(nodes))), False
    dag = _dag(len(nodes), edges)
    try:
        order = list(nx.lexicographical_topological_sort(dag))
    except nx.NetworkXUnfeasible:
        cycle = nx.find_cycle(dag)
        members = ", ".join(_node_label(nodes[u], u) for u, _ in cycle[:4])
        more = " …" if len(cycle) > 4 else ""
        raise InvalidModelError(f"the graph has a cycle through {members}{more}") from None
    return order, True


def _check_structure(model: ModelProto, inits: list[Initializer] | None = None) -> None:
    """What onnx itself would accept but no model can mean: clear errors, nodes named by index."""
    graph = model.graph
    inits = read_initializers(graph) if inits is None else inits
    for what, items in (("initializer", inits), ("graph input", graph.input),
                        ("graph output", graph.output), ("value_info", graph.value_info)):
        for item in items:
            if isinstance(item.name, bytes):
                raise InvalidModelError(f"a {what} name is not valid UTF-8: {_printable(item.name)!r}")
    seen: set[str] = set()
    for t in inits:
        if t.name in seen:
            raise InvalidModelError(f"initializer '{t.name}' is defined twice")
        seen.add(t.name)
        if t.dims and min(t.dims) < 0:
            raise InvalidModelError(f"initializer '{t.name}' has a negative dim {list(t.dims)}")
    for i, vi in enumerate(graph.input):
        if not vi.name:
            raise InvalidModelError(f"graph input #{i} has no name")
    calls = nx.DiGraph()
    for f in model.functions:
        for node in f.node:
            calls.add_edge((f.domain, f.name), (node.domain, node.op_type))
    known = {(f.domain, f.name) for f in model.functions}
    try:
        cycle = nx.find_cycle(calls.subgraph(known))
    except nx.NetworkXNoCycle:
        return
    path = " → ".join(f"{d}::{n}" for (d, n), _ in cycle) + f" → {cycle[0][0][0]}::{cycle[0][0][1]}"
    raise InvalidModelError(f"local function {cycle[0][0][0]}::{cycle[0][0][1]} calls itself ({path}); "
                            "local functions must not be recursive")


def _input_names(model: ModelProto, init_names=None) -> tuple[list, set[str]]:
    init_names = {t.name for t in model.graph.initializer} if init_names is None else init_names
    real = [vi for vi in model.graph.input if vi.name not in init_names]
    params = {d.dim_param for vi in real for d in vi.type.tensor_type.shape.dim if d.HasField("dim_param")}
    return real, params


def _applicable(model: ModelProto, inputs: dict, dims: dict, init_names=None) -> tuple[dict, dict]:
    real, params = _input_names(model, init_names)
    names = {vi.name for vi in real}
    return {k: v for k, v in inputs.items() if k in names}, {k: v for k, v in dims.items() if k in params}


def _check_overrides(model: ModelProto, inputs: dict[str, tuple], dims: dict[str, int], init_names=None) -> None:
    real, params = _input_names(model, init_names)
    names = [vi.name for vi in real]
    for name, shape in inputs.items():
        if name not in names:
            raise UsageError(f"--input {name}: the model has no input named '{name}'",
                             f"its inputs are: {', '.join(names) or 'none'}")
        vi = real[names.index(name)]
        declared = vi.type.tensor_type.shape.dim if vi.type.tensor_type.HasField("shape") else None
        if declared is not None and len(declared) and len(declared) != len(shape):
            raise UsageError(f"--input {name}: the model declares rank {len(declared)}, "
                             f"the flag gives rank {len(shape)}")
        for axis, (d, value) in enumerate(zip(declared or [], shape)):
            if d.HasField("dim_value") and d.dim_value != value:
                raise UsageError(f"--input {name}: dim {axis} is fixed to {d.dim_value} by the model, "
                                 f"the flag gives {value}")
    for name in dims:
        if name not in params:
            raise UsageError(f"--dim {name}: no input has a dim named '{name}'",
                             f"named dims: {', '.join(sorted(params)) or 'none'}")


def load(source: str | os.PathLike | ModelProto, inputs: dict[str, tuple] | None = None,
         dims: dict[str, int] | None = None, strict: bool = True) -> ModelGraph:
    """Loads and checks a model, builds its DAG and infers every tensor's shape. With
    `strict=False`, input and dim names the model lacks are ignored (one flag, several models)."""
    inputs, dims = dict(inputs or {}), dict(dims or {})
    model, path, stripped, data = read_model_light(source)
    inits = read_initializers(model.graph)
    _check_structure(model, inits)
    initializers = {t.name: t for t in inits}
    if data is None or b"location" in data:  # no external-data entry anywhere: nothing to check
        check_all(model, path.resolve().parent if path is not None else None)
    if not strict:
        inputs, dims = _applicable(model, inputs, dims, initializers)
    _check_overrides(model, inputs, dims, initializers)
    views = [NodeView(n) for n in model.graph.node]
    edges, producer = link(model.graph, nodes=views, init_names=initializers)
    order, unsorted = topological_order(edges, views)
    warnings = []
    if unsorted:
        warnings.append("the file's node order is not topological; nodes were walked in topological order")
    shapes = infer(model, order, inputs, dims, nested=any(v.has_graph for v in views),
                   constants=[i for i, v in enumerate(views) if v.op_type == "Constant"], views=views,
                   skeleton_bytes=data if data is not None and len(data) <= SKELETON_BYTES else None,
                   inits=inits)
    del data
    warnings.extend(shapes.warnings)
    opsets = {("" if o.domain == "ai.onnx" else o.domain): o.version for o in model.opset_import
              if o.domain.__class__ is str}
    if not model.opset_import:
        opsets[""] = 1  # IR version 2 models carry no opset_import; they mean opset 1
    return ModelGraph(
        model=model,
        path=path,
        edges=edges,
        order=order,
        producer=producer,
        tensors=shapes.tensors,
        values=shapes.values,
        initializers=initializers,
        opsets=opsets,
        inputs=[vi.name for vi in model.graph.input if vi.name not in initializers],
        outputs=[vi.name for vi in model.graph.output],
        warnings=warnings,
        views=views,
        weights_in_file=stripped,
    )

