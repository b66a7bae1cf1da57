"""Shape inference on a weightless skeleton of the model, with integer shape folding fed back.

onnx's inference alone leaves shapes unknown wherever a shape is computed at run time
(Shape→Gather→Div→Slice→Reshape in a ShuffleNet channel split). We evaluate those small integer
computations on known values (shapes.fold), turn the results into constants or shape hints,
and infer again, until nothing new is learned."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

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
from .tensor import Dim, Shape, TensorInfo, tensor_numel

__all__ = ["TensorInfo", "ShapeResult", "infer", "first_round", "tensor_numel", "Dim", "Shape"]


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
    except Exception as first:  # onnx raises several types (InferenceError, ValidationError, RuntimeError)
        try:
            return onnx.shape_inference.infer_shapes(skel, check_type=False, strict_mode=False)
        except Exception:
            warnings.append(
                f"onnx shape inference failed ({str(first).splitlines()[0][:200]}); "
                "shapes come from the model's own annotations only"
            )
            return skel if isinstance(skel, ModelProto) else ModelProto.FromString(skel)


def infer(
    model: ModelProto,
    order: list[int],
    inputs: dict[str, tuple] | None = None,
    dims: dict[str, int] | None = None,
    nested: bool = True,
    constants: list[int] | None = None,
    views=None,
    skeleton_bytes: bytes | None = None,
    inits: list[Initializer] | None = None,
    first=None,
) -> ShapeResult:
    """Infers every tensor's shape; `inputs` and `dims` fix dynamic input shapes and named dims.
    `first`: a callable giving first_round()'s result for these arguments, computed elsewhere (a
    forked child, load/forked.py), or None where it failed; asked for once this function has
    prepared everything else."""
    inputs, dims = inputs or {}, dims or {}
    warnings: list[str] = []
    folded: dict[str, np.ndarray] = {}
    hints: dict[str, TensorInfo] = {}
    inits = read_initializers(model.graph) if inits is None else inits
    values = initial_values(inits)
    # the real initializers, external ones included: read once, they override what inference says
    init_infos = _init_infos(inits)
    bound = bind_symbols(model.graph, inputs, dims, init_infos)
    symbols = declared_symbols(model, bound)
    opsets = {("" if o.domain == "ai.onnx" else o.domain): o.version for o in model.opset_import} or {"": 1}
    nodes = views if views is not None else model.graph.node
    outputs = [o for n in nodes for o in n.output if o]
    if nested:  # a body's tensors unknown are worth another round too
        outputs += nested_outputs([n for n in nodes if getattr(n, "has_graph", True)])
    infos: dict[str, TensorInfo] = {}
    rounds = 0
    while rounds < MAX_ROUNDS:
        rounds += 1
        if rounds == 1:
            done = first() if first is not None else None
            if done is None:
                done = first_round(
                    model, inputs, dims, nested, constants, skeleton_bytes, inits, (init_infos, bound, symbols)
                )
            fresh, first_warnings = done
            warnings.extend(first_warnings)
        else:
            skel = build_skeleton(model, inputs, bound, folded, hints, constants, inits)
            fresh = collect_infos(_run_onnx_inference(skel, warnings), symbols, nested)
            release()
        fresh.update(init_infos)
        if not infos:
            infos = fresh
        else:
            for name, info in fresh.items():
                if known_count(info) >= known_count(infos.get(name)):
                    infos[name] = info
        if not any(is_unknown(infos.get(o)) for o in outputs):
            break
        if not propagate(model, order, opsets, infos, values, folded, hints, symbols):
            break
        if not any(is_unknown(infos.get(o)) for o in outputs):
            break
    if any(is_unknown(infos.get(o)) for o in outputs):  # a false annotation in the file leaves its marks
        warnings.extend(trust_inference(model, order, opsets, infos, values, symbols))
    infos.update(init_infos)
    log.debug("shape inference took %d round(s)", rounds)
    return ShapeResult(infos, values, rounds, warnings)


FirstRound = "tuple[dict[str, TensorInfo], list[str]]"


def _init_infos(inits: list[Initializer]) -> dict[str, TensorInfo]:
    return {t.name: TensorInfo(t.name, t.dims, t.dtype, True) for t in inits}


def first_round(
    model: ModelProto,
    inputs: dict[str, tuple] | None = None,
    dims: dict[str, int] | None = None,
    nested: bool | Callable[[], bool] = True,
    constants: list[int] | None = None,
    skeleton_bytes: bytes | None = None,
    inits: list[Initializer] | None = None,
    known: tuple | None = None,
) -> FirstRound:
    """onnx's inference on the skeleton before anything is folded: (tensor infos, warnings). The
    costliest step of a load and independent of the rest of it, so a forked child can run it
    while the parent checks and links the model. `known`: (initializer infos, bound symbols,
    declared symbols) when the caller has them. `nested` may be asked for once onnx has run (a
    forked child gets it from its parent, which knows it by then)."""
    inputs, dims = inputs or {}, dims or {}
    as_read = skeleton_bytes is not None and not inputs and not dims and model.ir_version >= 4
    if known is None:
        if as_read:  # nothing to bind: the initializers are not needed (nor read)
            known = ({}, {}, declared_symbols(model, {}))
        else:
            inits = read_initializers(model.graph) if inits is None else inits
            init_infos = _init_infos(inits)
            bound = bind_symbols(model.graph, inputs, dims, init_infos)
            known = (init_infos, bound, declared_symbols(model, bound))
    _, bound, symbols = known
    warnings: list[str] = []
    if as_read:
        skel = skeleton_bytes  # the file's own bytes (big weights already left out): nothing to copy
    else:
        skel = build_skeleton(model, inputs, bound, {}, {}, constants, inits)
    inferred = _run_onnx_inference(skel, warnings)
    infos = collect_infos(inferred, symbols, nested() if callable(nested) else nested)
    del inferred
    release()  # onnx's C++ model and the inferred copy, freed: given back to the system
    return infos, warnings
