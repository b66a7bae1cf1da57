"""No figure is negative anywhere (issue 28 item 4): a trip count or a size below 0 is an error row
that says why, as a conv window below 1 already is (tests/test_hostile.py), so the totals are
incomplete and no budget passes on them."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stderr, redirect_stdout

import numpy as np
import onnx
import pytest
from conftest import make_model, tensor, vi
from onnx import TensorProto, helper, numpy_helper

import modelaudit
from modelaudit.cli.main import main
from modelaudit.figures import Figure


def _int64(name: str, values) -> onnx.TensorProto:
    return numpy_helper.from_array(np.array(values, np.int64), name)


def _loop(trip: int) -> onnx.ModelProto:
    """A Loop of `trip` iterations (a constant initializer) over x[1, 1024] · W[1024, 1024]."""
    body = helper.make_graph(
        [helper.make_node("MatMul", ["xin", "w"], ["xout"]), helper.make_node("Identity", ["cond_in"], ["cond_out"])],
        "body",
        [vi("i", [], TensorProto.INT64), vi("cond_in", [], TensorProto.BOOL), vi("xin", [1, 1024])],
        [vi("cond_out", [], TensorProto.BOOL), vi("xout", [1, 1024])],
    )
    return make_model(
        [helper.make_node("Loop", ["M", "", "x"], ["y"], body=body, name="loop")],
        [vi("x", [1, 1024])],
        [vi("y", [1, 1024])],
        [tensor("w", (1024, 1024)), _int64("M", trip)],
    )


def _reshape(shape: list[int]) -> onnx.ModelProto:
    return make_model(
        [helper.make_node("Reshape", ["x", "s"], ["y"], name="reshape"), helper.make_node("Cos", ["y"], ["z"])],
        [vi("x", [2, 3])],
        [vi("z", None)],
        [_int64("s", shape)],
    )


def _constant_of_shape() -> onnx.ModelProto:
    return make_model(
        [helper.make_node("ConstantOfShape", ["s"], ["y"], name="fill"), helper.make_node("Cos", ["y"], ["z"])],
        [],
        [vi("z", None)],
        [_int64("s", [2, -3])],
    )


def _numbers(value, path=""):
    """Every number of a JSON document, with where it is."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _numbers(v, f"{path}.{k}")
    elif isinstance(value, list):
        for v in value:
            yield from _numbers(v, f"{path}[]")
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield path, value


def _cli(*argv) -> tuple[int, str]:
    out = io.StringIO()
    with redirect_stdout(out), redirect_stderr(io.StringIO()):
        code = main([str(a) for a in argv])
    return code, out.getvalue()


def test_a_negative_trip_count_is_an_error_row_and_its_body_is_not_counted(tmp_path):
    """Loop M = −2 multiplied its body by −2: totals.macs = −2·1024·1024, "complete", and
    `check --max-macs 0 --max-flops 0` passed. Now the Loop is an error row and its body runs 0 times."""
    report = modelaudit.audit(_loop(-2))
    loop, matmul = report.rows[0], report.rows[1]
    assert loop.status == "error" and loop.macs is None and "trip count -2 < 0" in loop.formula
    assert matmul.runs == 0 and matmul.macs == 1 * 1024 * 1024  # its own figure stands; it is not run
    assert report.totals.macs == report.totals.flops == Figure.unknown()  # the Loop's MACs: never 0
    path = tmp_path / "loop.onnx"
    onnx.save(_loop(-2), path)
    code, out = _cli("check", path, "--max-macs", "0", "--max-flops", "0")
    assert code == 1 and "within budget" not in out and "budget not proven" in out
    positive = modelaudit.audit(_loop(3))  # the same Loop run 3 times: 3·1024·1024 MACs, complete
    assert positive.totals.macs == 3 * 1024 * 1024 and positive.totals.macs.complete


@pytest.mark.parametrize(
    "model, shape",
    [(_reshape([-5]), "-5"), (_reshape([-1, -1]), "x-1"), (_constant_of_shape(), "2x-3")],
    ids=["reshape to -5", "reshape with two -1s", "ConstantOfShape of a negative dim"],
)
def test_a_size_below_zero_is_an_error_row_never_a_negative_byte_count(tmp_path, model, shape):
    """A Reshape to −5 or with two −1s, and a ConstantOfShape of a negative dim, gave negative
    output_bytes and activation totals (Cos after them too), so `check --max-activation-bytes 0` passed."""
    report = modelaudit.audit(model)
    rows = {r.op: r for r in report.rows}
    producer = rows.get("Reshape") or rows["ConstantOfShape"]
    assert producer.status == "error" and producer.output_bytes is None
    assert shape in producer.formula and "a dim below 0 is no size" in producer.formula
    assert rows["Cos"].status == "error" and rows["Cos"].flops is None  # it reads that tensor
    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    code, out = _cli("report", path, "--format", "json")
    assert code == 0
    negative = [(where, v) for where, v in _numbers(json.loads(out)) if v < 0]
    assert not negative, negative
    code, out = _cli("check", path, "--max-activation-bytes", "0", "--max-macs", "0", "--max-flops", "0")
    assert code == 1 and "within budget" not in out and "budget not proven" in out
    code, out = _cli("report", path, "--training", "--format", "json")
    assert code == 0 and not [(w, v) for w, v in _numbers(json.loads(out)) if v < 0]
