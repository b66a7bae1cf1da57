"""--verify and --profile: onnxruntime proves the static shapes, in a fenced child process."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import SAMPLES, make_model, tensor, vi
from onnx import TensorProto, helper, numpy_helper, save

import modelaudit
from modelaudit.cli.main import main
from modelaudit.runtime.verify import RuntimeOptions, check


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("sample", sorted(p.name for p in SAMPLES.glob("*.onnx")))
def test_samples_verify_with_no_mismatch(sample):
    dims = {"batch": 2, "seq": 16} if sample == "transformer_block.onnx" else None  # its only symbolic dims
    mg = modelaudit.load(SAMPLES / sample, dims=dims)
    report, ok = check(mg, modelaudit.analyze(mg), RuntimeOptions())
    v = report.verification
    outputs = sum(1 for n in mg.nodes for o in n.output if o)
    assert ok and v["mismatches"] == [] and v["verified"] == v["tensors"] == outputs


def test_wrong_value_info_is_caught(capsys, tmp_path):
    nodes = [helper.make_node("Relu", ["x"], ["a"], name="relu"), helper.make_node("Neg", ["a"], ["y"], name="neg")]
    model = make_model(nodes, [vi("x", [2, 3])], [vi("y", None)], value_info=[vi("a", [2, 4])])
    path = tmp_path / "wrong.onnx"
    save(model, path)
    code, out, err = run_cli(capsys, "report", str(path), "--verify")
    assert code == 1
    assert "tensor a (node relu): static 2x4, runtime 2x3" in out
    assert "tensor y (node neg): static 2x4, runtime 2x3" in out  # the wrong shape propagated
    assert err.strip() == "modelaudit: 2 tensor shape(s) differ between static inference and onnxruntime"


def test_data_dependent_shapes_come_from_the_run():
    """NonZero's output size depends on the data; the MatMul after it gets its MACs from the run."""
    nodes = [
        helper.make_node("NonZero", ["x"], ["nz"], name="nz"),
        helper.make_node("Cast", ["nz"], ["nzf"], to=TensorProto.FLOAT, name="cast"),
        helper.make_node("Transpose", ["nzf"], ["rows"], name="t"),
        helper.make_node("MatMul", ["rows", "w"], ["y"], name="mm"),
    ]
    model = make_model(nodes, [vi("x", [4, 5])], [vi("y", None)], [tensor("w", (2, 3))])
    mg = modelaudit.load(model)
    static = modelaudit.analyze(mg)
    assert next(r for r in static.rows if r.name == "mm").macs is None
    data = np.zeros((4, 5), np.float32)
    data[0, 1] = data[2, 3] = data[3, 0] = 1.0  # three non-zeros
    report, ok = check(mg, static, RuntimeOptions(input_data={"x": data}))
    mm = next(r for r in report.to_dict()["rows"] if r["name"] == "mm")
    assert ok and mm["runtime_shaped"]
    assert mm["macs"] == 3 * 2 * 3  # 3 rows (one per non-zero) × K=2 × N=3
    assert report.verification["runtime_shaped"] >= 3


def test_memory_guard_refuses_a_huge_input(capsys, tmp_path):
    model = make_model([helper.make_node("Relu", ["x"], ["y"])], [vi("x", [1 << 16, 1 << 16])], [vi("y", None)])
    path = tmp_path / "huge.onnx"
    save(model, path)
    code, out, err = run_cli(capsys, "report", str(path), "--verify", "--max-memory", "1GiB")
    assert code == 5 and out == ""
    assert err.startswith("modelaudit: error: the run would need about 34,359,738,368 bytes (32.0 GiB)")


def test_timeout_stops_a_runaway_loop(capsys, tmp_path):
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]), helper.make_node("Add", ["v_in", "one"], ["v_out"])],
        "body",
        [vi("i", [], TensorProto.INT64), vi("cond_in", [], TensorProto.BOOL), vi("v_in", [1])],
        [vi("cond_out", [], TensorProto.BOOL), vi("v_out", [1])],
        initializer=[numpy_helper.from_array(np.ones(1, np.float32), "one")],
    )
    node = helper.make_node("Loop", ["trips", "", "v0"], ["v"], body=body)
    model = make_model(
        [node], [vi("v0", [1])], [vi("v", None)], [numpy_helper.from_array(np.array(1 << 62, np.int64), "trips")]
    )
    path = tmp_path / "forever.onnx"
    save(model, path)
    code, out, err = run_cli(capsys, "report", str(path), "--verify", "--timeout", "3")
    assert code == 5
    assert err.strip() == (
        "modelaudit: error: the onnxruntime run took longer than --timeout 3 s and was stopped "
        "(raise --timeout, or fix the shapes with --input/--dim)"
    )


