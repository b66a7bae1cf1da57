"""A bidirectional two-layer LSTM exported by PyTorch has exactly torch's parameter count.

Runs only where torch is installed (it never is a dependency of modelaudit or of CI)."""

from __future__ import annotations

import pytest

import modelaudit

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("cell,gates", [("LSTM", 4), ("GRU", 3), ("RNN", 1)])
def test_torch_bidirectional_two_layer_param_count(tmp_path, cell, gates):
    seq, batch, inputs, hidden, layers = 7, 2, 10, 16, 2
    module = getattr(torch.nn, cell)(inputs, hidden, num_layers=layers, bidirectional=True).eval()
    path = tmp_path / f"{cell}.onnx"
    torch.onnx.export(module, (torch.randn(seq, batch, inputs),), str(path), dynamo=False, opset_version=14)
    report = modelaudit.audit(path)
    assert report.totals.params == sum(p.numel() for p in module.parameters())
    rows = [r for r in report.rows if r.op == cell]
    assert len(rows) == layers
    # layer 1 reads the input; layer 2 reads both directions' outputs (2·H)
    assert [r.macs for r in rows] == [
        seq * batch * 2 * gates * hidden * (inputs + hidden),
        seq * batch * 2 * gates * hidden * (2 * hidden + hidden),
    ]
    per_gate = rows[0].details["gates"]
    assert len(per_gate) == gates and sum(g["params"] for g in per_gate) == rows[0].params
