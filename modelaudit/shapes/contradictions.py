"""Shape annotations in the file that contradict inference: inference is trusted, and each one is
named in a warning (lint's MA014). onnx keeps a file's annotation where the two disagree, so the
false shape and everything it breaks downstream would stand (onnxslim wrote 1x96x39x39 where the
convolutions give 40x40 in PP-OCRv4 det)."""

from __future__ import annotations

from onnx import ModelProto

from .propagate import infer_node, is_unknown
from .tensor import TensorInfo

__all__ = ["trust_inference", "CONTRADICTION"]

CONTRADICTION = "shape annotation contradicts inference"


def _dims(shape) -> str:
    return "x".join("?" if d is None else str(d) for d in shape)


def _suspects(model: ModelProto, order: list[int], infos: dict, annotated: set[str]) -> set[str]:
    """Annotated tensors read by a node whose inputs are all known but whose output is not: the
    symptom of a false annotation (an Add of 39x39 and 40x40 has no shape)."""
    suspects: set[str] = set()
    nodes = model.graph.node
    for index in order:
        node = nodes[index]
        if not any(is_unknown(infos.get(o)) for o in node.output if o):
            continue
        if any(is_unknown(infos.get(i)) for i in node.input if i):
            continue
        suspects.update(i for i in node.input if i in annotated)
    return suspects


def trust_inference(model: ModelProto, order: list[int], opsets: dict, infos: dict, values: dict, symbols) -> list[str]:
    """Re-infers the producer of each suspect annotated tensor; where inference knows every dim and
    they differ from the annotation, the inferred shape replaces it and the nodes after it are
    inferred again (in topological order). Returns one warning per contradicted annotation. Runs
    only where shapes are left unknown: a model whose every shape is known costs nothing."""
    annotated = {vi.name for vi in model.graph.value_info}
    suspects = _suspects(model, order, infos, annotated) if annotated else set()
    if not suspects:
        return []
    nodes = model.graph.node
    position = {o: k for k, i in enumerate(order) for o in nodes[i].output if o in suspects}
    warnings, changed = [], set()
    for name in sorted(suspects & position.keys(), key=position.__getitem__):
        node = nodes[order[position[name]]]
        fresh = infer_node(model, node, opsets, infos, values, symbols).get(name)
        old = infos[name]
        if fresh is None or is_unknown(fresh) or fresh.shape == old.shape:
            continue
        warnings.append(
            f"{CONTRADICTION}: tensor {name} (node {node.name or node.op_type}) is annotated "
            f"{_dims(old.shape)}, inference gives {_dims(fresh.shape)}; the inferred shape is used"
        )
        infos[name] = TensorInfo(name, fresh.shape, fresh.dtype or old.dtype)
        changed.add(name)
    if changed:
        _infer_after(model, order[min(position[n] for n in changed) :], opsets, infos, values, symbols, changed)
    return warnings


def _infer_after(model, order, opsets, infos, values, symbols, changed: set[str]) -> None:
    """Every node that reads a changed tensor is inferred again; its outputs change in turn."""
    nodes = model.graph.node
    for index in order:
        node = nodes[index]
        if changed.isdisjoint(node.input):
            continue
        for name, info in infer_node(model, node, opsets, infos, values, symbols).items():
            if not is_unknown(info) and (name not in infos or infos[name].shape != info.shape):
                infos[name] = info
                changed.add(name)
