"""check --verify: shapes only a run can tell fill in before the budgets are checked."""

from __future__ import annotations

import json

from conftest import make_model, tensor, vi
from onnx import TensorProto, helper, save

import modelaudit
from modelaudit.cli.main import main

ROWS = 4  # --verify feeds normal floats: NonZero keeps all 4 of them


def _data_dependent(tmp_path, annotation=None):
    """x[4] → NonZero [1, n] → Cast, Transpose [n, 1] → MatMul by W[1, 8]: n comes from the data."""
    nodes = [
        helper.make_node("NonZero", ["x"], ["nz"], name="nonzero"),
        helper.make_node("Cast", ["nz"], ["nzf"], to=TensorProto.FLOAT, name="cast"),
        helper.make_node("Transpose", ["nzf"], ["col"], name="transpose"),
        helper.make_node("MatMul", ["col", "w"], ["y"], name="matmul"),
    ]
    model = make_model(nodes, [vi("x", [ROWS])], [vi("y", None)], [tensor("w", (1, 8))])
    if annotation is not None:
        model.graph.value_info.append(vi("nz", annotation, TensorProto.INT64))
    path = tmp_path / "data_dependent.onnx"
    save(model, path)
    return str(path)


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_the_hint_for_a_data_dependent_shape_names_verify(tmp_path):
    report = modelaudit.audit(_data_dependent(tmp_path))
    assert [u["dim"] for u in report.unresolved] == ["?"]
    assert report.unresolved[0]["flag"].startswith("--verify")


def test_check_cannot_prove_a_budget_on_a_data_dependent_shape_without_verify(capsys, tmp_path):
    code, out, _ = run(capsys, "check", _data_dependent(tmp_path), "--max-macs", "1K")
    assert code == 1
    assert out.startswith("budget not proven: ") and "macs unknown" in out and "--verify" in out


def test_check_verify_fills_in_runtime_shapes(capsys, tmp_path):
    path = _data_dependent(tmp_path)
    code, out, err = run(capsys, "check", path, "--max-macs", "1K", "--verify", "--format", "json")
    assert code == 0, (out, err)
    result = json.loads(out)["models"][0]
    assert result["totals"]["macs"] == {"value": ROWS * 1 * 8, "bound": "exact"}
    assert result["verification"]["runtime_shaped"] >= 1 and result["verification"]["mismatches"] == []
    code, out, _ = run(capsys, "check", path, "--max-macs", "16", "--verify")
    assert code == 1 and out.startswith(f"over budget: {path}: macs 32 (32) > 16 (16)")


def test_check_verify_fails_on_a_static_shape_the_run_contradicts(capsys, tmp_path):
    path = _data_dependent(tmp_path, annotation=[1, 3])  # an exporter's stale annotation: NonZero gives 4
    code, out, _ = run(capsys, "check", path, "--max-macs", "1K", "--verify")
    assert code == 1
    assert f"shape mismatch: {path}: " in out
