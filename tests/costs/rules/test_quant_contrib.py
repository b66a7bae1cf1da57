"""com.microsoft's quantized ops (onnxruntime's quantizer writes them): MACs and FLOPs by hand, int8
weights as params, scales and zero points non-trainable, output shapes checked with onnxruntime."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_model, run_ort, tensor, vi
from onnx import TensorProto, helper, numpy_helper

import modelaudit
from modelaudit.figures import Figure

MS = "com.microsoft"


def _ms(model):
    model.opset_import.append(helper.make_opsetid(MS, 1))
    return model


def _s(name, value, dtype=np.float32):
    return numpy_helper.from_array(np.array(value, dtype), name)


def _shape(row) -> tuple:
    return tuple(int(d) for d in row.outputs[0].split("x"))


def test_dynamic_quantize_lstm():
    """The OCR models' LSTM after onnxruntime's dynamic quantization: W [dirs, I, 4H] int8."""
    seq, batch, inputs, hidden, dirs = 6, 2, 10, 8, 2
    names = ["x", "w", "r", "b", "", "", "", "", "ws", "wz", "rs", "rz"]
    node = helper.make_node(
        "DynamicQuantizeLSTM", names, ["y", "yh", "yc"], domain=MS, hidden_size=hidden, direction="bidirectional"
    )
    inits = [
        tensor("w", (dirs, inputs, 4 * hidden), np.int8),
        tensor("r", (dirs, hidden, 4 * hidden), np.int8),
        tensor("b", (dirs, 8 * hidden)),
        tensor("ws", (dirs, 4 * hidden)),
        tensor("wz", (dirs, 4 * hidden), np.int8),
        tensor("rs", (dirs, 4 * hidden)),
        tensor("rz", (dirs, 4 * hidden), np.int8),
    ]
    for i, name in ((3, "ws"), (5, "rs")):  # onnxruntime wants positive scales and zero zero points
        inits[i] = numpy_helper.from_array(np.full((dirs, 4 * hidden), 0.01, np.float32), name)
    for i, name in ((4, "wz"), (6, "rz")):
        inits[i] = numpy_helper.from_array(np.zeros((dirs, 4 * hidden), np.int8), name)
    model = _ms(make_model([node], [vi("x", [seq, batch, inputs])], [vi("y", None)], inits))
    report = modelaudit.audit(model)
    (row,) = report.rows
    assert row.status == "counted"
    assert row.macs == seq * batch * dirs * 4 * hidden * (inputs + hidden)
    # LSTM per unit and step with bias: 4 adds + 8 bias adds + 3 sigmoids·4 + 2 tanh + cell 3 + h 1 = 30
    assert row.flops == 2 * row.macs + seq * batch * dirs * hidden * 30
    assert report.totals.params == dirs * 4 * hidden * (inputs + hidden) + dirs * 8 * hidden
    assert report.totals.non_trainable == 4 * dirs * 4 * hidden  # per-channel scales and zero points
    assert report.totals.weight_bytes_by_dtype["int8"] == dirs * 4 * hidden * (inputs + hidden) + 2 * dirs * 4 * hidden
    assert report.totals.params.complete
    y = run_ort(model, {"x": np.zeros((seq, batch, inputs), np.float32)})[0]
    assert _shape(row) == y.shape == (seq, dirs, batch, hidden)


def test_qattention():
    batch, seq, width, heads, hidden = 2, 5, 12, 2, 8
    names = ["x", "w", "bias", "xs", "ws", "", "xz", "wz"]
    node = helper.make_node("QAttention", names, ["y"], domain=MS, num_heads=heads)
    inits = [
        tensor("w", (width, 3 * hidden), np.int8),
        tensor("bias", (3 * hidden,)),
        _s("xs", 0.1),
        _s("ws", 0.1),
        _s("xz", 0, np.uint8),
        _s("wz", 0, np.int8),
    ]
    model = _ms(make_model([node], [vi("x", [batch, seq, width], TensorProto.UINT8)], [vi("y", None)], inits))
    report = modelaudit.audit(model)
    (row,) = report.rows
    projection = batch * seq * width * 3 * hidden
    head = hidden // heads
    scores = batch * heads * seq * seq
    assert row.macs == projection + scores * (head + head)
    assert row.flops == 2 * row.macs + batch * seq * 3 * hidden + 6 * batch * seq * width + 6 * scores
    assert report.totals.params == width * 3 * hidden + 3 * hidden and report.totals.non_trainable == 4
    y = run_ort(model, {"x": np.zeros((batch, seq, width), np.uint8)})[0]
    assert _shape(row) == y.shape and y.dtype == np.float32
    assert row.output_bytes == y.nbytes  # float out of uint8 in


def test_dynamic_quantize_matmul_and_integer_to_float():
    m, k, n = 3, 16, 4
    dq = helper.make_node("DynamicQuantizeMatMul", ["a", "b", "bs", "bz", "bias"], ["y"], domain=MS)
    inits = [tensor("b", (k, n), np.int8), _s("bs", 0.1), _s("bz", 0, np.int8), tensor("bias", (n,))]
    model = _ms(make_model([dq], [vi("a", [2, m, k])], [vi("y", None)], inits))
    report = modelaudit.audit(model)
    (row,) = report.rows
    assert row.macs == 2 * m * k * n
    assert row.flops == 2 * row.macs + 6 * (2 * m * k) + 2 * (2 * m * n)  # quantize A; rescale, bias
    assert report.totals.params == k * n + n and report.totals.non_trainable == 2
    assert _shape(row) == run_ort(model, {"a": np.zeros((2, m, k), np.float32)})[0].shape

    mf = helper.make_node("MatMulIntegerToFloat", ["a", "b", "as", "bs", "az", "bz"], ["y"], domain=MS)
    inits = [tensor("b", (k, n), np.int8), _s("as", 0.1), _s("bs", 0.1), _s("az", 0, np.uint8), _s("bz", 0, np.int8)]
    model = _ms(make_model([mf], [vi("a", [m, k], TensorProto.UINT8)], [vi("y", None)], inits))
    report = modelaudit.audit(model)
    (row,) = report.rows
    assert row.macs == m * k * n and row.flops == 2 * m * k * n + m * n
    assert report.totals.params == k * n and report.totals.non_trainable == 4
    y = run_ort(model, {"a": np.zeros((m, k), np.uint8)})[0]
    assert _shape(row) == y.shape and row.output_bytes == y.nbytes


def test_qgemm_requantized():
    m, k, n = 4, 6, 5
    names = ["a", "as", "az", "b", "bs", "bz", "c", "ys", "yz"]
    node = helper.make_node("QGemm", names, ["y"], domain=MS, transB=1)
    inits = [
        _s("as", 0.1),
        _s("az", 0, np.uint8),
        tensor("b", (n, k), np.uint8),
        _s("bs", 0.1),
        _s("bz", 0, np.uint8),
        tensor("c", (n,), np.int32),
        _s("ys", 0.1),
        _s("yz", 0, np.uint8),
    ]
    model = _ms(make_model([node], [vi("a", [m, k], TensorProto.UINT8)], [vi("y", None, TensorProto.UINT8)], inits))
    report = modelaudit.audit(model)
    (row,) = report.rows
    assert row.macs == m * k * n and row.flops == 2 * m * k * n + m * n + 4 * m * n
    assert report.totals.params == n * k + n and report.totals.non_trainable == 6
    assert _shape(row) == run_ort(model, {"a": np.zeros((m, k), np.uint8)})[0].shape


def test_qlinear_elementwise_family():
    x = [1, 4, 3, 3]
    n = 1 * 4 * 3 * 3
    scales = lambda *names: [_s(nm, 0.1) if nm.endswith("s") else _s(nm, 0, np.uint8) for nm in names]  # noqa: E731
    cases = [
        (
            helper.make_node("QLinearAdd", ["x", "xs", "xz", "c", "cs", "cz", "ys", "yz"], ["y"], domain=MS),
            [tensor("c", (4, 1, 1), np.uint8)] + scales("xs", "xz", "cs", "cz", "ys", "yz"),
            2 * (n + 4) + 5 * n,
            x,
        ),
        (
            helper.make_node("QLinearSigmoid", ["x", "xs", "xz", "ys", "yz"], ["y"], domain=MS),
            scales("xs", "xz", "ys", "yz"),
            (2 + 4 + 4) * n,
            x,
        ),
        (
            helper.make_node("QLinearLeakyRelu", ["x", "xs", "xz", "ys", "yz"], ["y"], domain=MS, alpha=0.1),
            scales("xs", "xz", "ys", "yz"),
            (2 + 2 + 4) * n,
            x,
        ),
        (
            helper.make_node("QLinearGlobalAveragePool", ["x", "xs", "xz", "ys", "yz"], ["y"], domain=MS),
            scales("xs", "xz", "ys", "yz"),
            3 * n + 4 * 4,
            [1, 4, 1, 1],
        ),
        (
            helper.make_node("QLinearConcat", ["ys", "yz", "x", "xs", "xz", "x", "ys", "yz"], ["y"], domain=MS, axis=1),
            scales("xs", "xz", "ys", "yz"),
            6 * n,
            [1, 8, 3, 3],
        ),
    ]
    for node, inits, flops, expected in cases:
        model = _ms(make_model([node], [vi("x", x, TensorProto.UINT8)], [vi("y", None, TensorProto.UINT8)], inits))
        report = modelaudit.audit(model)
        (row,) = report.rows
        assert (node.op_type, row.flops, row.macs) == (node.op_type, flops, 0)
        y = run_ort(model, {"x": np.zeros(x, np.uint8)})[0]
        assert _shape(row) == y.shape == tuple(expected), node.op_type
        assert report.totals.non_trainable == len([i for i in inits if i.name[-1] in "sz"])


def test_qlinear_softmax_shape():
    node = helper.make_node("QLinearSoftmax", ["x", "xs", "xz", "ys", "yz"], ["y"], domain=MS, axis=-1, opset=13)
    inits = [_s("xs", 0.1), _s("xz", 0, np.uint8), _s("ys", 1 / 256), _s("yz", 0, np.uint8)]
    model = _ms(make_model([node], [vi("x", [2, 7], TensorProto.UINT8)], [vi("y", None, TensorProto.UINT8)], inits))
    (row,) = modelaudit.audit(model).rows
    assert row.flops == 11 * 14 and row.outputs == ["2x7"]


def test_uncounted_op_reading_integer_constants_marks_params_incomplete(capsys):
    """Issue 14 item 5: an op without a rule read 4.2 M int8 weights that vanished, and the params
    total did not say it might be incomplete."""
    node = helper.make_node("MyQuantOp", ["x", "wq", "wf"], ["y"], domain="com.example", name="mine")
    inits = [tensor("wq", (16, 8), np.int8), tensor("wf", (8,))]
    model = make_model([node], [vi("x", [1, 16])], [vi("y", None)], inits)
    model.opset_import.append(helper.make_opsetid("com.example", 1))
    report = modelaudit.audit(model)
    assert report.uncounted == {"com.example:MyQuantOp": 1}
    assert report.totals.params == Figure.at_least(8)  # the float constant counts by the conventions
    assert any("MyQuantOp 'mine'" in w and "128 int8" in w for w in report.warnings)
    from modelaudit.render import render

    text = render(report.to_dict(), "text")
    assert "params            ≥ 8 (8)" in text

    from modelaudit.analyses.budget import Budget, evaluate

    breaches = evaluate("m", report.to_dict()["totals"], Budget(limits={"params": (10**9, "1G")}))
    assert breaches and "cannot be proven" in breaches[0].why


@pytest.mark.parametrize(
    "op",
    [
        "DynamicQuantizeLSTM",
        "QAttention",
        "DynamicQuantizeMatMul",
        "MatMulIntegerToFloat",
        "QGemm",
        "QLinearAdd",
        "QLinearMul",
        "QLinearSigmoid",
        "QLinearLeakyRelu",
        "QLinearGlobalAveragePool",
        "QLinearSoftmax",
        "QLinearConcat",
        "QLinearWhere",
        "QLinearAveragePool",
        "QEmbedLayerNormalization",
        "QuantizeLinear",
        "DequantizeLinear",
    ],
)
def test_every_quantized_contrib_op_has_a_rule(op):
    from modelaudit.costs.rules import find_rule

    assert find_rule(op, MS, 1) is not None


def test_qlinear_where():
    names = ["c", "x", "xs", "xz", "x", "xs", "xz", "ys", "yz"]
    node = helper.make_node("QLinearWhere", names, ["y"], domain=MS)
    inits = [_s("xs", 0.1), _s("xz", 0, np.uint8), _s("ys", 0.2), _s("yz", 0, np.uint8)]
    model = _ms(
        make_model(
            [node],
            [vi("c", [3, 1], TensorProto.BOOL), vi("x", [1, 4], TensorProto.UINT8)],
            [vi("y", None, TensorProto.UINT8)],
            inits,
        )
    )
    (row,) = modelaudit.audit(model).rows
    assert row.flops == 7 * 3 * 4  # select, dequantize 2, requantize 4 per output
    y = run_ort(model, {"c": np.ones((3, 1), bool), "x": np.zeros((1, 4), np.uint8)})[0]
    assert _shape(row) == y.shape == (3, 4)


def test_qlinear_average_pool():
    x = [1, 4, 9, 9]
    node = helper.make_node(
        "QLinearAveragePool",
        ["x", "xs", "xz", "ys", "yz"],
        ["y"],
        domain=MS,
        kernel_shape=[3, 3],
        strides=[2, 2],
        pads=[1, 1, 1, 1],
    )
    inits = [_s("xs", 0.1), _s("xz", 0, np.uint8), _s("ys", 0.1), _s("yz", 0, np.uint8)]
    model = _ms(make_model([node], [vi("x", x, TensorProto.UINT8)], [vi("y", None, TensorProto.UINT8)], inits))
    report = modelaudit.audit(model)
    (row,) = report.rows
    out = 1 * 4 * 5 * 5  # floor((9 + 2 − 3) / 2) + 1 = 5
    assert row.flops == 9 * out + 2 * (4 * 9 * 9) + 4 * out
    y = run_ort(model, {"x": np.zeros(x, np.uint8)})[0]
    assert _shape(row) == y.shape == (1, 4, 5, 5) and report.totals.non_trainable == 4


def test_qembed_layer_normalization():
    batch, seq, vocab, hidden, positions = 2, 5, 30, 8, 16
    names = [
        "ids",
        "seg",
        "we",
        "pe",
        "se",
        "g",
        "b",
        "",
        "wes",
        "pes",
        "ses",
        "gs",
        "bs",
        "wez",
        "pez",
        "sez",
        "gz",
        "bz",
    ]
    node = helper.make_node("QEmbedLayerNormalization", names, ["y", "mask_index"], domain=MS, epsilon=1e-5)
    tables = [
        tensor("we", (vocab, hidden), np.uint8),
        tensor("pe", (positions, hidden), np.uint8),
        tensor("se", (2, hidden), np.uint8),
        tensor("g", (hidden,), np.uint8),
        tensor("b", (hidden,), np.uint8),
    ]
    scales = [_s(n, 0.1) for n in ("wes", "pes", "ses", "gs", "bs")] + [
        _s(n, 0, np.uint8) for n in ("wez", "pez", "sez", "gz", "bz")
    ]
    model = _ms(
        make_model(
            [node],
            [vi("ids", [batch, seq], TensorProto.INT32), vi("seg", [batch, seq], TensorProto.INT32)],
            [vi("y", None), vi("mask_index", None, TensorProto.INT32)],
            tables + scales,
        )
    )
    report = modelaudit.audit(model)
    (row,) = report.rows
    n = batch * seq * hidden
    assert row.flops == (2 * 3 + 2 + 7) * n + 4 * hidden  # dequantize 3 rows, 2 adds, LayerNorm 7
    assert report.totals.params == (vocab + positions + 2) * hidden + 2 * hidden
    assert report.totals.non_trainable == 10
    y, mask = run_ort(model, {"ids": np.zeros((batch, seq), np.int32), "seg": np.zeros((batch, seq), np.int32)})
    assert _shape(row) == y.shape and row.outputs[1] == "x".join(map(str, mask.shape))
    assert row.output_bytes == y.nbytes + mask.nbytes


def test_microsoft_quantize_dequantize_linear():
    q = helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"], domain=MS)
    d = helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"], domain=MS)
    model = _ms(make_model([q, d], [vi("x", [3, 4])], [vi("y", None)], [_s("s", 0.1), _s("z", 0, np.int8)]))
    report = modelaudit.audit(model)
    assert [r.flops for r in report.rows] == [4 * 12, 2 * 12]
    assert [r.output_bytes for r in report.rows] == [12, 48]  # int8, then float32
    assert run_ort(model, {"x": np.zeros((3, 4), np.float32)})[0].shape == (3, 4)
