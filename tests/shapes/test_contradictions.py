"""Issue 24 items 7 and 9: a shape annotation that contradicts inference loses to it, with a warning
and lint's MA014; a missing external-data file is a warning and MA015; --dim for a dim the inputs
already hold at that value is accepted with a note."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from conftest import make_model, tensor, vi
from onnx import helper, numpy_helper

import modelaudit
from modelaudit.analyses.findings import find
from modelaudit.cli.main import main
from modelaudit.errors import UsageError


def _false_annotation():
    """x [1, 3, 8, 8] → Resize ×2 (16×16; the file says 15×15, as onnxslim's dim expression said
    39 for 40 in PP-OCRv4 det) → Add with a stride-1 conv of a 16×16 input → Conv 3×3 to 4 channels."""
    nodes = [
        helper.make_node("Resize", ["x", "", "scales"], ["up"], mode="nearest"),
        helper.make_node("Conv", ["z", "w0"], ["side"], kernel_shape=[1, 1]),
        helper.make_node("Add", ["up", "side"], ["s"]),
        helper.make_node("Relu", ["s"], ["r"]),
        helper.make_node("Conv", ["r", "w"], ["y"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
    ]
    inits = [
        numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales"),
        tensor("w0", (3, 3, 1, 1)),
        tensor("w", (4, 3, 3, 3)),
    ]
    model = make_model(nodes, [vi("x", [1, 3, 8, 8]), vi("z", [1, 3, 16, 16])], [vi("y", None)], inits)
    model.graph.value_info.append(vi("up", [1, 3, 15, 15]))
    return model


def test_inference_beats_a_contradicting_annotation():
    report = modelaudit.audit(_false_annotation())
    assert [r.outputs[0] for r in report.rows][:3] == ["1x3x16x16", "1x3x16x16", "1x3x16x16"]
    assert report.totals.macs == 16 * 16 * 3 * 3 + 16 * 16 * (3 * 3 * 3) * 4 and report.totals.macs.complete
    assert any("tensor up" in w and "annotated 1x3x15x15, inference gives 1x3x16x16" in w for w in report.warnings)


def test_contradicting_annotation_is_a_lint_finding():
    mg = modelaudit.load(_false_annotation())
    (finding,) = [f for f in find(mg, modelaudit.analyze(mg)) if f.code == "MA014"]
    assert finding.target == "up" and finding.severity == "warning"


def test_an_agreeing_annotation_is_no_finding():
    model = _false_annotation()
    model.graph.value_info[0].CopyFrom(vi("up", [1, 3, 16, 16]))
    mg = modelaudit.load(model)
    assert not [f for f in find(mg, modelaudit.analyze(mg)) if f.code == "MA014"]


def _external(tmp_path):
    model = make_model(
        [helper.make_node("MatMul", ["x", "w"], ["y"])], [vi("x", [1, 16])], [vi("y", [1, 8])], [tensor("w", (16, 8))]
    )
    path = tmp_path / "m.onnx"
    onnx.save(model, path, save_as_external_data=True, location="m.data", size_threshold=0)
    return path


def test_missing_external_data_is_a_warning_and_an_error_finding(tmp_path, capsys):
    path = _external(tmp_path)
    (tmp_path / "m.data").unlink()
    report = modelaudit.audit(path)
    assert report.totals.params == 16 * 8 and report.totals.macs == 16 * 8  # counted from the dims
    assert any(w.startswith("external-data file missing: m.data") for w in report.warnings)
    assert main(["lint", str(path)]) == 1
    assert "MA015" in capsys.readouterr().out


def test_present_external_data_is_no_finding(tmp_path):
    mg = modelaudit.load(_external(tmp_path))
    report = modelaudit.analyze(mg)
    assert not [f for f in find(mg, report) if f.code == "MA015"]
    assert not [w for w in report.warnings if "external-data" in w]


def _fixed():
    """An input onnxsim fixed: [1, 16], no symbolic dim left."""
    return make_model(
        [helper.make_node("MatMul", ["x", "w"], ["y"])], [vi("x", [1, 16])], [vi("y", [1, 8])], [tensor("w", (16, 8))]
    )


def test_dim_already_fixed_to_the_same_value_is_accepted_with_a_note():
    mg = modelaudit.load(_fixed(), dims={"batch": 1})
    assert any(w.startswith("--dim batch=1: no input has a dim named 'batch'") for w in mg.warnings)
    assert modelaudit.analyze(mg).totals.macs == 16 * 8


def test_dim_fixed_to_another_value_is_still_refused():
    with pytest.raises(UsageError, match="no input has a dim named 'batch'"):
        modelaudit.load(_fixed(), dims={"batch": 4})
