"""Hostile models (issue 17): no negative figure, no internal error, every bad flag refused; each
model here is the minimal one that failed before its fix."""

from __future__ import annotations

import json
import sys

import onnx
import pytest
from conftest import ROOT, SAMPLES, make_model, tensor, vi
from onnx import helper

import modelaudit
from modelaudit.cli.main import main
from modelaudit.errors import EXIT_CODES, INTERNAL_ERROR
from modelaudit.figures import Figure


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert len(err.strip().splitlines()) <= 1 and "Traceback" not in err, err
    return code, out, err.strip()


def _conv(tmp_path, x=(1, 3, 8, 8), w=(4, 3, 3, 3), op="Conv", **attrs):
    node = helper.make_node(op, ["x", "w"], ["y"], name="c")
    for key, value in attrs.items():  # make_attribute keeps floats as floats, as a hostile writer would
        node.attribute.append(helper.make_attribute(key, value))
    model = make_model([node], [vi("x", list(x))], [vi("y", None)], [tensor("w", w)])
    path = tmp_path / "hostile.onnx"
    path.write_bytes(model.SerializeToString())
    return path


def _pool(tmp_path, **attrs):
    model = make_model(
        [helper.make_node("MaxPool", ["x"], ["y"], name="p", **attrs)], [vi("x", [1, 3, 8, 8])], [vi("y", None)]
    )
    path = tmp_path / "pool.onnx"
    path.write_bytes(model.SerializeToString())
    return path


# dilation 9 on a 3x3 kernel spans 9·(3−1)+1 = 19 > 8: floor((8 − 19) / 1) + 1 = −10 per axis, and
# (−10)·(−10) made the product positive (10,800 MACs); pads of −5: floor((8 − 10 − 3) / 1) + 1 = −4.
@pytest.mark.parametrize(
    "attrs, arithmetic",
    [
        ({"dilations": [9, 9]}, "floor((8 + 0 + 0 − 19) / 1) + 1 = -10 < 1"),
        ({"pads": [-5, -5, -5, -5]}, "floor((8 + -5 + -5 − 3) / 1) + 1 = -4 < 1"),
        ({"dilations": [9, 1]}, "floor((8 + 0 + 0 − 19) / 1) + 1 = -10 < 1"),  # one negative axis: negative MACs
    ],
)
def test_conv_without_output_is_an_error_row_never_a_figure(tmp_path, capsys, attrs, arithmetic):
    path = _conv(tmp_path, **attrs)
    report = modelaudit.audit(path)
    row = report.rows[0]
    assert row.status == "error" and row.macs is None and row.flops is None
    assert report.totals.macs == Figure.unknown()  # never a 0
    assert any(f"'c': output size along axis 2 is {arithmetic}" in w for w in report.warnings), report.warnings
    code, out, err = run(capsys, "check", path, "--max-macs", "1")
    assert code == 1 and "budget not proven" in out + err


def test_pool_and_conv_transpose_without_output_are_error_rows(tmp_path):
    rows = [
        modelaudit.audit(_pool(tmp_path, kernel_shape=[3, 3], pads=[-4, -4, -4, -4])).rows[0],
        modelaudit.audit(_pool(tmp_path, kernel_shape=[3, 3], dilations=[9, 9])).rows[0],
    ]
    # ConvTranspose: 1·(8 − 1) + 0 + 3 − 9 − 9 = −8
    path = _conv(tmp_path, w=(3, 4, 3, 3), op="ConvTranspose", pads=[9, 9, 9, 9])
    b = tensor("b", (4,))
    model = onnx.load(path)
    model.graph.initializer.append(b)
    model.graph.node[0].input.append("b")
    rows.append(modelaudit.audit(model).rows[0])
    assert [(r.status, r.macs) for r in rows] == [("error", None)] * 3
    assert "1·(8 − 1) + 0 + 3 − 9 − 9 = -8 < 1" in rows[2].formula


