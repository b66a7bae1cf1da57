"""Shape inference on a weightless skeleton of the model, with integer shape folding fed back.

onnx's inference alone leaves shapes unknown wherever a shape is computed at run time
(Shape→Gather→Div→Slice→Reshape in a ShuffleNet channel split). We evaluate those small integer
computations on known values (shapes.fold), turn the results into constants or shape hints,
and infer again, until nothing new is learned."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import onnx
from onnx import ModelProto

from modelaudit.load.heap import release
from modelaudit.load.initializers import Initializer, read_initializers

from .annotations import bind_symbols
from .bodies import nested_outputs
from .collect import collect_infos, declared_symbols
from .contradictions import trust_inference
from .propagate import initial_values, is_unknown, known_count, propagate
from .skeleton import build_skeleton
from .tensor import Dim, Shape, TensorInfo, pack_infos, tensor_numel, unpack_infos

__all__ = [
    "TensorInfo",
    "ShapeQuery",
    "ShapeResult",
    "Plan",
    "FirstRound",
    "infer",
    "plan",
    "first_round",
    "refine",
    "tensor_numel",
    "Dim",
    "Shape",
]


log = logging.getLogger(__name__)


MAX_ROUNDS = 3


@dataclass
class ShapeResult:
    tensors: dict[str, TensorInfo]
    values: dict[str, np.ndarray]
    rounds: int = 0
    warnings: list[str] = field(default_factory=list)


def _run_onnx_inference(skel: ModelProto | bytes, warnings: list[str]) -> ModelProto:
    try:
        return onnx.shape_inference.infer_shapes(skel, check_type=False, strict_mode=False, data_prop=True)
    except MemoryError:
        raise  # onnx's C++ ran out of the memory the audit may take: exit 5, never a silent second try
    except Exception as first:  # onnx raises several types (InferenceError, ValidationError, RuntimeError)
        try:
            return onnx.shape_inference.infer_shapes(skel, check_type=False, strict_mode=False)
        except MemoryError:
            raise
        except Exception:
            warnings.append(
                f"onnx shape inference failed ({str(first).splitlines()[0][:200]}); "
                "shapes come from the model's own annotations only"
            )
            return skel if isinstance(skel, ModelProto) else ModelProto.FromString(skel)


@dataclass
class ShapeQuery:
    """What shape inference is asked: the model with these input shapes and named dims fixed."""

    model: ModelProto
    inputs: dict[str, tuple] = field(default_factory=dict)
    dims: dict[str, int] = field(default_factory=dict)
    inits: list[Initializer] | None = None  # the initializer records, when the caller has read them
    skeleton: bytes | None = None  # the bytes the model was parsed from: the first skeleton when nothing is bound
    nested: bool | Callable[[], bool] = True  # a node has a subgraph (may be asked once onnx has run)
    constants: list[int] | None = None  # the Constant nodes' indices, when the caller knows them

    def records(self) -> list[Initializer]:
        if self.inits is None:
            self.inits = read_initializers(self.model.graph)
        return self.inits

    def has_subgraphs(self) -> bool:
        return self.nested() if callable(self.nested) else self.nested


@dataclass
class Plan:
    """What every round of inference shares: the initializers' infos and values (they override what
    inference says), the symbols bound and declared, the opsets, the outputs to resolve."""

    query: ShapeQuery
    init_infos: dict[str, TensorInfo]
    values: dict[str, np.ndarray]
    bound: dict[str, int]
    symbols: set[str]
    opsets: dict[str, int]
    outputs: list[str]


class FirstRound(NamedTuple):
    """onnx's inference on the skeleton before anything is folded: the tensors' infos, warnings."""

    infos: dict[str, TensorInfo]
    warnings: list[str]

    def __reduce__(self):  # three flat lists pickle far faster than a tuple per tensor (tensor.pack_infos)
        return _unpickle_first, (pack_infos(self.infos), self.warnings)


def _unpickle_first(packed, warnings: list[str]) -> FirstRound:
    return FirstRound(unpack_infos(packed), warnings)


def _init_infos(inits: list[Initializer]) -> dict[str, TensorInfo]:
    return {t.name: TensorInfo(t.name, t.dims, t.dtype, True) for t in inits}


def plan(query: ShapeQuery, nodes=None) -> Plan:
    """The shared part of every round, prepared once. `nodes`: the graph's nodes or their views
    (graph.links.NodeView, which know whether they hold a subgraph)."""
    model, inits = query.model, query.records()
    init_infos = _init_infos(inits)
    bound = bind_symbols(model.graph, query.inputs, query.dims, init_infos)
    opsets = {("" if o.domain == "ai.onnx" else o.domain): o.version for o in model.opset_import} or {"": 1}
    nodes = model.graph.node if nodes is None else nodes
    outputs = [o for n in nodes for o in n.output if o]
    if query.has_subgraphs():  # a body's tensors unknown are worth another round too
        outputs += nested_outputs([n for n in nodes if getattr(n, "has_graph", True)])
    symbols = declared_symbols(model, bound)
    return Plan(query, init_infos, initial_values(inits), bound, symbols, opsets, outputs)


def first_round(query: ShapeQuery, prepared: Plan | None = None) -> FirstRound:
    """The first round: the costliest step of a load and independent of the rest of it. With
    nothing to bind, the file's own bytes (big weights already left out) are the skeleton, and
    the initializers are not read at all."""
    model, skeleton = query.model, query.skeleton
    warnings: list[str] = []
    skel: ModelProto | bytes
    if skeleton is not None and not query.inputs and not query.dims and model.ir_version >= 4:
        symbols = prepared.symbols if prepared is not None else declared_symbols(model, {})
        skel = skeleton
    else:
        prepared = plan(query) if prepared is None else prepared
        symbols = prepared.symbols
        skel = build_skeleton(model, query.inputs, prepared.bound, {}, {}, query.constants, query.records())
    inferred = _run_onnx_inference(skel, warnings)
    infos = collect_infos(inferred, symbols, query.has_subgraphs())
    del inferred
    release()  # onnx's C++ model and the inferred copy, freed: given back to the system
    return FirstRound(infos, warnings)


def refine(prepared: Plan, first: FirstRound, order: list[int]) -> ShapeResult:
    """The rounds after the first: shape arithmetic folded (shapes.fold), the results fed back as
    constants and shape hints, and onnx's inference run again, until nothing new is learned."""
    query = prepared.query
    model, outputs, symbols = query.model, prepared.outputs, prepared.symbols
    values, warnings = prepared.values, list(first.warnings)
    folded: dict[str, np.ndarray] = {}
    hints: dict[str, TensorInfo] = {}
    infos = first.infos
    infos.update(prepared.init_infos)
    rounds = 1
    while any(is_unknown(infos.get(o)) for o in outputs):
        if not propagate(model, order, prepared.opsets, infos, values, folded, hints, symbols):
            break
        if not any(is_unknown(infos.get(o)) for o in outputs) or rounds == MAX_ROUNDS:
            break
        rounds += 1
        skel = build_skeleton(model, query.inputs, prepared.bound, folded, hints, query.constants, query.records())
        fresh = collect_infos(_run_onnx_inference(skel, warnings), symbols, query.has_subgraphs())
        release()
        fresh.update(prepared.init_infos)
        for name, info in fresh.items():
            if known_count(info) >= known_count(infos.get(name)):
                infos[name] = info
    if model.graph.value_info and any(is_unknown(infos.get(o)) for o in outputs):  # a false annotation
        warnings.extend(trust_inference(model, order, prepared.opsets, infos, values, symbols))
    infos.update(prepared.init_infos)
    log.debug("shape inference took %d round(s)", rounds)
    return ShapeResult(infos, values, rounds, warnings)


def infer(query: ShapeQuery, order: list[int], nodes=None) -> ShapeResult:
    """Every tensor's shape: plan, first round, refine (graph.model.load runs the three as stages)."""
    prepared = plan(query, nodes)
    return refine(prepared, first_round(query, prepared), order)
