"""Weights wherever they live, counted once; statistics and quantization parameters non-trainable."""

from __future__ import annotations

import numpy as np
from conftest import make_model, tensor, vi
from onnx import TensorProto, helper, numpy_helper

import modelaudit


def _matmul_model(weight_nodes, weight_name, inits=(), k=16, n=8):
    nodes = list(weight_nodes) + [helper.make_node("MatMul", ["x", weight_name], ["y"], name="mm")]
    return make_model(nodes, [vi("x", [1, k])], [vi("y", None)], inits)


def test_shared_weight_counted_once():
    w = tensor("w", (16, 16))
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["h"], name="first"),
        helper.make_node("MatMul", ["h", "w"], ["y"], name="second"),
    ]
    report = modelaudit.audit(make_model(nodes, [vi("x", [1, 16])], [vi("y", None)], [w]))
    assert report.totals.params == 16 * 16
    assert [r.params for r in report.rows] == [16 * 16, 0]  # reported on its first user
    assert report.totals.macs == 2 * 16 * 16


def test_identity_alias_is_the_same_tensor():
    nodes = [
        helper.make_node("Identity", ["w"], ["w_alias"]),
        helper.make_node("MatMul", ["x", "w"], ["h"]),
        helper.make_node("MatMul", ["h", "w_alias"], ["y"]),
    ]
    report = modelaudit.audit(make_model(nodes, [vi("x", [1, 16])], [vi("y", None)], [tensor("w", (16, 16))]))
    assert report.totals.params == 16 * 16


def test_constant_node_weights_count():
    """PaddlePaddle keeps every weight in Constant nodes; peers report 0 params for them."""
    value = numpy_helper.from_array(np.ones((16, 8), np.float32), "w")
    report = modelaudit.audit(_matmul_model([helper.make_node("Constant", [], ["w"], value=value)], "w"))
    assert report.totals.params == 16 * 8
    assert report.totals.weight_bytes_by_dtype == {"float32": 16 * 8 * 4}


def test_constant_of_shape_weights_count():
    """onnx's light models make their weights at run time with ConstantOfShape."""
    nodes = [
        helper.make_node("Constant", [], ["shape"], value=helper.make_tensor("s", TensorProto.INT64, [2], [16, 8])),
        helper.make_node(
            "ConstantOfShape", ["shape"], ["w"], value=helper.make_tensor("v", TensorProto.FLOAT, [1], [0.5])
        ),
    ]
    report = modelaudit.audit(_matmul_model(nodes, "w"))
    assert report.totals.params == 16 * 8
    assert report.rows[-1].macs == 16 * 8


def test_cast_reshape_transpose_chain_keeps_true_dtype():
    nodes = [
        helper.make_node("Cast", ["w16"], ["w32"], to=TensorProto.FLOAT),
        helper.make_node("Reshape", ["w32", "shape"], ["w_r"]),
        helper.make_node("Transpose", ["w_r"], ["w_t"], perm=[1, 0]),
    ]
    inits = [tensor("w16", (8, 16), dtype=np.float16), numpy_helper.from_array(np.array([8, 16], np.int64), "shape")]
    report = modelaudit.audit(_matmul_model(nodes, "w_t", inits))
    assert report.totals.params == 8 * 16  # the int64 shape is not a param
    assert report.totals.weight_bytes_by_dtype == {"float16": 8 * 16 * 2}
    assert [r.status for r in report.rows[:3]] == ["constant"] * 3


def test_dequantize_linear_weight_is_int8_and_scales_non_trainable():
    nodes = [helper.make_node("DequantizeLinear", ["wq", "scale", "zp"], ["w"], axis=1)]
    inits = [tensor("wq", (16, 8), dtype=np.int8), tensor("scale", (8,)), tensor("zp", (8,), dtype=np.int8)]
    report = modelaudit.audit(_matmul_model(nodes, "w", inits))
    assert report.totals.params == 16 * 8
    assert report.totals.non_trainable == 8 + 8
    assert report.totals.weight_bytes_by_dtype == {"float32": 8 * 4, "int8": 16 * 8 + 8}


