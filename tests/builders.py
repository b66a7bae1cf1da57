"""Small models that tests in several folders build (each test folder imports this through conftest's path)."""

from __future__ import annotations

import tempfile

import numpy as np
import onnx
from conftest import make_model, tensor, vi
from onnx import TensorProto, helper, numpy_helper

__all__ = ["loop_model", "attention_block", "saved"]


def loop_model(trip_count: int | None, with_cond: bool = False):
    body_nodes = [
        helper.make_node("MatMul", ["h_in", "w"], ["h_mm"], name="step_mm"),
        helper.make_node("Tanh", ["h_mm"], ["h_out"], name="step_tanh"),
        helper.make_node("Identity", ["cond_in"], ["cond_out"]),
    ]
    body = helper.make_graph(
        body_nodes,
        "body",
        [vi("i", [], TensorProto.INT64), vi("cond_in", [], TensorProto.BOOL), vi("h_in", [1, 8])],
        [vi("cond_out", [], TensorProto.BOOL), vi("h_out", [1, 8])],
    )
    inits = [tensor("w", (8, 8))]
    inputs = [vi("h0", [1, 8])]
    if trip_count is not None:
        inits.append(numpy_helper.from_array(np.array(trip_count, np.int64), "M"))
    else:
        inputs.append(vi("M", [], TensorProto.INT64))
    cond = "cond0" if with_cond else ""
    if with_cond:
        inputs.append(vi("cond0", [], TensorProto.BOOL))
    node = helper.make_node("Loop", ["M", cond, "h0"], ["h_final"], name="loop", body=body)
    return make_model([node], inputs, [vi("h_final", None)], inits)


def attention_block(width: int = 32):
    """x [batch, seq, W] → Q, K, V projections, softmax(Q·Kᵀ)·V, output projection."""
    nodes = [helper.make_node("MatMul", ["x", w], [o]) for w, o in (("wq", "q"), ("wk", "k"), ("wv", "v"))]
    nodes += [
        helper.make_node("Transpose", ["k"], ["kt"], perm=[0, 2, 1]),
        helper.make_node("MatMul", ["q", "kt"], ["scores"]),
        helper.make_node("Softmax", ["scores"], ["p"], axis=-1),
        helper.make_node("MatMul", ["p", "v"], ["ctx"]),
        helper.make_node("MatMul", ["ctx", "wo"], ["y"]),
    ]
    inits = [tensor(n, (width, width), seed=i) for i, n in enumerate(("wq", "wk", "wv", "wo"))]
    return make_model(nodes, [vi("x", ["batch", "seq", width])], [vi("y", None)], inits)


def saved(model) -> str:
    """The model written to a fresh temporary file; its path."""
    path = tempfile.NamedTemporaryFile(suffix=".onnx", delete=False).name
    onnx.save(model, path)
    return path
