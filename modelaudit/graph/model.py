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

from modelaudit.load.dtypes import tensor_bytes
from modelaudit.load.external import model_folder
from modelaudit.load.forked import Helper
from modelaudit.load.initializers import Initializer
from modelaudit.load.wire import StrippedData
from modelaudit.shapes.infer import ShapeQuery, ShapeResult, TensorInfo, infer, refine

from .checks import applicable, check_overrides, check_sizes
from .links import dag_of
from .loading import (
    Loading,
    ahead,
    check_external,
    check_records,
    constant_indices,
    expand_functions,
    first_shapes,
    link_nodes,
    plan_shapes,
    read,
    verdict,
    worth_forking,
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
        walks `order` and needs no graph object (docs/performance.md)."""
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


def load(
    source: str | os.PathLike | ModelProto,
    inputs: dict[str, tuple] | None = None,
    dims: dict[str, int] | None = None,
    strict: bool = True,
    fork: bool = False,
    meanwhile: Callable[[ModelGraph], object] | None = None,
) -> ModelGraph:
    """Loads and checks a model, builds its DAG and infers every tensor's shape, in the stages of
    graph/loading.py. With `strict=False`, input and dim names the model lacks are ignored (one
    flag, several models). With `fork` (the command line's choice), a forked helper computes the
    first round of shape inference and onnx.checker's verdict while this process checks and links
    the model (load/forked.py). `meanwhile` is called with the model as a ModelGraph whose shapes
    are not known yet, before shape inference (the command line imports the audit's modules there,
    cli.common.warm, and walks the weights, costs.analyze.prepare: while a helper infers the
    shapes, these leave the critical path)."""
    loading = read(source, inputs, dims, strict)
    helper = Helper.start(lambda told: ahead(loading, told), worth=fork and worth_forking(loading))
    try:
        check_records(loading)
        check_external(loading)
        expand_functions(loading)
        link_nodes(loading)
        helper.tell(bool(loading.nested))  # the helper asks once its inference has run
        checked = Verdict(helper, lambda: verdict(loading))
        if meanwhile is not None:
            meanwhile(_graph(loading))
        prepared = plan_shapes(loading)
        shapes = refine(prepared, helper.take(lambda: first_shapes(prepared)), loading.order)
        check_sizes(shapes.tensors)
    except BaseException:
        helper.close()  # the load failed: stop the helper
        raise
    return _graph(loading, shapes, checked)


class Verdict:
    """onnx.checker's verdict: computed now, or, where the forked helper computes it (after its
    first round of shape inference, while this process audits), taken when first asked for; where
    the helper failed, computed here then. Copies of a ModelGraph share it."""

    def __init__(self, helper: Helper, compute: Callable[[], dict]):
        self._value = None if helper.forked else compute()  # no helper: now, before the audit's records exist
        self._take = lambda: helper.last(compute)

    def get(self) -> dict:
        if self._value is None:
            self._value = self._take()
        return self._value


def _graph(loading: Loading, shapes: ShapeResult | None = None, checked: Verdict | None = None) -> ModelGraph:
    """The ModelGraph of a load, with its shapes (none yet: `meanwhile`'s)."""
    model, initializers = loading.model, loading.initializers
    opsets = {
        ("" if o.domain == "ai.onnx" else o.domain): o.version for o in model.opset_import if o.domain.__class__ is str
    }
    if not model.opset_import:
        opsets[""] = 1  # IR version 2 models carry no opset_import; they mean opset 1
    warnings = loading.warnings + (shapes.warnings + loading.notes if shapes is not None else [])
    return ModelGraph(
        model=model,
        path=loading.path,
        edges=loading.edges,
        order=loading.order,
        producer=loading.producer,
        tensors=shapes.tensors if shapes is not None else {},
        values=shapes.values if shapes is not None else {},
        initializers=initializers,
        opsets=opsets,
        inputs=[vi.name for vi in model.graph.input if vi.name not in initializers],
        outputs=[vi.name for vi in model.graph.output],
        warnings=warnings,
        views=loading.views,
        weights_in_file=loading.stripped,
        data_files=loading.data_files,
        verdict=checked,
    )


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
    nested = any(v.has_graph for v in mg.views)
    inits = list(mg.initializers.values())
    query = ShapeQuery(mg.model, inputs, dims, inits, None, nested, constant_indices(mg.views))
    shapes = infer(query, mg.order, mg.views)
    check_sizes(shapes.tensors)
    warnings = [w for w in mg.warnings[:1] if "not topological" in w] + shapes.warnings + notes
    return replace(mg, tensors=shapes.tensors, values=shapes.values, warnings=warnings, _nbytes={})
