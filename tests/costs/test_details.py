"""details(): a conv's kind and a recurrent node's params per gate, also where a weight's dims are symbolic."""

from __future__ import annotations

from conftest import make_model, vi
from onnx import helper

import modelaudit


def test_conv_transpose_with_a_symbolic_weight_dim_is_unresolved_not_an_internal_error():
    # W fed as a graph input with a symbolic first dim: the kind needs W's dims (C_in / group), and
    # `c // group` on a name was a TypeError (exit 70) before
    node = helper.make_node("ConvTranspose", ["x", "w"], ["y"], name="up", group=2)
    model = make_model([node], [vi("x", [1, 4, 8, 8]), vi("w", ["c", 2, 3, 3])], [vi("y", None)])
    (row,) = modelaudit.analyze(modelaudit.load(model)).rows
    assert row.status == "unresolved" and row.macs is None
    assert row.details == {"group": 2}  # neither "depthwise" nor "grouped" is known


def test_conv_transpose_kind_from_known_dims():
    node = helper.make_node("ConvTranspose", ["x", "w"], ["y"], name="up", group=4)
    model = make_model([node], [vi("x", [1, 4, 8, 8]), vi("w", [4, 1, 3, 3])], [vi("y", None)])
    (row,) = modelaudit.analyze(modelaudit.load(model)).rows
    assert row.details == {"conv": "depthwise", "group": 4}  # 4 input channels / 4 groups = 1 per group
