"""LSTM, GRU and RNN: MACs = seq·batch·dirs·gates·H·(I+H); params of W, R, B and P."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_model, run_ort, tensor, vi
from onnx import helper

import modelaudit

GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}


def _rnn(op, seq, batch, inputs, hidden, direction="forward", bias=True, peephole=False, layout=0, initial_h=False):
    dirs = 2 if direction == "bidirectional" else 1
    g = GATES[op]
    inits = [tensor("W", (dirs, g * hidden, inputs)), tensor("R", (dirs, g * hidden, hidden), seed=1)]
    names = ["x", "W", "R", "", "", ""]
    if bias:
        inits.append(tensor("B", (dirs, 2 * g * hidden), seed=2))
        names[3] = "B"
    if initial_h:
        inits.append(tensor("h0", (dirs, batch, hidden), seed=3))
        names[5] = "h0"
    if peephole:
        names += ["", tensor_name := "P"]
        inits.append(tensor(tensor_name, (dirs, 3 * hidden), seed=4))
    while names and not names[-1]:
        names.pop()
    attrs = dict(hidden_size=hidden, direction=direction)
    if layout:
        attrs["layout"] = layout
    node = helper.make_node(op, names, ["Y"], name="rnn", **attrs)
    x_shape = [batch, seq, inputs] if layout else [seq, batch, inputs]
    return make_model([node], [vi("x", x_shape)], [vi("Y", None)], inits), x_shape


@pytest.mark.parametrize("op", ["RNN", "GRU", "LSTM"])
@pytest.mark.parametrize("direction", ["forward", "bidirectional"])
def test_recurrent_macs_and_params(op, direction):
    seq, batch, inputs, hidden = 7, 3, 10, 16
    model, x_shape = _rnn(op, seq, batch, inputs, hidden, direction, initial_h=True)
    report = modelaudit.audit(model)
    (row,) = report.rows
    dirs = 2 if direction == "bidirectional" else 1
    g = GATES[op]
    assert row.macs == seq * batch * dirs * g * hidden * (inputs + hidden)
    # W, R and both bias vectors; initial_h is state, not a weight
    assert report.totals.params == dirs * (g * hidden * inputs + g * hidden * hidden + 2 * g * hidden)
    y = run_ort(model, {"x": np.zeros(x_shape, np.float32)})[0]
    assert row.outputs == ["x".join(map(str, y.shape))]


def test_lstm_flops_per_unit_written_out():
    seq, batch, inputs, hidden = 5, 1, 10, 20
    model, _ = _rnn("LSTM", seq, batch, inputs, hidden)
    (row,) = modelaudit.audit(model).rows
    # per hidden unit and step: 4 adds (W·x + R·h), 8 bias adds, 3 sigmoids × 4, 2 tanh × 1,
    # cell f·c + i·g (3), h = o·tanh(c) (1)
    per_unit = 4 + 8 + 3 * 4 + 2 * 1 + 3 + 1
    assert row.flops == 2 * row.macs + seq * batch * hidden * per_unit


def test_lstm_peepholes_and_layout():
    seq, batch, inputs, hidden = 4, 2, 3, 5
    model, x_shape = _rnn("LSTM", seq, batch, inputs, hidden, peephole=True, layout=1)
    report = modelaudit.audit(model)
    (row,) = report.rows
    assert row.macs == seq * batch * 4 * hidden * (inputs + hidden)
    assert report.totals.params == 4 * hidden * inputs + 4 * hidden * hidden + 8 * hidden + 3 * hidden
    # onnxruntime refuses layout=1, so the spec's Y shape [batch, seq, dirs, H] is written out
    assert row.outputs == [f"{batch}x{seq}x1x{hidden}"]


def test_lstm_symbolic_sequence_is_unresolved():
    model, _ = _rnn("LSTM", 5, 1, 10, 20)
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "seq"
    report = modelaudit.audit(model)
    assert report.rows[0].macs is None and report.unresolved[0]["flag"] == "--dim seq=N"
    assert modelaudit.audit(model, dims={"seq": 9}).rows[0].macs == 9 * 1 * 4 * 20 * (10 + 20)
