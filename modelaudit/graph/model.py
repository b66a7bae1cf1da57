"""Safe loading of an ONNX file into a ModelGraph: networkx DAG, topological order, shapes."""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cached_property, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from onnx import ModelProto

from modelaudit.load import forked
from modelaudit.load.attributes import body_graphs
from modelaudit.load.checker import structural_check
from modelaudit.load.dtypes import tensor_bytes
from modelaudit.load.external import check_all, model_folder
from modelaudit.load.forked import fork_call
from modelaudit.load.heap import release
from modelaudit.load.initializers import Initializer, read_initializers
from modelaudit.load.inline import inline_functions
from modelaudit.load.reader import read_model_light
from modelaudit.load.wire import StrippedData
from modelaudit.shapes.infer import TensorInfo, first_round, infer
from modelaudit.shapes.tensor import pack_infos, unpack_infos

from .checks import applicable, check_constants, check_overrides, check_sizes, check_structure
from .links import (
    NodeView,
    dag_of,
    has_graph,
    link,
    share_names,
    topological_order,
)

if TYPE_CHECKING:
    import networkx as nx

__all__ = ["ModelGraph", "Verdict", "load", "with_dims"]


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
    data_files: list[Path] = field(default_factory=list)  # where its external data lives (checked, never opened)
    verdict: Verdict | None = None  # onnx.checker's verdict on the weightless model (load/checker.py)
    _nbytes: dict = field(default_factory=dict, repr=False)

    @property
    def checker(self) -> dict | None:
        """onnx.checker's verdict: {"valid", "full_check", "error"}, waited for when first asked
        (a forked child may still be computing it)."""
        return None if self.verdict is None else self.verdict.get()

    @cached_property
    def dag(self) -> nx.DiGraph:
        """The top-level nodes as a networkx DiGraph, built when first asked for: the audit itself
        walks `order` and needs no graph object (a third of a second on 50,000 nodes)."""
        return dag_of(len(self.views), self.edges)

    @property
    def nodes(self):
        """The top-level nodes as NodeViews, in file order."""
        return self.views

    @property
    def folder(self) -> Path | None:
        """The model's own folder: the only place external data may be read from."""
        return model_folder(self.path) if self.path is not None else None

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
    """Bytes of a fully known shape: most tensors share their shape and dtype with many others. A
    dim below 0 (a hostile Reshape or ConstantOfShape) is no size: None, never a negative count."""
    if shape is None or not all(d.__class__ is int and d >= 0 for d in shape):
        return None
    return tensor_bytes(math.prod(shape), dtype)


SKELETON_BYTES = 256 << 20  # parsed bytes this small go to shape inference as they are


def load(
    source: str | os.PathLike | ModelProto,
    inputs: dict[str, tuple] | None = None,
    dims: dict[str, int] | None = None,
    strict: bool = True,
    fork: bool = False,
    meanwhile: Callable[[ModelGraph], object] | None = None,
) -> ModelGraph:
    """Loads and checks a model, builds its DAG and infers every tensor's shape. With
    `strict=False`, input and dim names the model lacks are ignored (one flag, several models).
    With `fork`, a large model's first round of shape inference runs in a forked child while this
    process checks and links the model (load/forked.py; the command line's choice); `meanwhile`
    is then called, with the model as a ModelGraph whose shapes are not known yet, once this
    process has nothing left to do but wait for the child (the command line imports the audit's
    modules there, cli.common.warm, and walks the weights, costs.analyze.prepare)."""
    inputs, dims = dict(inputs or {}), dict(dims or {})
    model, path, stripped, data = read_model_light(source)
    skeleton = data if data is not None and len(data) <= SKELETON_BYTES else None
    fork = fork and not model.functions and len(model.graph.node) >= forked.WORTH_NODES
    # with no --input or --dim, the child needs nothing more than the parsed file: it starts now
    nested = forked.Note() if fork else None  # whether a node has a subgraph: the views will tell
    job = (
        fork_call(lambda: _in_child(model, stripped, data, {}, {}, skeleton, nested))
        if fork and not inputs and not dims
        else None
    )
    try:
        inits = read_initializers(model.graph)
        check_structure(model, inits)
        initializers = {t.name: t for t in inits}
        if not strict:
            inputs, dims = applicable(model, inputs, dims, initializers)
        notes = check_overrides(model, inputs, dims, initializers)
        if fork and job is None:
            job = fork_call(lambda: _in_child(model, stripped, data, inputs, dims, skeleton, nested, inits))
        loaded = _finish(
            model, path, stripped, data, inputs, dims, inits, initializers, skeleton, job, meanwhile, nested
        )
        loaded.warnings.extend(notes)
        return loaded
    except BaseException:
        if job is not None:
            job.cancel()  # the load failed: stop the child
        raise


