"""The stages of a load (graph.model.load runs them top to bottom), each adding to one `Loading`:

    read → check_records → check_external → expand_functions → link → shapes → check_sizes
                                                                         ↘ verdict (taken when asked)

A forked helper (load/forked.py) may compute the first round of shape inference and onnx.checker's
verdict beside them; `ahead` is what it runs, with the same functions the stages call here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from onnx import ModelProto

from modelaudit.load import forked
from modelaudit.load.attributes import body_graphs
from modelaudit.load.checker import structural_check
from modelaudit.load.external import check_all, model_folder
from modelaudit.load.forked import Told
from modelaudit.load.heap import release
from modelaudit.load.initializers import Initializer, read_initializers
from modelaudit.load.inline import inline_functions
from modelaudit.load.reader import read_model_light
from modelaudit.load.wire import StrippedData
from modelaudit.shapes.infer import FirstRound, Plan, ShapeQuery, first_round, plan

from .checks import applicable, check_constants, check_overrides, check_structure
from .links import NodeView, has_graph, link, share_names, topological_order

__all__ = [
    "Loading",
    "SKELETON_BYTES",
    "read",
    "worth_forking",
    "check_records",
    "check_external",
    "expand_functions",
    "link_nodes",
    "plan_shapes",
    "first_shapes",
    "verdict",
    "ahead",
    "constant_indices",
]

SKELETON_BYTES = 256 << 20  # parsed bytes this small go to shape inference as they are


@dataclass
class Loading:
    """A model being loaded: what each stage has found so far."""

    model: ModelProto
    path: Path | None
    stripped: StrippedData | None  # big tensors whose bytes were left in the file
    data: bytes | None  # the bytes parsed, while they still describe the graph (inlining drops them)
    inputs: dict[str, tuple]  # --input and --dim: those that apply, once check_records has run
    dims: dict[str, int]
    strict: bool  # a flag naming what the model lacks is an error (else it is ignored: several models)
    inits: list[Initializer] | None = None  # check_records
    notes: list[str] = field(default_factory=list)  # what the flags fix that was fixed already
    data_files: list[Path] = field(default_factory=list)  # check_external: where external data lives
    views: list[NodeView] = field(default_factory=list)  # link_nodes: each node's fields read once
    edges: list[tuple[int, int]] = field(default_factory=list)
    producer: dict[str, int] = field(default_factory=dict)
    order: list[int] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    nested: bool | None = None  # a node has a subgraph: known once the views are built

    @cached_property
    def initializers(self) -> dict[str, Initializer]:
        """The initializer records by name (made once: the checks, the links and the graph share it)."""
        return {t.name: t for t in self.records()}

    def records(self) -> list[Initializer]:
        if self.inits is None:
            self.inits = read_initializers(self.model.graph)
        return self.inits

    @property
    def left_in_file(self) -> frozenset[str]:
        return frozenset(self.stripped.spans) if self.stripped is not None else frozenset()

    def query(self, nested=None) -> ShapeQuery:
        """What shape inference is asked of this model; `nested` where the views cannot tell yet."""
        skeleton = self.data if self.data is not None and len(self.data) <= SKELETON_BYTES else None
        nested = self.nested if nested is None else nested
        constants = constant_indices(self.views) if self.views else None
        return ShapeQuery(self.model, self.inputs, self.dims, self.inits, skeleton, nested, constants)


def read(source, inputs: dict | None, dims: dict | None, strict: bool) -> Loading:
    """The file read and parsed (load/reader.py), weight bytes left in it."""
    model, path, stripped, data = read_model_light(source)
    return Loading(model, path, stripped, data, dict(inputs or {}), dict(dims or {}), strict)


def worth_forking(loading: Loading) -> bool:
    """A model large enough for a helper process, and without local functions (the helper infers
    the graph as read; inlining changes it)."""
    return not loading.model.functions and len(loading.model.graph.node) >= forked.WORTH_NODES


def check_records(loading: Loading) -> None:
    """What no model can mean, refused (graph/checks.py); the --input and --dim flags that apply."""
    model, inits = loading.model, loading.records()
    check_structure(model, inits)
    initializers = loading.initializers
    if not loading.strict:
        loading.inputs, loading.dims = applicable(model, loading.inputs, loading.dims, initializers)
    loading.notes = check_overrides(model, loading.inputs, loading.dims, initializers)


def check_external(loading: Loading) -> None:
    """Every external-data location, checked without opening a file (load/external.py)."""
    data, path = loading.data, loading.path
    if data is None or b"location" in data:  # no external-data entry anywhere: nothing to check
        loading.data_files = check_all(loading.model, model_folder(path) if path is not None else None)


def expand_functions(loading: Loading) -> None:
    """Local functions inlined before shape inference, which would expand them itself, unbounded."""
    if inline_functions(loading.model):
        loading.data = None  # the parsed bytes no longer describe the graph


def link_nodes(loading: Loading) -> None:
    """Node views (one string per distinct name across them), the edges between them, a
    topological order; the Constant nodes' attributes checked."""
    model = loading.model
    views = loading.views = [NodeView(n) for n in model.graph.node]
    share_names(views)
    loading.nested = any(v.has_graph for v in views)
    check_constants(_constant_nodes(views, loading.nested))
    loading.edges, loading.producer = link(model.graph, nodes=views, init_names=loading.initializers)
    loading.order, unsorted = topological_order(loading.edges, views)
    if unsorted:
        loading.warnings.append("the file's node order is not topological; nodes were walked in topological order")


