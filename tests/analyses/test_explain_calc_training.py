"""explain, calc and --training against hand-derived figures."""

from __future__ import annotations

import pytest
from conftest import SAMPLES, make_model, tensor, vi
from onnx import helper

import modelaudit
from modelaudit.analyses.calc import Design, solve
from modelaudit.analyses.training import LSTM_BACKWARD_PER_UNIT
from modelaudit.cli.main import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_calc_205_66_stride_3_is_kernel_10():
    result = solve(Design("conv", {"in": 205, "out": 66, "stride": 3, "pad": 0}))
    assert result["exact"] == [10] and result["floor_only"] == [8, 9]


@pytest.mark.parametrize(
    "values,unknown,exact",
    [
        ({"in": 224, "kernel": 3, "out": 224, "pad": None}, "pad", [1]),  # 'same' padding
        ({"in": 227, "kernel": 11, "out": 55, "stride": None}, "stride", [4]),  # AlexNet conv1
        ({"in": None, "kernel": 3, "out": 112, "stride": 2, "pad": 1}, "in", [223]),
        ({"in": 32, "kernel": 3, "out": 28, "dilation": None}, "dilation", [2]),
    ],
)
def test_calc_solves_each_unknown(values, unknown, exact):
    result = solve(Design("conv", {k: v for k, v in values.items()}))
    assert result["unknown"] == unknown and result["exact"] == exact


def test_calc_no_solution_and_usage(capsys):
    code, out, _ = run(capsys, "calc", "conv", "--in", "205", "--out", "66", "--stride", "4")
    assert code == 1 and "no integer kernel makes the design exact" in out  # an impossible design fails
    code, _, err = run(capsys, "calc", "conv", "--in", "205", "--stride", "3")
    assert code == 2 and "exactly one unknown" in err


def test_calc_wrong_out_is_a_failed_check(capsys):
    code, out, _ = run(capsys, "calc", "conv", "--in", "205", "--kernel", "10", "--out", "66", "--pad", "0")
    assert code == 1 and f"--out 66 is wrong: the layer gives {205 - 10 + 1}" in out
    code, out, _ = run(capsys, "calc", "conv", "--in", "205", "--kernel", "10", "--out", "66", "--stride", "3")
    assert code == 0 and "--out 66 is right" in out
    code, out, _ = run(capsys, "calc", "conv", "--in", "5", "--kernel", "10")
    assert code == 1 and "no output" in out


@pytest.mark.parametrize(
    "pad,message",
    [
        (0, "2 input row(s) are never covered"),
        (1, "2 row(s) of the padded input are never covered: 1 input row(s) and 1 of padding"),
        (2, "the last 2 row(s) of padding are never covered (every input row is)"),
    ],
)
def test_calc_uncovered_rows_count_only_real_input_rows(capsys, pad, message):
    size = {0: 207, 1: 205, 2: 203}[pad]  # (size + 2·pad − 10) % 3 = 2 in each case
    assert (size + 2 * pad - 10) % 3 == 2
    code, out, _ = run(capsys, "calc", "conv", "--in", str(size), "--kernel", "10", "--stride", "3", "--pad", str(pad))
    assert code == 0 and message in out


def test_calc_convtranspose_and_pool(capsys):
    code, out, _ = run(
        capsys,
        "calc",
        "convtranspose",
        "--in",
        "14",
        "--kernel",
        "3",
        "--stride",
        "2",
        "--pad",
        "1",
        "--output-padding",
        "1",
        "--cin",
        "16",
        "--cout",
        "8",
    )
    assert "out = 28" in out and f"{16 * 8 * 9 + 8:,}" in out and f"{14 * 14 * 16 * 8 * 9:,}" in out
    code, out, _ = run(capsys, "calc", "pool", "--in", "112", "--kernel", "3", "--stride", "2", "--pad", "1")
    assert "out = 56" in out


def test_calc_prints_params_and_macs_of_a_depthwise_layer(capsys):
    code, out, _ = run(
        capsys,
        "calc",
        "conv",
        "--in",
        "224",
        "--kernel",
        "3",
        "--stride",
        "2",
        "--pad",
        "1",
        "--cin",
        "32",
        "--cout",
        "64",
        "--groups",
        "32",
    )
    assert f"= {(3 * 3 * (32 // 32) + 1) * 64:,}" in out  # (m·n·(d/g) + 1)·k
    assert f"= {112 * 112 * (3 * 3 * 32 // 32) * 64:,}" in out