def test_a_rule_cannot_return_a_negative_cost():
    from modelaudit.costs.cost import Cost
    from modelaudit.costs.rules import rule, unregister

    @rule("Negative", domain="test.hostile", category="custom", macs="−1", flops="−2")
    def negative(ctx):
        return Cost(macs=-1, flops=-2, formula="-1")

    model = make_model(
        [helper.make_node("Negative", ["x"], ["y"], domain="test.hostile")], [vi("x", [2])], [vi("y", [2])]
    )
    model.opset_import.append(helper.make_opsetid("test.hostile", 1))
    try:
        report = modelaudit.audit(model)
    finally:
        unregister("Negative", "test.hostile")
    assert report.rows[0].status == "error" and report.totals.macs == report.totals.flops == Figure.unknown()


@pytest.mark.parametrize(
    "attrs, x, w, why",
    [
        ({"strides": [1, 1, 1]}, (1, 3, 8, 8), (4, 3, 3, 3), "strides [1, 1, 1] is not 2 integer(s)"),
        ({"strides": [1.5, 1.0]}, (1, 3, 8, 8), (4, 3, 3, 3), "strides [1.5, 1.0] is not 2 integer(s)"),
        ({"pads": [1, 1]}, (1, 3, 8, 8), (4, 3, 3, 3), "pads [1, 1] is not 4 integer(s)"),
        ({"pads": [1.0, 1.0, 1.0, 1.0]}, (1, 3, 8, 8), (4, 3, 3, 3), "is not 4 integer(s)"),
        ({"strides": [0, 0]}, (1, 3, 8, 8), (4, 3, 3, 3), "strides [0, 0]: each must be at least 1"),
        ({}, (1, 3, 2, 2, 2, 2, 2, 2, 2), (4, 3, 3, 3), "input of rank 9 against a 2-d kernel"),
    ],
)
def test_malformed_conv_is_an_error_row_in_report_and_explain(tmp_path, capsys, attrs, x, w, why):
    path = _conv(tmp_path, x=x, w=w, **attrs)
    row = modelaudit.audit(path).rows[0]
    assert row.status == "error" and why in row.formula
    code, out, err = run(capsys, "explain", path, "c")
    assert code == 0 and "(status error)" in out and why in out


def test_explain_conv_with_unknown_dim_names_the_unknown(tmp_path, capsys):
    model = make_model(
        [helper.make_node("Conv", ["x", "w"], ["y"], name="c")],
        [vi("x", [1, 3, 8, 8])],
        [vi("y", None)],
        [tensor("w", (4, 3, 3, 3))],
    )
    model.graph.input[0].type.tensor_type.shape.dim[2].dim_value = -1
    path = tmp_path / "minus1.onnx"
    path.write_bytes(model.SerializeToString())
    code, out, _ = run(capsys, "explain", path, "c")
    assert code == 0 and "(status unresolved)" in out


def test_training_on_a_recurrent_node_without_gate_breakdown(tmp_path, capsys):
    """R is a graph input of unknown shape: the rule costs the node from X and W, but no per-gate
    breakdown exists, and --training raised KeyError 'gates'."""
    hidden, inputs, seq, batch = 4, 3, 5, 2
    node = helper.make_node("LSTM", ["x", "w", "r"], ["y"], hidden_size=hidden)
    model = make_model(
        [node], [vi("x", [seq, batch, inputs]), vi("r", None)], [vi("y", None)], [tensor("w", (1, 4 * hidden, inputs))]
    )
    path = tmp_path / "lstm.onnx"
    path.write_bytes(model.SerializeToString())
    code, out, err = run(capsys, "report", path, "--training", "--format", "json")
    assert code == 0, err
    import json

    rows = json.loads(out)["rows"]
    macs = seq * batch * 1 * 4 * hidden * (inputs + hidden)
    assert rows[0]["macs"] == macs and rows[0]["backward_macs"] == 2 * macs  # the general convention


@pytest.mark.parametrize(
    "flag, value, why",
    [
        ("--timeout", "nan", "--timeout nan: give seconds above 0"),
        ("--timeout", "inf", "--timeout inf: give seconds above 0"),
        ("--timeout", "1e300", "--timeout 1e+300: give seconds above 0"),
        ("--max-memory", "99999999TiB", "--max-memory 99999999TiB: give a size above 0 and at most 1024 TiB"),
        ("--max-memory", "0", "--max-memory 0: give a size above 0"),
        ("--time-limit", "nan", "--time-limit nan: give seconds above 0"),
        ("--time-limit", "1e300", "--time-limit 1e+300: give seconds above 0"),
    ],
)
def test_absurd_runtime_limits_are_usage_errors(capsys, flag, value, why):
    code, _, err = run(capsys, "report", SAMPLES / "conv3x3.onnx", "--verify", flag, value)
    assert code == 2 and why in err


