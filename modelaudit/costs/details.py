"""What a row carries beyond its costs (Row.details): a conv's kind, a recurrent node's params per gate."""

from __future__ import annotations

from modelaudit.costs.rules.recurrent import GATE_ORDER, gate_breakdown
from modelaudit.graph.model import ModelGraph

__all__ = ["DETAILED", "details"]

_CONVS = {"Conv": 1, "ConvInteger": 1, "QLinearConv": 3, "ConvTranspose": 1, "DeformConv": 1}
DETAILED = frozenset(_CONVS) | frozenset(GATE_ORDER)


def _conv_kind(mg: ModelGraph, node) -> dict:
    """dense (group 1), depthwise (one input channel per group) or grouped."""
    w_index = _CONVS[node.op_type]
    info = mg.info(node.input[w_index]) if len(node.input) > w_index else None
    group = next((a.i for a in node.attribute if a.name == "group"), 1)
    shape = info.shape if info is not None else None
    if shape is None or len(shape) < 2:
        return {}
    channels = shape[1] if node.op_type != "ConvTranspose" else shape[0]
    if not isinstance(channels, int):  # a weight fed as a graph input with symbolic dims
        return {"group": group} if group != 1 else {"conv": "dense", "group": group}
    per_group = channels if node.op_type != "ConvTranspose" else channels // max(group, 1)
    kind = "dense" if group == 1 else "depthwise" if per_group == 1 else "grouped"
    return {"conv": kind, "group": group}


def details(mg: ModelGraph, node) -> dict:
    """Extra structure a reader wants: conv kind, and the per-gate params of RNN, GRU and LSTM."""
    if node.op_type in _CONVS and node.domain in ("", "ai.onnx"):
        return _conv_kind(mg, node)
    if node.op_type not in GATE_ORDER or node.domain not in ("", "ai.onnx") or len(node.input) < 3:
        return {}
    w, r = mg.info(node.input[1]), mg.info(node.input[2])
    w_shape = w.shape if w is not None and w.known else None
    r_shape = r.shape if r is not None and r.known else None
    if w_shape is None or r_shape is None or len(w_shape) != 3 or len(r_shape) != 3:
        return {}
    rows = w_shape[1]
    assert isinstance(rows, int)  # known: every dim is an int
    if rows % len(GATE_ORDER[node.op_type]) or rows != r_shape[1]:
        return {}
    has_bias = len(node.input) > 3 and bool(node.input[3])
    has_peephole = len(node.input) > 7 and bool(node.input[7])
    return {"gates": gate_breakdown(node.op_type, w_shape, r_shape, has_bias, has_peephole)}