def test_explain_unknown_node_suggests_names(capsys):
    code, _, err = run(capsys, "explain", str(SAMPLES / "mobilenet_v2.onnx"), "/features/features.3/conv/conv.1/Conv")
    assert code == 2 and "did you mean: /features/features.3/conv/conv.2/Conv" in err


def test_explain_other_ops_print_their_rule(capsys):
    code, out, _ = run(capsys, "explain", str(SAMPLES / "mobilenet_v2.onnx"), "--op", "Gemm")
    assert "MACs: M·K·N" in out and "1*1280*1000" in out


def test_training_conv_chain_first_layer_skips_dx():
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["a"], name="c1", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["a"], ["b"], name="r"),
        helper.make_node("Conv", ["b", "w2"], ["y"], name="c2", pads=[1, 1, 1, 1]),
    ]
    model = make_model(
        nodes, [vi("x", [2, 3, 8, 8])], [vi("y", None)], [tensor("w1", (4, 3, 3, 3)), tensor("w2", (5, 4, 3, 3))]
    )
    mg = modelaudit.load(model)
    from modelaudit.analyses.training import with_training as _with_training

    report = _with_training(mg, modelaudit.analyze(mg))
    c1, relu, c2 = report.to_dict()["rows"]
    assert c1["backward_macs"] == c1["macs"]  # x is a graph input: only dW
    assert c2["backward_macs"] == 2 * c2["macs"]  # dW and dX
    assert relu["backward_flops"] == 2 * relu["flops"]
    t = report.training
    assert t["backward_macs"] == c1["macs"] + 2 * c2["macs"]
    assert t["training_macs_per_sample"] == (int(report.totals.macs) + int(t["backward_macs"])) // 2
    # saved: x (for dW1), a (ReLU's input... ReLU keeps its output b), b (for dW2)
    assert t["saved_activation_bytes"] == 4 * (2 * 3 * 8 * 8 + 2 * 4 * 8 * 8)


def test_training_lstm_follows_the_course_chain():
    from modelaudit.analyses.training import with_training as _with_training

    mg = modelaudit.load(SAMPLES / "lstm.onnx")
    report = _with_training(mg, modelaudit.analyze(mg))
    (row,) = report.to_dict()["rows"]
    seq, batch, inputs, hidden = 5, 1, 10, 20
    assert LSTM_BACKWARD_PER_UNIT == 25
    assert row["backward_macs"] == 2 * row["macs"] - seq * batch * 4 * hidden * inputs
    assert row["backward_flops"] == 2 * row["backward_macs"] + seq * batch * hidden * 25
    assert report.training["batch"] == 1


def test_training_totals_with_unknown_macs_are_never_zero(tmp_path, capsys):
    """--training on a model whose batch is left symbolic printed `backward MACs 0 (0)` and
    `training MACs 0 per step`, and JSON said 0 with nothing to tell it from a real 0: the backward
    totals are unknown like the forward MACs they double."""
    import json

    import onnx

    # x[batch, 8] · w[8, 8] then Relu then · w2[8, 4]
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["a"], name="mm1"),
        helper.make_node("Relu", ["a"], ["b"], name="r"),
        helper.make_node("MatMul", ["b", "w2"], ["y"], name="mm2"),
    ]
    path = tmp_path / "mlp.onnx"
    onnx.save(
        make_model(nodes, [vi("x", ["batch", 8])], [vi("y", None)], [tensor("w", (8, 8)), tensor("w2", (8, 4))]), path
    )
    assert main(["report", str(path), "--training"]) == 0
    out = capsys.readouterr().out
    backward = next(line for line in out.splitlines() if line.strip().startswith("backward MACs"))
    step = next(line for line in out.splitlines() if line.strip().startswith("training MACs"))
    assert "unknown" in backward and "unknown" in step and " 0 " not in backward + " ", (backward, step)
    assert main(["report", str(path), "--training", "--format", "json"]) == 0
    tr = json.loads(capsys.readouterr().out)["training"]
    unknown = {"value": None, "bound": "unknown"}
    assert tr["backward_macs"] == tr["training_macs"] == tr["saved_activation_bytes"] == unknown
    assert main(["report", str(path), "--training", "--dim", "batch=2", "--format", "json"]) == 0
    tr = json.loads(capsys.readouterr().out)["training"]
    # mm1: x is a graph input, only dW: 2·8·8; mm2: dW and dX: 2·(2·8·4)
    assert tr["backward_macs"] == {"value": 2 * 8 * 8 + 2 * (2 * 8 * 4), "bound": "exact"}