def test_jobs_are_capped_at_models_and_cpus(monkeypatch):
    from modelaudit.cli import batch

    started = []

    class Pool:
        def __init__(self, max_workers):
            started.append(max_workers)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def map(self, fn, work):
            return map(fn, work)

    monkeypatch.setattr(batch, "ProcessPoolExecutor", Pool)
    monkeypatch.setattr(batch.os, "cpu_count", lambda: 3)
    paths = [str(SAMPLES / "conv3x3.onnx"), str(SAMPLES / "mobilenet_v1_module.onnx")]
    assert [r[3] for r in batch.audit_many(paths, {}, {}, jobs=10_000)] == [0, 0]
    assert started == [2]  # two models: two workers, not 10,000
    list(batch.audit_many(paths * 3, {}, {}, jobs=10_000))
    assert started == [2, 3]  # six models on three CPUs


def test_report_into_a_closed_pipe_exits_0(monkeypatch, capsys):
    """`modelaudit report … | head -1`: the reader is gone. BrokenPipeError was caught by the generic
    handler, after it, and became exit 3 "internal error"."""
    import io
    import os

    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader left: every write raises BrokenPipeError (Python ignores SIGPIPE)
    closed = io.TextIOWrapper(io.FileIO(write_end, "wb"), encoding="utf-8")
    monkeypatch.setattr(sys, "stdout", closed)
    try:
        code = main(["report", str(SAMPLES / "mobilenet_v2.onnx")])
    finally:
        monkeypatch.undo()
        try:
            closed.close()
        except OSError:
            pass
    assert code == 0 and capsys.readouterr().err == ""


def test_internal_error_has_its_own_exit_code(capsys, monkeypatch):
    cli_main = sys.modules["modelaudit.cli.main"]  # the package's `main` attribute is the function

    def broken(args):
        raise KeyError(999)

    monkeypatch.setattr(cli_main, "run_ops", broken)
    code, _, err = run(capsys, "ops")
    assert code == INTERNAL_ERROR != 3 and err.startswith("modelaudit: error: internal error while auditing (KeyError")
    assert INTERNAL_ERROR in EXIT_CODES
    readme = (ROOT / "README.md").read_text()
    cli = (ROOT / "docs" / "cli.md").read_text()
    assert f"| {INTERNAL_ERROR} | internal error" in readme and f"| {INTERNAL_ERROR} | internal error" in cli


def test_group_not_dividing_channels_is_an_error_row(tmp_path):
    """X has 3 channels, W [4, 1, 3, 3] with group 2 needs 1·2 = 2: onnx.checker lets it pass, and the
    audit counted 6·6·(3·3·1)·4 = 1,296 MACs for a convolution no runtime performs."""
    row = modelaudit.audit(_conv(tmp_path, w=(4, 1, 3, 3), group=2)).rows[0]
    assert row.status == "error" and "X has 3 channels, but W's C_in/group 1 × group 2 = 2" in row.formula
    row = modelaudit.audit(_conv(tmp_path, w=(3, 1, 3, 3), group=2)).rows[0]
    assert row.status == "error" and "group 2 does not divide C_out 3" in row.formula


