"""--symbolic and --sweep: exact polynomials, equal to concrete audits at every point tried."""

from __future__ import annotations

import json

import onnx
from builders import attention_block as _attention_block
from builders import saved as _save
from conftest import SAMPLES, flatten_then_matmul, make_model, tensor, vi
from onnx import helper

import modelaudit
from modelaudit.analyses.symbolic import analyse, fit_grid
from modelaudit.cli.main import main


def _check_against_concrete(model, analysis, points):
    for values in points:
        report = modelaudit.audit(model, dims=values)
        assert analysis["totals"]["macs"](values) == report.totals.macs, values
        assert analysis["totals"]["flops"](values) == report.totals.flops, values
        assert analysis["totals"]["activation_bytes"](values) == report.totals.activation_bytes, values
        for row, fitted in zip(report.rows, analysis["rows"]):
            assert fitted["macs"](values) == row.macs_total, (row.name, values)


def test_cnn_with_a_symbolic_batch():
    model = onnx.load(SAMPLES / "mobilenet_v2.onnx")
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "batch"
    model.graph.output[0].type.tensor_type.shape.dim[0].dim_param = "batch"
    analysis = analyse(model)
    assert str(analysis["totals"]["macs"]) == "300,774,272·batch"
    _check_against_concrete(model, analysis, [{"batch": b} for b in (1, 5, 16)])


def test_transformer_block_with_symbolic_batch_and_seq():
    model = _attention_block()
    analysis = analyse(model)
    # 4 projections: 4·32·32 per token; Q·Kᵀ and P·V: 2·32 per pair of tokens
    assert str(analysis["totals"]["macs"]) == "4,096·batch·seq + 64·batch·seq²"
    terms = analysis["totals"]["macs"].to_json()["terms"]
    assert {"coefficient": 64, "powers": {"batch": 1, "seq": 2}} in terms
    _check_against_concrete(model, analysis, [{"batch": 1, "seq": 9}, {"batch": 3, "seq": 50}, {"batch": 2, "seq": 128}])
    assert any("seq² or faster" in line for line in analysis["dominance"])


def test_lstm_with_a_symbolic_sequence():
    model = onnx.load(SAMPLES / "lstm.onnx")
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "seq"
    for out in model.graph.output:
        out.type.tensor_type.ClearField("shape")
    analysis = analyse(model)
    assert str(analysis["totals"]["macs"]) == f"{4 * 20 * (10 + 20):,}·seq"
    _check_against_concrete(model, analysis, [{"seq": s} for s in (1, 6, 33)])


def test_a_shape_computed_by_division_is_not_polynomial():
    """A stride-2 conv over a symbolic width floors: no formula, and it says so."""
    node = helper.make_node("Conv", ["x", "w"], ["y"], strides=[2, 2])
    model = make_model([node], [vi("x", [1, 3, "h", "w"])], [vi("y", None)], [tensor("w", (8, 3, 3, 3))])
    analysis = analyse(model)
    assert analysis["totals"]["macs"] is None
    code = main(["report", _save(model), "--symbolic"])
    assert code == 0


def test_fit_is_exact_and_refuses_what_is_not_polynomial():
    fits, _ = fit_grid(("n",), lambda v: [7 * v["n"] ** 3 - 2 * v["n"] + 5, v["n"] // 2, 2 ** v["n"]])
    assert str(fits[0]) == "5 + -2·n + 7·n³".replace("+ -", "− ") and fits[1] is None and fits[2] is None


def test_cli_symbolic_json_and_sweep(capsys):
    path = _save(_attention_block())
    assert main(["report", path, "--symbolic", "--format", "json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["symbolic"]["totals"]["macs"]["text"] == "4,096·batch·seq + 64·batch·seq²"
    assert main(["report", path, "--sweep", "seq=128,512,2048", "--dim", "batch=1", "--format", "json"]) == 0
    s = json.loads(capsys.readouterr().out)
    for column, seq in zip(s["totals"], (128, 512, 2048)):
        assert column["macs"] == 4096 * seq + 64 * seq * seq == modelaudit.audit(path, dims={"batch": 1, "seq": seq}).totals.macs
    assert main(["compare", path, path, "--sweep", "batch=1,8", "--dim", "seq=16"]) == 0
    assert "batch=8" in capsys.readouterr().out


def test_no_symbolic_dim_is_a_usage_error(capsys):
    code = main(["report", str(SAMPLES / "conv3x3.onnx"), "--symbolic"])
    assert code == 2 and "no symbolic input dim left to vary" in capsys.readouterr().err
    code = main(["report", str(SAMPLES / "conv3x3.onnx"), "--sweep", "batch=x"])
    assert code == 2


def test_exporters_annotations_do_not_break_the_polynomial():
    """torch's dynamo exporter annotates intermediate tensors with names such as unk__88 for
    batch·seq: before every annotation took the fixed dims, each audit of the grid left the
    MatMul unresolved and --symbolic said "not a polynomial"."""
    model = flatten_then_matmul("unk__88")
    analysis = analyse(model)
    assert str(analysis["totals"]["macs"]) == "32·batch·seq"  # (batch·seq) rows × 8 × 4
    _check_against_concrete(model, analysis, [{"batch": 2, "seq": 9}, {"batch": 5, "seq": 3}])