class Verdict:
    """onnx.checker's verdict, computed now, or by a forked child and taken when first asked for
    (the child runs the checker after its shape inference while this process audits; if it fails,
    the verdict is computed here then). Copies of a ModelGraph share it."""

    def __init__(self, job=None, compute=None, value: dict | None = None):
        self._job, self._compute, self._value = job, compute, value

    def get(self) -> dict:
        if self._value is None:
            value = self._job.result() if self._job is not None else None
            if self._job is not None:
                self._job.cancel()  # reaped: it has nothing more to hand back
            self._value = value if value is not None else self._compute()
            self._job = self._compute = None
        return self._value


def _in_child(model, stripped, data, inputs, dims, skeleton, nested, inits=None):
    """What the forked child hands back, in turn: the first round of shape inference, then
    onnx.checker's verdict. One C++ copy of the model at a time (the checker's is made after the
    inference's is freed), and the parent audits while the checker runs. The checker's weightless
    copy is made from the file's bytes (load/checker.py), so the pages of the child's parsed model
    stay shared with the parent's; where a node holds a weight, its stand-ins are put into that
    copy-on-write image, not into a second copy."""

    def has_subgraphs() -> bool:  # asked once onnx has run: the parent has built its views by then
        told = nested.read()
        return told if told is not None else _nested(model)

    infos, warnings = first_round(model, inputs, dims, has_subgraphs, None, skeleton, inits)
    packed = pack_infos(infos)
    del infos
    yield packed, warnings
    del packed
    release()
    nodes = model.graph.node
    yield _check(
        model,
        stripped,
        data,
        inits,
        [n.op_type for n in nodes],
        lambda i: has_graph(nodes[i], nodes[i].op_type, nodes[i].domain),
        in_place=True,
    )


def _check(model, stripped, data, inits, op_types, holds_graph, in_place: bool = False) -> dict:
    """onnx.checker on the weightless model: the bytes left in the file (or in external data)
    stand in empty, so the checker reads no weight. Its C++ copy of the model is handed back to
    the system once freed (load/heap.py)."""
    left = frozenset(stripped.spans) if stripped is not None else frozenset()
    verdict = structural_check(
        model,
        left,
        weightless=stripped is not None or data is None or b"location" in data,
        serialized=data,
        holders=[i for i, op in enumerate(op_types) if op == "Constant" or holds_graph(i)],
        candidates=None if inits is None else [i for i, t in enumerate(inits) if t.external or t.name in left],
        in_place=in_place,
    )
    release()
    return verdict


def _nested(model: ModelProto) -> bool:
    """Whether a top-level node has a subgraph, as the NodeViews will say, without building them
    (a child that forked before its parent built them, and was not told)."""
    return any(has_graph(n, n.op_type, n.domain) for n in model.graph.node)