# A --hardware spec file is user-given: nan passed `value < 0` and `value == 0` (nan bandwidth, nan
# times), inf and 1e-320 made the ridge point nan and the HTML chart's log scale an internal error,
# `true` counted as 1, and `hardware = 3` was an internal error (iterating an int).
@pytest.mark.parametrize(
    "spec, key",
    [
        ("bandwidth_gbs = nan\n[peak_tflops]\nfp32 = 1\n", "bandwidth_gbs"),
        ("bandwidth_gbs = inf\n[peak_tflops]\nfp32 = 1\n", "bandwidth_gbs"),
        ("bandwidth_gbs = 10\n[peak_tflops]\nfp32 = inf\n", "peak_tflops"),
        ("bandwidth_gbs = 1e-320\n[peak_tflops]\nfp32 = 1\n", "bandwidth_gbs"),
        ("bandwidth_gbs = 10\n[peak_tflops]\nfp32 = 1e308\n", "peak_tflops"),
        ("bandwidth_gbs = 10\n[peak_tflops]\nfp32 = true\n", "peak_tflops"),
        ("bandwidth_gbs = 10\noverhead_us = nan\n[peak_tflops]\nfp32 = 1\n", "overhead_us"),
        ("bandwidth_gbs = 10\nattainable_bandwidth_gbs = nan\n[peak_tflops]\nfp32 = 1\n", "attainable_bandwidth_gbs"),
        ("hardware = 3\n", "[hardware] must be a table"),
        ("hardware = [1, 2]\n", "[hardware] must be a table"),
    ],
)
def test_hardware_spec_out_of_range_is_a_usage_error(tmp_path, capsys, spec, key):
    path = tmp_path / "chip.toml"
    path.write_text(spec)
    for fmt in ("text", "html"):
        code, out, err = run(capsys, "report", SAMPLES / "mobilenet_v2.onnx", "--hardware", path, "--format", fmt)
        assert code == 2 and key in err and not out, err


def test_hardware_spec_at_the_range_ends_is_accepted(tmp_path, capsys):
    path = tmp_path / "chip.toml"
    path.write_text("bandwidth_gbs = 1e6\noverhead_us = 0\n[peak_tflops]\nfp32 = 1e-6\n")
    code, out, err = run(capsys, "report", SAMPLES / "mobilenet_v2.onnx", "--hardware", path, "--format", "json")
    assert code == 0, err
    assert "nan" not in out.lower() and "infinity" not in out.lower()


def _matmul_with_dim(tmp_path, dim: str, where: str):
    """x[dim, 4] @ w[4, 8]; the expression is the input's first dim, or that of the output's value_info."""
    nodes = [helper.make_node("MatMul", ["x", "w"], ["h"], name="mm"), helper.make_node("Relu", ["h"], ["y"], name="r")]
    model = make_model(nodes, [vi("x", [dim if where == "input" else "n", 4])], [vi("y", None)], [tensor("w", (4, 8))])
    if where == "value_info":
        model.graph.value_info.append(vi("h", [dim, 8]))
    path = tmp_path / "dims.onnx"
    path.write_bytes(model.SerializeToString())
    return path


# A dim expression whose value passes int64 (10⁴ to the sixth power is 10²⁴) was written into the
# TensorShapeProto and protobuf raised: exit 70. Past int64 the expression is unknown, as a fraction is.
@pytest.mark.parametrize("where", ["input", "value_info"])
def test_dim_expression_past_int64_is_unknown_not_an_internal_error(tmp_path, capsys, where):
    path = _matmul_with_dim(tmp_path, "n*n*n*n*n*n", where)
    code, out, err = run(capsys, "report", path, "--dim", "n=10000", "--format", "json")
    assert code == 0, err
    assert '": -' not in out and "NaN" not in out


@pytest.mark.parametrize(
    "argv, said",
    [
        (["--dim", "n=99999999999999999999"], "at most 9,223,372,036,854,775,807"),  # > 2^63 − 1
        (["--input", "x=99999999999999999999x4"], "at most 9,223,372,036,854,775,807"),
        (["--dim", "n=²"], "a whole number"),  # str.isdigit() took it, int() raised: exit 70
    ],
)
def test_dim_flags_past_int64_or_not_ascii_digits_are_usage_errors(tmp_path, capsys, argv, said):
    code, out, err = run(capsys, "report", _matmul_with_dim(tmp_path, "n", "input"), *argv)
    assert code == 2 and said in err, err


def test_dim_flag_at_int64_max_is_counted_exactly(tmp_path, capsys):
    code, out, err = run(
        capsys, "report", _matmul_with_dim(tmp_path, "n", "input"), "--dim", f"n={2**63 - 1}", "--format", "json"
    )
    assert code == 0, err
    assert json.loads(out)["totals"]["macs"] == {"value": (2**63 - 1) * 4 * 8, "bound": "exact"}