def test_int8_weight_dequantized_by_hand():
    """Issue 24 item 3: int8 W → Cast(float) → Sub(zero point cast to float) → Mul(per-row scale)
    feeding a MatMul is a weight in its stored dtype; its scale and zero point are non-trainable."""
    f = TensorProto.FLOAT
    nodes = [
        helper.make_node("Cast", ["wq"], ["wf"], to=f),
        helper.make_node("Cast", ["zp"], ["zf"], to=f),
        helper.make_node("Sub", ["wf", "zf"], ["wc"]),
        helper.make_node("Mul", ["wc", "scale"], ["w"]),
    ]
    inits = [tensor("wq", (16, 8), dtype=np.int8), tensor("zp", (16, 1), dtype=np.int8), tensor("scale", (16, 1))]
    report = modelaudit.audit(_matmul_model(nodes, "w", inits))
    assert (report.totals.params, report.totals.non_trainable) == (16 * 8, 16 + 16)
    assert report.totals.weight_bytes_by_dtype == {"float32": 16 * 4, "int8": 16 * 8 + 16}
    assert report.totals.params.complete


def test_int8_embedding_dequantized_by_hand_with_a_scalar_scale():
    """The MiniLM int8 file's pattern: int8 table → Cast → Mul(scalar scale) → Gather."""
    nodes = [
        helper.make_node("Cast", ["tq"], ["tf"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["tf", "s"], ["table"]),
        helper.make_node("Gather", ["table", "ids"], ["y"]),
    ]
    inits = [tensor("tq", (100, 8), dtype=np.int8), numpy_helper.from_array(np.float32(0.02), "s")]
    model = make_model(nodes, [vi("ids", [1, 5], TensorProto.INT64)], [vi("y", None)], inits)
    report = modelaudit.audit(model)
    assert (report.totals.params, report.totals.non_trainable) == (100 * 8, 1)  # the scale, as DequantizeLinear's
    assert report.totals.weight_bytes_by_dtype == {"float32": 4, "int8": 100 * 8}


def test_int64_positions_cast_to_float_are_not_weights():
    """An int64 tensor cast to float is positions or sizes, not a quantized weight: the float
    frequencies it meets stay the weight."""
    nodes = [
        helper.make_node("Cast", ["pos"], ["pf"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["pf", "freq"], ["angles"]),
        helper.make_node("Add", ["x", "angles"], ["y"]),
    ]
    inits = [numpy_helper.from_array(np.arange(16, dtype=np.int64).reshape(16, 1), "pos"), tensor("freq", (1, 8))]
    report = modelaudit.audit(make_model(nodes, [vi("x", [16, 8])], [vi("y", None)], inits))
    assert (report.totals.params, report.totals.non_trainable) == (8, 0)


def test_batchnorm_statistics_are_non_trainable():
    c = 6
    node = helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"])
    inits = [tensor(n, (c,), seed=i) for i, n in enumerate("sbmv")]
    report = modelaudit.audit(make_model([node], [vi("x", [2, c, 4, 4])], [vi("y", None)], inits))
    assert report.totals.params == 2 * c
    assert report.totals.non_trainable == 2 * c
    assert report.rows[0].flops == 2 * (2 * c * 4 * 4)


def test_embedding_table_read_by_gather_is_a_weight():
    node = helper.make_node("Gather", ["table", "ids"], ["y"])
    model = make_model([node], [vi("ids", [1, 7], TensorProto.INT64)], [vi("y", None)], [tensor("table", (100, 32))])
    assert modelaudit.audit(model).totals.params == 100 * 32


def test_scalars_shapes_and_recurrent_state_are_not_params():
    hidden = 4
    nodes = [
        helper.make_node("Mul", ["x", "two"], ["x2"]),
        helper.make_node("Reshape", ["x2", "shape"], ["x3"]),
        helper.make_node("RNN", ["x3", "W", "R", "", "", "h0"], ["Y"], hidden_size=hidden),
    ]
    inits = [
        numpy_helper.from_array(np.array(2.0, np.float32), "two"),
        numpy_helper.from_array(np.array([3, 1, 5], np.int64), "shape"),
        tensor("W", (1, hidden, 5)),
        tensor("R", (1, hidden, hidden)),
        tensor("h0", (1, 1, hidden)),
    ]
    report = modelaudit.audit(make_model(nodes, [vi("x", [15])], [vi("Y", None)], inits))
    assert report.totals.params == hidden * 5 + hidden * hidden


def test_unused_initializer_is_not_counted():
    inits = [tensor("w", (16, 8)), tensor("unused", (1000,))]
    report = modelaudit.audit(_matmul_model([], "w", inits))
    assert report.totals.params == 16 * 8


def test_an_absent_optional_input_is_not_an_initializer_named_empty():
    """'' in a node's inputs means "not given", even when some initializer is named ''."""
    nodes = [helper.make_node("Conv", ["x", "w", ""], ["y"], name="conv")]
    model = make_model(
        nodes, [vi("x", [1, 2, 5, 5])], [vi("y", None)], [tensor("w", (4, 2, 3, 3)), tensor("", (4,), seed=1)]
    )
    report = modelaudit.audit(model)
    assert report.totals.params == 4 * 2 * 3 * 3  # the unnamed tensor is read by no one
    assert report.rows[0].weights == ["4x2x3x3"]


def test_external_data_is_never_read(tmp_path):
    """Counts come from the dims: the external file does not even exist."""
    w = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[16, 8])
    w.data_location = TensorProto.EXTERNAL
    for key, value in (("location", "weights.bin"), ("offset", "0"), ("length", str(16 * 8 * 4))):
        entry = w.external_data.add()
        entry.key, entry.value = key, value
    model = _matmul_model([], "w", [w])
    path = tmp_path / "m.onnx"
    path.write_bytes(model.SerializeToString())
    report = modelaudit.audit(path)
    assert report.totals.params == 16 * 8
    assert report.totals.weight_bytes == 16 * 8 * 4
    assert report.rows[0].macs == 16 * 8


def _forked_with_weights_walked_early(monkeypatch, path):
    """load() as the command line calls it: the weights are walked while a forked child infers."""
    from modelaudit.costs.analyze import analyze, prepare
    from modelaudit.graph.model import load
    from modelaudit.load import forked

    monkeypatch.setattr(forked, "WORTH_NODES", 0)
    early = []
    mg = load(path, fork=True, meanwhile=lambda unshaped: early.append((prepare(unshaped), unshaped.tensors)))
    return mg, early, analyze


def test_weights_walked_before_the_shapes_give_the_same_report(monkeypatch):
    """Walked before inference (graph.model.load's `meanwhile`), the weights and the report are
    those of an audit after it; a ConstantOfShape of a constant shape (sized by the shapes) makes
    the early walk give up, and analyze() walks again."""
    import pytest
    from builders import saved
    from conftest import SAMPLES

    from modelaudit.load.forked import can_fork

    if not can_fork():
        pytest.skip("no fork() here: nothing is walked early")
    for path in [SAMPLES / "mobilenet_v2.onnx", SAMPLES / "lstm.onnx", SAMPLES / "transformer_block.onnx"]:
        mg, early, analyze = _forked_with_weights_walked_early(monkeypatch, path)
        ((prepared, tensors),) = early
        assert prepared is not None and tensors == {}  # walked with no shape known
        assert analyze(mg, prepared).to_dict() == analyze(modelaudit.load(path)).to_dict()
    nodes = [
        helper.make_node("Constant", [], ["shape"], value=helper.make_tensor("s", TensorProto.INT64, [2], [16, 8])),
        helper.make_node(
            "ConstantOfShape", ["shape"], ["w"], value=helper.make_tensor("v", TensorProto.FLOAT, [1], [0.5])
        ),
    ]
    path = saved(_matmul_model(nodes, "w"))
    mg, early, analyze = _forked_with_weights_walked_early(monkeypatch, path)
    assert early == [(None, {})]
    assert analyze(mg, None).totals.params == 16 * 8