def _finish(
    model, path, stripped, data, inputs, dims, inits, initializers, skeleton, job, meanwhile, nested
) -> ModelGraph:
    data_files = []
    if data is None or b"location" in data:  # no external-data entry anywhere: nothing to check
        data_files = check_all(model, model_folder(path) if path is not None else None)
    if inline_functions(model):  # before shape inference, which would expand them itself, unbounded
        data = skeleton = None  # the parsed bytes no longer describe the graph
    views = [NodeView(n) for n in model.graph.node]
    if job is not None:  # a child infers the shapes meanwhile: this process has the time to save memory
        share_names(views)
    has_subgraphs = any(v.has_graph for v in views)
    check_constants(_constant_nodes(views, has_subgraphs))
    if nested is not None:
        nested.tell(has_subgraphs)  # the child asks after its inference (30 ms of its own otherwise)

    def check() -> dict:
        return _check(model, stripped, data, inits, [v.op_type for v in views], lambda i: views[i].has_graph)

    verdict = Verdict(value=check()) if job is None else None
    edges, producer = link(model.graph, nodes=views, init_names=initializers)
    order, unsorted = topological_order(edges, views)
    warnings = []
    if unsorted:
        warnings.append("the file's node order is not topological; nodes were walked in topological order")
    opsets = {
        ("" if o.domain == "ai.onnx" else o.domain): o.version for o in model.opset_import if o.domain.__class__ is str
    }
    if not model.opset_import:
        opsets[""] = 1  # IR version 2 models carry no opset_import; they mean opset 1

    def graph(shapes=None, verdict=None) -> ModelGraph:
        return ModelGraph(
            model=model,
            path=path,
            edges=edges,
            order=order,
            producer=producer,
            tensors=shapes.tensors if shapes is not None else {},
            values=shapes.values if shapes is not None else {},
            initializers=initializers,
            opsets=opsets,
            inputs=[vi.name for vi in model.graph.input if vi.name not in initializers],
            outputs=[vi.name for vi in model.graph.output],
            warnings=warnings,
            views=views,
            weights_in_file=stripped,
            data_files=data_files,
            verdict=verdict,
        )

    if job is not None and meanwhile is not None:
        meanwhile(graph())  # the model without its shapes: what needs none can be done while the child infers
    taken = []

    def first() -> tuple | None:  # asked for by infer once it has prepared the rest
        done = job.result()
        taken.append(done is not None)
        return None if done is None else (unpack_infos(done[0]), done[1])

    shapes = infer(
        model,
        order,
        inputs,
        dims,
        nested=has_subgraphs,
        constants=_constants(views),
        views=views,
        skeleton_bytes=skeleton,
        inits=inits,
        first=first if job is not None else None,
    )
    if job is not None:  # the child's checker verdict comes next; if it failed, this process computes it
        verdict = Verdict(job, check) if taken[0] else Verdict(value=check())
    del skeleton
    check_sizes(shapes.tensors)
    warnings.extend(shapes.warnings)
    return graph(shapes, verdict)


def _constants(views) -> list[int]:
    return [i for i, v in enumerate(views) if v.op_type == "Constant"]


def _constant_nodes(views, has_subgraphs: bool) -> list:
    """Every Constant node, those of subgraphs at any depth included."""
    found = [views[i] for i in _constants(views)]
    bodies = [g for v in views if v.has_graph for _, g in body_graphs(v.proto)] if has_subgraphs else []
    while bodies:
        for node in bodies.pop().node:
            if node.op_type == "Constant":
                found.append(node)
            bodies.extend(g for _, g in body_graphs(node))
    return found


def with_dims(
    mg: ModelGraph, inputs: dict[str, tuple] | None = None, dims: dict[str, int] | None = None, strict: bool = True
) -> ModelGraph:
    """The same model at other input shapes and dims: the parse, the checks, the node views and
    the links are the loaded model's; only shape inference runs again (--symbolic's grid, --sweep's
    values, --decode's phases). `strict` as load's."""
    inputs, dims = dict(inputs or {}), dict(dims or {})
    if not strict:
        inputs, dims = applicable(mg.model, inputs, dims, mg.initializers)
    notes = check_overrides(mg.model, inputs, dims, mg.initializers)
    shapes = infer(
        mg.model,
        mg.order,
        inputs,
        dims,
        nested=any(v.has_graph for v in mg.views),
        constants=_constants(mg.views),
        views=mg.views,
        inits=list(mg.initializers.values()),
    )
    check_sizes(shapes.tensors)
    warnings = [w for w in mg.warnings[:1] if "not topological" in w] + shapes.warnings + notes
    return replace(mg, tensors=shapes.tensors, values=shapes.values, warnings=warnings, _nbytes={})
