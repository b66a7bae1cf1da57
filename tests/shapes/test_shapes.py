"""Shape inference with integer folding: the ShuffleNetV2 channel split that onnx alone leaves open."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from conftest import make_model, run_ort, tensor, vi
from onnx import TensorProto, helper, numpy_helper

import modelaudit


class _Net:
    """Builds nodes the way torch.onnx exports ShuffleNetV2 with a dynamic batch."""

    def __init__(self):
        self.nodes, self.inits, self.count = [], [], 0

    def name(self, stem):
        self.count += 1
        return f"{stem}_{self.count}"

    def const(self, values):
        out = self.name("c")
        self.nodes.append(
            helper.make_node(
                "Constant", [], [out], value=helper.make_tensor(out, TensorProto.INT64, [len(values)], values)
            )
        )
        return out

    def op(self, op_type, inputs, **attrs):
        out = self.name(op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=f"/{out}", **attrs))
        return out

    def conv1x1(self, x, c):
        w = self.name("w")
        self.inits.append(tensor(w, (c, c, 1, 1), seed=self.count))
        return self.op("Relu", [self.op("Conv", [x, w])])

    def dim(self, x, axis):
        return self.op("Gather", [self.op("Shape", [x]), self.const([axis])], axis=0)

    def unit(self, x):
        """x1, x2 = x.chunk(2, dim=1); cat(x1, branch(x2)); channel_shuffle(·, 2)."""
        half = self.op("Div", [self.op("Add", [self.dim(x, 1), self.const([1])]), self.const([2])])
        end1 = self.op("Mul", [half, self.const([1])])
        end2 = self.op("Mul", [half, self.const([2])])
        x1 = self.op("Slice", [x, self.const([0]), end1, self.const([1])])
        x2 = self.op("Slice", [x, end1, end2, self.const([1])])
        y = self.op("Concat", [x1, self.conv1x1(x2, 58)], axis=1)
        b, c, h, w = (self.dim(y, a) for a in range(4))
        per_group = self.op("Div", [c, self.const([2])])
        shape5 = self.op("Concat", [b, self.const([2]), per_group, h, w], axis=0)
        z = self.op("Transpose", [self.op("Reshape", [y, shape5])], perm=[0, 2, 1, 3, 4])
        shape4 = self.op("Concat", [b, self.const([-1]), h, w], axis=0)
        return self.op("Reshape", [z, shape4])


def shufflenet_like(units: int = 4, batch="batch"):
    net = _Net()
    x = "x"
    for _ in range(units):
        x = net.unit(x)
    return make_model(net.nodes, [vi("x", [batch, 116, 28, 28])], [vi(x, None)], net.inits, opset=13)


def _conv_outputs_known_by_onnx_alone(model):
    inferred = onnx.shape_inference.infer_shapes(model, data_prop=True)
    shapes = {v.name: v.type.tensor_type.shape for v in inferred.graph.value_info}
    convs = [n.output[0] for n in model.graph.node if n.op_type == "Conv"]
    return sum(1 for c in convs if c in shapes and all(d.HasField("dim_value") for d in shapes[c].dim))


def test_channel_split_resolved_by_folding():
    model = shufflenet_like(units=4, batch=1)
    assert _conv_outputs_known_by_onnx_alone(model) < 4, "precondition: onnx alone leaves convs open"
    report = modelaudit.audit(model)
    convs = [r for r in report.rows if r.op == "Conv"]
    assert len(convs) == 4
    for row in convs:
        assert row.outputs == ["1x58x28x28"]
        assert row.macs == 28 * 28 * (1 * 1 * 58) * 58
    assert report.totals.macs.complete
    y = run_ort(model, {"x": np.zeros((1, 116, 28, 28), np.float32)})[0]
    assert report.rows[-1].outputs == ["x".join(map(str, y.shape))]


def test_symbolic_batch_travels_through_the_split_and_is_named_in_the_hint():
    model = shufflenet_like(units=2)
    report = modelaudit.audit(model)
    convs = [r for r in report.rows if r.op == "Conv"]
    assert all(r.outputs == ["batchx58x28x28"] and r.macs is None for r in convs)
    assert [u["dim"] for u in report.unresolved] == ["batch"]
    assert report.unresolved[0]["flag"] == "--dim batch=N"
    assert report.totals.params == 2 * 58 * 58  # params never wait for shapes
    fixed = modelaudit.audit(model, dims={"batch": 3})
    assert [r.macs for r in fixed.rows if r.op == "Conv"] == [3 * 28 * 28 * (1 * 1 * 58) * 58] * 2


def test_input_override_fixes_an_anonymous_dim():
    node = helper.make_node("Relu", ["x"], ["y"])
    model = make_model([node], [vi("x", [None, 8])], [vi("y", None)])
    report = modelaudit.audit(model)
    assert report.rows[0].flops is None
    assert report.unresolved[0]["flag"] == "--input x=Nx8"
    assert modelaudit.audit(model, inputs={"x": (5, 8)}).rows[0].flops == 5 * 8


@pytest.mark.parametrize(
    "inputs,dims,message",
    [
        ({"nope": (1, 8)}, {}, "--input nope: the model has no input named 'nope' (its inputs are: x)"),
        ({"x": (1, 8, 1)}, {}, "--input x: the model declares rank 2, the flag gives rank 3"),
        ({"x": (1, 9)}, {}, "--input x: dim 1 is fixed to 8 by the model, the flag gives 9"),
        ({}, {"seq": 4}, "--dim seq: no input has a dim named 'seq' (named dims: batch)"),
    ],
)
def test_bad_overrides_are_usage_errors(inputs, dims, message):
    model = make_model([helper.make_node("Relu", ["x"], ["y"])], [vi("x", ["batch", 8])], [vi("y", None)])
    with pytest.raises(modelaudit.UsageError) as info:
        modelaudit.audit(model, inputs=inputs, dims=dims)
    assert info.value.one_line() == message
    assert info.value.exit_code == 2


def test_a_constant_whose_bytes_stayed_in_the_file_is_never_decoded(tmp_path):
    """PP-OCRv4's recognizer: a 120x480 Constant (230 KB of float32, under the fold limit) loses
    its bytes in the weightless read; the fallback pass (run because NonZero's output is data-
    dependent) used to decode it as empty and crash."""
    weight = numpy_helper.from_array(np.ones((120, 480, 1, 1), np.float32), "w")
    nodes = [
        helper.make_node("Constant", [], ["w"], value=weight),
        helper.make_node("Conv", ["x", "w"], ["y"]),
        helper.make_node("NonZero", ["y"], ["nz"]),
    ]
    path = tmp_path / "mid_constant.onnx"
    onnx.save(make_model(nodes, [vi("x", [1, 480, 4, 4])], [vi("nz", None, TensorProto.INT64)]), path)
    report = modelaudit.audit(path)
    conv = next(r for r in report.rows if r.op == "Conv")
    assert conv.params == 120 * 480 * 1 * 1
    assert conv.macs == 4 * 4 * (1 * 1 * 480) * 120


def test_holds_data_tells_a_stripped_tensor_from_a_full_one():
    from modelaudit.load.initializers import holds_data

    full = numpy_helper.from_array(np.ones((3, 2), np.float32), "t")
    stripped = TensorProto(name="t", data_type=TensorProto.FLOAT, dims=[3, 2])
    empty = TensorProto(name="e", data_type=TensorProto.FLOAT, dims=[0, 2])
    assert holds_data(full) and holds_data(empty) and not holds_data(stripped)


def test_known_values_decode_on_demand_and_never_a_stripped_tensor():
    """Small initializers become values when first asked for; one whose bytes stayed in the file is
    no value, whichever way it is asked (in, get, [])."""
    from modelaudit.load.initializers import read_initializers
    from modelaudit.shapes.propagate import initial_values

    graph = helper.make_graph(
        [],
        "g",
        [],
        [],
        [
            numpy_helper.from_array(np.array([2, 3], np.int64), "shape"),
            TensorProto(name="stripped", data_type=TensorProto.INT64, dims=[2]),
        ],
    )
    values = initial_values(read_initializers(graph))
    assert "stripped" not in values and values.get("stripped") is None
    with pytest.raises(KeyError):
        values["stripped"]
    assert "shape" in values and values["shape"].tolist() == [2, 3] and values.get("shape").tolist() == [2, 3]
