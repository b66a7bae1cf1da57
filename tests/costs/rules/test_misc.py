"""Signal, sorting, detection and elementwise rules against their written-out counts."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import make_model, tensor, vi
from onnx import helper, numpy_helper

import modelaudit


def one_row(node, inputs, inits=(), opset=17):
    model = make_model([node], inputs, [vi(o, None) for o in node.output], inits, opset=opset)
    report = modelaudit.audit(model)
    return report.rows[-1]


def test_dft_is_5_n_log2_n_per_transform():
    node = helper.make_node("DFT", ["x"], ["y"], axis=1)
    row = one_row(node, [vi("x", [3, 64, 1])], opset=17)
    assert row.flops == 3 * math.ceil(5 * 64 * math.log2(64))


def test_topk_unique_det():
    x = vi("x", [4, 100])
    k = numpy_helper.from_array(np.array([5], np.int64), "k")
    row = one_row(helper.make_node("TopK", ["x", "k"], ["v", "i"], axis=1), [x], [k])
    assert row.flops == 4 * 100 * math.ceil(math.log2(5 + 1))
    row = one_row(helper.make_node("Det", ["m"], ["d"]), [vi("m", [2, 6, 6])])
    assert row.flops == 2 * math.ceil(2 * 6**3 / 3)


def test_swish_swiglu_cumsum_range():
    assert one_row(helper.make_node("Swish", ["x"], ["y"]), [vi("x", [2, 10])], opset=24).flops == 6 * 20
    assert (
        one_row(helper.make_node("SwiGLU", ["a", "b"], ["y"]), [vi("a", [2, 10]), vi("b", [2, 10])], opset=28).flops
        == 7 * 20
    )
    axis = numpy_helper.from_array(np.array(0, np.int64), "axis")
    assert one_row(helper.make_node("CumSum", ["x", "axis"], ["y"]), [vi("x", [2, 10])], [axis]).flops == 20


def test_grid_sample_bilinear():
    node = helper.make_node("GridSample", ["x", "grid"], ["y"], mode="linear")
    row = one_row(node, [vi("x", [1, 3, 8, 8]), vi("grid", [1, 5, 6, 2])], opset=20)
    assert row.flops == 3 * (2**2 - 1) * (1 * 3 * 5 * 6) + 4 * 2 * (1 * 5 * 6)


def test_resize_linear_and_nearest():
    scales = numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales")
    linear = helper.make_node("Resize", ["x", "", "scales"], ["y"], mode="linear")
    row = one_row(linear, [vi("x", [1, 3, 4, 4])], [scales])
    assert row.outputs == ["1x3x8x8"] and row.flops == 3 * (2**2 - 1) * (3 * 8 * 8)
    nearest = helper.make_node("Resize", ["x", "", "scales"], ["y"], mode="nearest")
    assert one_row(nearest, [vi("x", [1, 3, 4, 4])], [scales]).flops == 0


@pytest.mark.parametrize(
    "op,per_element",
    [("Relu", 1), ("Sigmoid", 4), ("HardSwish", 5), ("Tanh", 1), ("LeakyRelu", 2), ("Softmax", 5), ("Erf", 1)],
)
def test_elementwise_table(op, per_element):
    assert one_row(helper.make_node(op, ["x"], ["y"]), [vi("x", [3, 7])]).flops == per_element * 21


def test_pooling():
    row = one_row(
        helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
        [vi("x", [1, 8, 16, 16])],
    )
    assert row.outputs == ["1x8x8x8"] and row.flops == (3 * 3 - 1) * 8 * 8 * 8
    row = one_row(
        helper.make_node("AveragePool", ["x"], ["y"], kernel_shape=[2, 2], strides=[2, 2]), [vi("x", [1, 8, 16, 16])]
    )
    assert row.flops == (2 * 2) * 8 * 8 * 8
    row = one_row(helper.make_node("GlobalAveragePool", ["x"], ["y"]), [vi("x", [2, 8, 7, 7])])
    assert row.flops == 2 * 8 * 7 * 7


def test_layer_norm_and_reduce():
    row = one_row(
        helper.make_node("LayerNormalization", ["x", "s", "b"], ["y"], axis=-1),
        [vi("x", [2, 5, 16])],
        [tensor("s", (16,)), tensor("b", (16,))],
    )
    assert row.flops == (5 + 1 + 1) * 2 * 5 * 16
    axes = numpy_helper.from_array(np.array([1], np.int64), "axes")
    row = one_row(helper.make_node("ReduceMean", ["x", "axes"], ["y"]), [vi("x", [2, 5, 16])], [axes], opset=18)
    assert row.flops == 2 * 5 * 16 + 2 * 16