def plan_shapes(loading: Loading) -> Plan:
    """What every round of shape inference shares (shapes/infer.py), prepared from the views."""
    return plan(loading.query(), loading.views)


def first_shapes(prepared: Plan) -> FirstRound:
    """The first round of shape inference, as this process computes it (the helper did not)."""
    return first_round(prepared.query, prepared)


def verdict(loading: Loading) -> dict:
    """onnx.checker on the weightless model (load/checker.py); its C++ copy handed back once freed."""
    model = loading.model
    if loading.views:
        holders = [i for i, v in enumerate(loading.views) if v.op_type == "Constant" or v.has_graph]
    else:
        nodes = model.graph.node
        holders = [i for i, n in enumerate(nodes) if n.op_type == "Constant" or has_graph(n, n.op_type, n.domain)]
    found = structural_check(model, loading.data, loading.left_in_file, loading.inits, holders)
    release()
    return found


def ahead(loading: Loading, told: Told) -> Iterator:
    """What the forked helper hands back, in turn, from the file as read: the first round of shape
    inference, then onnx.checker's verdict. One C++ copy of the model at a time (the checker's is
    made once the inference's is freed); this process audits while the checker runs. Whether a
    node has a subgraph is asked once onnx has run: this process, which has built its views by
    then, tells it, and the helper reads no node for it (docs/performance.md)."""
    if loading.inputs or loading.dims:  # the flags that apply, as check_records finds them
        check_records(loading)

    def nested() -> bool:
        answer = told()
        return answer if answer is not None else _nested(loading.model)

    yield first_round(loading.query(nested))
    release()
    yield verdict(loading)


def _nested(model: ModelProto) -> bool:
    return any(has_graph(n, n.op_type, n.domain) for n in model.graph.node)


def constant_indices(views) -> list[int]:
    return [i for i, v in enumerate(views) if v.op_type == "Constant"]


def _constant_nodes(views, nested: bool) -> list:
    """Every Constant node, those of subgraphs at any depth included."""
    found = [views[i] for i in constant_indices(views)]
    bodies = [g for v in views if v.has_graph for _, g in body_graphs(v.proto)] if nested else []
    while bodies:
        for node in bodies.pop().node:
            if node.op_type == "Constant":
                found.append(node)
            bodies.extend(g for _, g in body_graphs(node))
    return found
