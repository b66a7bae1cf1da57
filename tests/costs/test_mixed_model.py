"""One model with If, Loop, LSTM, attention and QDQ nodes: a complete report, nothing silently zero."""

from __future__ import annotations

import numpy as np
from conftest import make_model, tensor, vi
from onnx import TensorProto, helper, numpy_helper

import modelaudit


def _scalar(name, value, dtype):
    return numpy_helper.from_array(np.array(value, dtype), name)


def test_mixed_model_is_complete():
    seq, batch, width, hidden, heads = 6, 1, 16, 16, 4
    nodes = [
        # QDQ-quantized input projection
        helper.make_node("QuantizeLinear", ["x", "s", "z"], ["xq"]),
        helper.make_node("DequantizeLinear", ["xq", "s", "z"], ["xd"]),
        helper.make_node("DequantizeLinear", ["wq", "ws", "wz"], ["w"]),
        helper.make_node("MatMul", ["xd", "w"], ["proj"], name="proj"),
        # LSTM over the sequence
        helper.make_node("LSTM", ["proj", "W", "R", "B"], ["lstm_y"], hidden_size=hidden, name="lstm"),
        helper.make_node("Squeeze", ["lstm_y", "axis1"], ["h"]),  # [seq, batch, H]
        helper.make_node("Transpose", ["h"], ["hb"], perm=[1, 0, 2]),  # [batch, seq, H]
        # self-attention
        helper.make_node("Attention", ["hb", "hb", "hb"], ["att"], q_num_heads=heads, kv_num_heads=heads, name="att"),
        # If: a cheap or a dear head
        # two branches of equal cost: exactly one of them is counted
        helper.make_node(
            "If",
            ["flag"],
            ["head_out"],
            name="head",
            then_branch=helper.make_graph(
                [
                    helper.make_node("MatMul", ["att", "w_small"], ["t0"], name="small"),
                    helper.make_node("Relu", ["t0"], ["t"], name="small_relu"),
                ],
                "then",
                [],
                [vi("t", None)],
            ),
            else_branch=helper.make_graph(
                [
                    helper.make_node("MatMul", ["att", "w_big"], ["e0"], name="big"),
                    helper.make_node("Tanh", ["e0"], ["e"], name="big_tanh"),
                ],
                "else",
                [],
                [vi("e", None)],
            ),
        ),
        # Loop: refine 3 times
        helper.make_node(
            "Loop",
            ["trips", "", "head_out"],
            ["final"],
            name="refine",
            body=helper.make_graph(
                [
                    helper.make_node("MatMul", ["state", "w_loop"], ["mm"], name="refine_mm"),
                    helper.make_node("Tanh", ["mm"], ["state_out"]),
                    helper.make_node("Identity", ["cond"], ["cond_out"]),
                ],
                "body",
                [vi("i", [], TensorProto.INT64), vi("cond", [], TensorProto.BOOL), vi("state", [batch, seq, 8])],
                [vi("cond_out", [], TensorProto.BOOL), vi("state_out", [batch, seq, 8])],
            ),
        ),
    ]
    inits = [
        _scalar("s", 0.1, np.float32),
        _scalar("z", 0, np.int8),
        tensor("wq", (width, width), np.int8),
        _scalar("ws", 0.02, np.float32),
        _scalar("wz", 0, np.int8),
        tensor("W", (1, 4 * hidden, width)),
        tensor("R", (1, 4 * hidden, hidden)),
        tensor("B", (1, 8 * hidden)),
        numpy_helper.from_array(np.array([1], np.int64), "axis1"),
        tensor("w_small", (hidden, 8), seed=1),
        tensor("w_big", (hidden, 8), seed=2),
        tensor("w_loop", (8, 8), seed=3),
        _scalar("trips", 3, np.int64),
    ]
    model = make_model(
        nodes, [vi("x", [seq, batch, width]), vi("flag", [], TensorProto.BOOL)], [vi("final", None)], inits, opset=23
    )
    report = modelaudit.audit(model)
    assert report.uncounted == {} and report.unresolved == []
    assert report.totals.macs.complete
    assert not [r for r in report.rows if r.status in ("uncounted", "unresolved", "error")]
    macs = {r.name: r.macs_total for r in report.rows}
    assert macs["proj"] == seq * batch * width * width
    assert macs["lstm"] == seq * batch * 4 * hidden * (width + hidden)
    assert macs["att"] == batch * heads * seq * seq * 2 * (hidden // heads)
    counted = [name for name in ("head/then_branch/small", "head/else_branch/big") if macs[name]]
    assert len(counted) == 1 and macs[counted[0]] == batch * seq * hidden * 8
    assert macs["refine/body/refine_mm"] == 3 * batch * seq * 8 * 8
    assert report.totals.macs == sum(macs.values())
    assert report.totals.params == width * width + 4 * hidden * (width + hidden) + 8 * hidden + 2 * hidden * 8 + 64
    assert report.totals.weight_bytes_by_dtype["int8"] == width * width + 2
