"""Conv and ConvTranspose against independent formulas; output sizes checked by onnxruntime."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import make_model, run_ort, tensor, vi
from onnx import helper

import modelaudit


def _conv_model(x_shape, w_shape, bias=True, op="Conv", **attrs):
    inits = [tensor("w", w_shape)]
    inputs = ["x", "w"]
    if bias:
        c_out = w_shape[0] if op == "Conv" else w_shape[1] * attrs.get("group", 1)
        inits.append(tensor("b", (c_out,), seed=1))
        inputs.append("b")
    node = helper.make_node(op, inputs, ["y"], name="the_conv", **attrs)
    return make_model([node], [vi("x", list(x_shape))], [vi("y", None)], inits)


def _audit_and_run(model, x_shape):
    report = modelaudit.audit(model)
    (row,) = report.rows
    y = run_ort(model, {"x": np.zeros(x_shape, np.float32)})[0]
    assert row.outputs == ["x".join(map(str, y.shape))], "static output shape disagrees with onnxruntime"
    return report, row, y.shape


CONV_CASES = {
    # name: (x shape, w shape, attrs)
    "dense 3x3 same": ((1, 3, 28, 28), (128, 3, 3, 3), dict(pads=[1, 1, 1, 1])),
    "depthwise": ((1, 32, 56, 56), (32, 1, 3, 3), dict(group=32, pads=[1, 1, 1, 1])),
    "grouped": ((2, 16, 20, 20), (32, 4, 3, 3), dict(group=4)),
    "strided": ((1, 3, 205, 205), (16, 3, 10, 10), dict(strides=[3, 3])),
    "dilated": ((1, 8, 32, 32), (8, 8, 3, 3), dict(dilations=[2, 2], pads=[2, 2, 2, 2])),
    "1-D": ((4, 6, 100), (12, 6, 5), dict(strides=[2])),
    "3-D": ((1, 4, 8, 16, 16), (8, 4, 3, 3, 3), dict(pads=[1, 1, 1, 1, 1, 1])),
    "asymmetric pads": ((1, 2, 9, 9), (4, 2, 3, 3), dict(pads=[0, 1, 2, 0], strides=[2, 2])),
    "auto_pad SAME_UPPER": ((1, 3, 15, 15), (6, 3, 4, 4), dict(auto_pad="SAME_UPPER", strides=[2, 2])),
    "auto_pad VALID": ((1, 3, 15, 15), (6, 3, 4, 4), dict(auto_pad="VALID")),
}


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv_macs_params_flops(case):
    x_shape, w_shape, attrs = CONV_CASES[case]
    report, row, y_shape = _audit_and_run(_conv_model(x_shape, w_shape, **attrs), x_shape)
    c_out, cin_per_group, *kernel = w_shape
    # MACs: every output element is an inner product of (C_in/group)·∏k terms, padded zeros included.
    expected_macs = math.prod(y_shape) * cin_per_group * math.prod(kernel)
    assert row.macs == expected_macs
    assert report.totals.params == (math.prod(kernel) * cin_per_group + 1) * c_out
    assert row.flops == 2 * expected_macs + math.prod(y_shape)  # + one bias add per output


def test_course_conv_params_and_macs():
    """A 3×3 conv on 28×28×3 with 128 filters: ((3·3·3)+1)·128 params, 28·28·(3·3·3)·128 MACs."""
    report, row, _ = _audit_and_run(_conv_model((1, 3, 28, 28), (128, 3, 3, 3), pads=[1, 1, 1, 1]), (1, 3, 28, 28))
    assert report.totals.params == ((3 * 3 * 3) + 1) * 128 == 3584
    assert row.macs == 28 * 28 * (3 * 3 * 3) * 128
    assert row.formula.startswith("28*28*(3*3*3)*128")


def test_conv_without_bias_has_no_bias_flops():
    report, row, y_shape = _audit_and_run(_conv_model((1, 3, 8, 8), (4, 3, 3, 3), bias=False), (1, 3, 8, 8))
    assert row.flops == 2 * row.macs
    assert report.totals.params == 4 * 3 * 3 * 3


TRANSPOSED_CASES = {
    "2x upsample": ((1, 16, 14, 14), (16, 8, 3, 3), dict(strides=[2, 2], pads=[1, 1, 1, 1], output_padding=[1, 1])),
    "grouped": ((2, 8, 5, 5), (8, 3, 2, 2), dict(group=2, strides=[2, 2])),
    "1-D": ((1, 4, 10), (4, 6, 5), dict(strides=[3])),
    "dilated": ((1, 2, 6, 6), (2, 2, 3, 3), dict(dilations=[2, 2])),
}


@pytest.mark.parametrize("case", TRANSPOSED_CASES)
def test_conv_transpose_is_not_conv(case):
    x_shape, w_shape, attrs = TRANSPOSED_CASES[case]
    report, row, y_shape = _audit_and_run(_conv_model(x_shape, w_shape, op="ConvTranspose", **attrs), x_shape)
    # Every input pixel is multiplied by every weight once: N·|W|·|X spatial|.
    assert row.macs == x_shape[0] * math.prod(w_shape) * math.prod(x_shape[2:])
    assert row.flops == 2 * row.macs + math.prod(y_shape)
    c_out = w_shape[1] * attrs.get("group", 1)
    assert report.totals.params == math.prod(w_shape) + c_out


def test_conv_output_computed_when_inference_has_no_shape():
    """A conv whose output shape annotation is missing still gets its MACs from X and the attributes."""
    model = _conv_model((1, 3, 32, 32), (8, 3, 5, 5), strides=[2, 2], pads=[2, 2, 2, 2])
    from modelaudit.costs.cost import NodeContext
    from modelaudit.costs.rules.conv import conv
    from modelaudit.shapes.infer import TensorInfo

    node = model.graph.node[0]
    ctx = NodeContext(
        node,
        0,
        17,
        {"strides": [2, 2], "pads": [2, 2, 2, 2], "group": 1},
        [TensorInfo("x", (1, 3, 32, 32), 1), TensorInfo("w", (8, 3, 5, 5), 1), TensorInfo("b", (8,), 1)],
        [TensorInfo("y", None, 1)],
    )
    out = (32 + 2 + 2 - 5) // 2 + 1
    assert conv(ctx).macs == out * out * (5 * 5 * 3) * 8
