"""Quantized models: integer convs and matmuls, QDQ chains with true dtypes, non-trainable scales."""

from __future__ import annotations

import math

import numpy as np
from conftest import make_model, run_ort, tensor, vi
from onnx import TensorProto, helper, numpy_helper

import modelaudit


def _s(name, value, dtype=np.float32):
    return numpy_helper.from_array(np.array(value, dtype), name)


def test_qlinear_conv():
    x_shape, w_shape = (1, 8, 10, 10), (16, 8, 3, 3)
    inputs = ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz", "b"]
    node = helper.make_node("QLinearConv", inputs, ["y"], pads=[1, 1, 1, 1])
    inits = [
        _s("xs", 0.1),
        _s("xz", 0, np.uint8),
        tensor("w", w_shape, np.int8),
        _s("ws", 0.05),
        _s("wz", 0, np.int8),
        _s("ys", 0.2),
        _s("yz", 0, np.uint8),
        tensor("b", (16,), np.int32),
    ]
    model = make_model([node], [vi("x", list(x_shape), TensorProto.UINT8)], [vi("y", None, TensorProto.UINT8)], inits)
    report = modelaudit.audit(model)
    (row,) = report.rows
    outputs = 1 * 16 * 10 * 10
    assert row.macs == outputs * 8 * 3 * 3
    assert row.flops == 2 * row.macs + 4 * outputs + outputs  # requantize, bias
    assert report.totals.params == math.prod(w_shape) + 16  # int8 weights, int32 bias
    assert report.totals.non_trainable == 6  # six scalar scales and zero points
    assert report.totals.weight_bytes_by_dtype == {
        "float32": 12,
        "int32": 64,
        "int8": math.prod(w_shape) + 1,
        "uint8": 2,
    }
    y = run_ort(model, {"x": np.zeros(x_shape, np.uint8)})[0]
    assert row.outputs == ["x".join(map(str, y.shape))]


def test_qlinear_matmul_and_integer_ops():
    node = helper.make_node("QLinearMatMul", ["a", "as", "az", "b", "bs", "bz", "ys", "yz"], ["y"])
    inits = [
        _s("as", 0.1),
        _s("az", 0, np.uint8),
        tensor("b", (16, 4), np.uint8),
        _s("bs", 0.1),
        _s("bz", 0, np.uint8),
        _s("ys", 0.1),
        _s("yz", 0, np.uint8),
    ]
    model = make_model([node], [vi("a", [3, 16], TensorProto.UINT8)], [vi("y", None)], inits)
    (row,) = modelaudit.audit(model).rows
    assert row.macs == 3 * 16 * 4 and row.flops == 2 * row.macs + 4 * 3 * 4
    mm = helper.make_node("MatMulInteger", ["a", "b"], ["y"])
    model = make_model([mm], [vi("a", [3, 16], TensorProto.UINT8)], [vi("y", None)], [tensor("b", (16, 4), np.uint8)])
    report = modelaudit.audit(model)
    assert report.rows[0].macs == 3 * 16 * 4 and report.totals.params == 16 * 4
    conv = helper.make_node("ConvInteger", ["x", "w"], ["y"])
    model = make_model(
        [conv], [vi("x", [1, 2, 5, 5], TensorProto.UINT8)], [vi("y", None)], [tensor("w", (4, 2, 3, 3), np.uint8)]
    )
    assert modelaudit.audit(model).rows[0].macs == 3 * 3 * (3 * 3 * 2) * 4


def test_qdq_weight_counts_once_with_its_true_dtype():
    """A QDQ weight shared by two convs: one int8 tensor, its scale and zero point non-trainable."""
    nodes = [
        helper.make_node("DequantizeLinear", ["wq", "ws", "wz"], ["w"], name="dq_w"),
        helper.make_node("QuantizeLinear", ["x", "xs", "xz"], ["xq"], name="q_x"),
        helper.make_node("DequantizeLinear", ["xq", "xs", "xz"], ["xd"], name="dq_x"),
        helper.make_node("Conv", ["xd", "w"], ["y1"], name="c1", pads=[1, 1, 1, 1]),
        helper.make_node("Conv", ["y1", "w"], ["y2"], name="c2", pads=[1, 1, 1, 1]),
    ]
    inits = [
        tensor("wq", (4, 4, 3, 3), np.int8),
        _s("ws", 0.02),
        _s("wz", 0, np.int8),
        _s("xs", 0.1),
        _s("xz", 0, np.int8),
    ]
    report = modelaudit.audit(make_model(nodes, [vi("x", [1, 4, 6, 6])], [vi("y2", None)], inits))
    assert report.totals.params == 4 * 4 * 3 * 3
    assert report.totals.non_trainable == 4
    assert report.totals.weight_bytes_by_dtype == {"float32": 8, "int8": 4 * 4 * 3 * 3 + 2}
    by_name = {r.name: r for r in report.rows}
    assert by_name["dq_w"].status == "constant"
    assert by_name["q_x"].flops == 4 * 4 * 6 * 6 and by_name["dq_x"].flops == 2 * 4 * 6 * 6
    assert by_name["c1"].macs == by_name["c2"].macs == 6 * 6 * (3 * 3 * 4) * 4


def test_int4_and_float8_weights_report_their_bytes():
    for dtype, name, bytes_each in ((TensorProto.INT4, "int4", 0.5), (TensorProto.FLOAT8E4M3FN, "float8e4m3fn", 1)):
        w = helper.make_tensor("wq", dtype, [16, 8], np.zeros(16 * 8, np.int32).tolist())
        nodes = [
            helper.make_node("DequantizeLinear", ["wq", "ws"], ["w"]),
            helper.make_node("MatMul", ["x", "w"], ["y"]),
        ]
        model = make_model(nodes, [vi("x", [1, 16])], [vi("y", None)], [w, _s("ws", 0.5)], opset=21)
        report = modelaudit.audit(model)
        assert report.totals.params == 16 * 8
        assert report.totals.weight_bytes_by_dtype[name] == int(16 * 8 * bytes_each)


def test_fp16_and_bf16_weights():
    for np_dtype, onnx_type, name in ((np.float16, TensorProto.FLOAT16, "float16"),):
        node = helper.make_node("MatMul", ["x", "w"], ["y"])
        model = make_model([node], [vi("x", [1, 16], onnx_type)], [vi("y", None)], [tensor("w", (16, 8), np_dtype)])
        assert modelaudit.audit(model).totals.weight_bytes_by_dtype == {name: 16 * 8 * 2}
    w = helper.make_tensor("w", TensorProto.BFLOAT16, [16, 8], np.zeros(16 * 8, np.float32).tolist())
    node = helper.make_node("MatMul", ["x", "w"], ["y"])
    model = make_model([node], [vi("x", [1, 16], TensorProto.BFLOAT16)], [vi("y", None)], [w])
    report = modelaudit.audit(model)
    assert report.totals.params == 16 * 8 and report.totals.weight_bytes_by_dtype == {"bfloat16": 16 * 8 * 2}