def test_custom_domain_skips_the_run_but_keeps_the_static_report(capsys, tmp_path):
    """--verify that cannot run the model verified nothing: exit 1 (issue 14 item 7); --profile alone
    is a measurement, not a check, and keeps exit 0."""
    nodes = [helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Mystery", ["a"], ["y"], domain="x.y")]
    model = make_model(nodes, [vi("x", [2])], [vi("y", None)])
    model.opset_import.append(helper.make_opsetid("x.y", 1))
    path = tmp_path / "custom.onnx"
    save(model, path)
    code, out, err = run_cli(capsys, "report", str(path), "--verify")
    assert code == 1
    assert "Totals" in out and "runtime: skipped: onnxruntime cannot run this model" in out
    assert err.startswith("modelaudit: onnxruntime cannot run this model:")
    assert err.strip().endswith("the static report stands; nothing was verified")
    assert len(err.strip().splitlines()) == 1
    code, out, err = run_cli(capsys, "report", str(path), "--profile", "--runs", "1")
    assert code == 0 and err.strip().endswith("the static report stands")


def test_verify_on_an_input_of_undefined_dtype_exits_1(capsys, tmp_path):
    """Element type 999 has no numpy type: the run cannot be fed (it raised KeyError 999, an internal error)."""
    model = make_model([helper.make_node("Identity", ["x"], ["y"])], [vi("x", [2], 999)], [vi("y", [2])])
    path = tmp_path / "dtype999.onnx"
    path.write_bytes(model.SerializeToString())
    code, out, err = run_cli(capsys, "report", str(path), "--verify")
    assert code == 1 and "input 'x' has element type 999, which ONNX does not define" in err
    assert len(err.strip().splitlines()) == 1 and "internal error" not in err


def test_if_branch_that_ran_is_reported():
    then_g = helper.make_graph([helper.make_node("Relu", ["x"], ["t"])], "then", [], [vi("t", None)])
    else_g = helper.make_graph([helper.make_node("Neg", ["x"], ["e"])], "else", [], [vi("e", None)])
    nodes = [
        helper.make_node("ReduceSum", ["x"], ["s"], keepdims=0),
        helper.make_node("Greater", ["s", "zero"], ["positive"]),
        helper.make_node("If", ["positive"], ["y"], name="sign_branch", then_branch=then_g, else_branch=else_g),
    ]
    model = make_model(
        nodes, [vi("x", [3])], [vi("y", None)], [numpy_helper.from_array(np.array(0, np.float32), "zero")]
    )
    mg = modelaudit.load(model)
    report, _ = check(mg, modelaudit.analyze(mg), RuntimeOptions(input_data={"x": -np.ones(3, np.float32)}))
    assert report.verification["if_branches"] == [{"node": "sign_branch", "branch": "else_branch"}]


def test_input_data_npz_and_float16(capsys, tmp_path):
    node = helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")
    model = make_model(
        [node],
        [vi("x", ["batch", 8], TensorProto.FLOAT16)],
        [vi("y", None, TensorProto.FLOAT16)],
        [tensor("w", (8, 4), np.float16)],
    )
    path = tmp_path / "half.onnx"
    save(model, path)
    np.savez(tmp_path / "inputs.npz", x=np.ones((5, 8), np.float16))
    code, out, _ = run_cli(
        capsys, "report", str(path), "--verify", "--input-data", str(tmp_path / "inputs.npz"), "--format", "json"
    )
    d = json.loads(out)
    assert code == 0 and d["verification"]["mismatches"] == []
    assert d["rows"][0]["macs"] == 5 * 8 * 4  # the data's shape fixed the symbolic batch
    assert d["totals"]["weight_bytes_by_dtype"] == {"float16": 8 * 4 * 2}


def test_profile_rows_add_up_to_the_measured_total():
    mg = modelaudit.load(SAMPLES / "mobilenet_v2.onnx")
    report, _ = check(mg, modelaudit.analyze(mg), RuntimeOptions(verify=False, profile=True, runs=10, threads=1))
    p = report.profile
    rows = report.to_dict()["rows"]
    rows_ms = sum(r["ms"] for r in rows if r["ms"] is not None)
    assert p["unmatched_ms"] == 0
    # every node's time lands on its row; with one thread the nodes of a run run one after the
    # other inside it, so together they never take longer than the run (a busy machine only
    # stretches the gaps between kernels, which is why the two are not compared for equality)
    assert rows_ms == pytest.approx(p["nodes_ms"])
    assert 0 < rows_ms <= p["total_ms"] * 1.05
    conv = next(r for r in rows if r["op"] == "Conv")
    assert conv["gmacs_per_s"] == pytest.approx(conv["macs"] / (conv["ms"] / 1000) / 1e9)
    assert report.runtime["provider"] == "CPUExecutionProvider"


def test_verify_needs_concrete_input_shapes(capsys, tmp_path):
    model = make_model([helper.make_node("Relu", ["x"], ["y"])], [vi("x", ["batch", 3])], [vi("y", None)])
    path = tmp_path / "dyn.onnx"
    save(model, path)
    code, out, err = run_cli(capsys, "report", str(path), "--verify")
    assert code == 2
    assert err.strip() == (
        "modelaudit: error: --verify needs a concrete shape for input 'x' (batchx3) "
        "(fix it with --input x=... or --dim NAME=N)"
    )
    # --profile alone was told "--verify needs…", a flag it was not given
    code, out, err = run_cli(capsys, "report", str(path), "--profile")
    assert code == 2 and err.startswith("modelaudit: error: --profile needs a concrete shape for input 'x'")


def test_external_data_model_verifies_from_its_own_folder(tmp_path):
    import onnx

    node = helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")
    model = make_model([node], [vi("x", [2, 64])], [vi("y", None)], [tensor("w", (64, 64))])
    folder = tmp_path / "model"
    folder.mkdir()
    onnx.save(model, folder / "m.onnx", save_as_external_data=True, location="m.weights", size_threshold=0)
    mg = modelaudit.load(folder / "m.onnx")
    report, ok = check(mg, modelaudit.analyze(mg), RuntimeOptions())
    assert ok and report.verification["verified"] == 1 and report.totals.params == 64 * 64


def test_loop_model_verifies():
    from builders import loop_model as _loop_model

    mg = modelaudit.load(_loop_model(4))
    report, ok = check(mg, modelaudit.analyze(mg), RuntimeOptions())
    assert ok and report.verification["mismatches"] == []
