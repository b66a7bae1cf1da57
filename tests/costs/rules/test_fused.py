"""What onnxruntime's saved optimizations write (issue 24): FusedConv, FusedGemm, FusedMatMul with
every attribute, the NCHWc ops, the normalisations the transformers optimizer fuses, QLinearConcat.
MACs and FLOPs by hand; every inferred shape proved by onnxruntime (runtime.verify.check)."""

from __future__ import annotations

import itertools

import numpy as np
import onnx
import pytest
from conftest import make_model, run_ort, tensor, vi
from onnx import TensorProto, helper, numpy_helper

import modelaudit
from modelaudit.runtime.verify import RuntimeOptions, check

MS = "com.microsoft"


def _ms(model, *domains):
    for domain in (MS, *domains):
        model.opset_import.append(helper.make_opsetid(domain, 1))
    return model


def _verified(model) -> modelaudit.Report:
    """The report, after onnxruntime has run the model with every value as an output and agreed
    with every static shape (in process: runtime.verify.check does the same in a fenced child,
    which test_nchwc_verify_in_the_fence runs once)."""
    import onnxruntime as ort

    mg = modelaudit.load(model)
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    names = [o for n in probe.graph.node for o in n.output if o]
    del probe.graph.output[:]
    probe.graph.output.extend(onnx.ValueInfoProto(name=o) for o in names)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(probe.SerializeToString(), options, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    feeds = {}
    for v in session.get_inputs():
        dtype = {"tensor(float)": np.float32, "tensor(uint8)": np.uint8}[v.type]
        feeds[v.name] = (rng.standard_normal(v.shape) * 10).astype(dtype)
    ran = dict(zip(names, session.run(names, feeds)))
    static = {name: mg.info(name).shape for name in names}
    assert static == {name: tuple(value.shape) for name, value in ran.items()}
    return modelaudit.analyze(mg)


def _row(report, op):
    (row,) = [r for r in report.rows if r.op == op]
    return row


@pytest.mark.parametrize(
    "activation, params, each",
    [(None, None, 0), ("Relu", None, 1), ("Clip", [0.0, 6.0], 2), ("LeakyRelu", [0.1], 2), ("Sigmoid", None, 4)],
)
@pytest.mark.parametrize("with_sum", [False, True])
def test_fused_conv(activation, params, each, with_sum):
    """X [1, 3, 10, 10], W [8, 3, 3, 3], pads 1, stride 2 → Y [1, 8, 5, 5]; bias, Z and the
    activation are per output element."""
    attrs = dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 2])
    if activation:
        attrs["activation"] = activation
    if params:
        attrs["activation_params"] = params
    inputs = ["x", "w", "b"] + (["z"] if with_sum else [])
    node = helper.make_node("FusedConv", inputs, ["y"], domain=MS, **attrs)
    graph_inputs = [vi("x", [1, 3, 10, 10])] + ([vi("z", [1, 8, 5, 5])] if with_sum else [])
    model = _ms(make_model([node], graph_inputs, [vi("y", None)], [tensor("w", (8, 3, 3, 3)), tensor("b", (8,))]))
    report = _verified(model)
    row = _row(report, "FusedConv")
    outputs = 1 * 8 * 5 * 5
    assert row.macs == outputs * (3 * 3 * 3)
    assert row.flops == 2 * row.macs + outputs * (1 + (1 if with_sum else 0) + each)
    assert report.totals.params == 8 * 3 * 3 * 3 + 8 and report.totals.macs.complete


@pytest.mark.parametrize("trans_a, trans_b", [(0, 0), (1, 0), (0, 1), (1, 1)])
def test_fused_gemm(trans_a, trans_b):
    """alpha·A·B + beta·C then LeakyRelu: M·K·N MACs; bias, alpha, beta ∉ {0, 1} and the activation
    (2 FLOPs) per output element."""
    m, k, n = 3, 5, 7
    node = helper.make_node(
        "FusedGemm", ["a", "b", "c"], ["y"], domain=MS, transA=trans_a, transB=trans_b, alpha=0.5, beta=2.0,
        activation="LeakyRelu", activation_alpha=0.1,
    )  # fmt: skip
    a = (k, m) if trans_a else (m, k)
    b = (n, k) if trans_b else (k, n)
    model = _ms(make_model([node], [vi("a", list(a))], [vi("y", None)], [tensor("b", b), tensor("c", (n,))]))
    row = _row(_verified(model), "FusedGemm")
    assert row.macs == m * k * n
    assert row.flops == 2 * m * k * n + m * n * (1 + 1 + 1 + 2)


_TRANS = list(itertools.product([0, 1], repeat=4))


@pytest.mark.parametrize("trans_a, trans_b, batch_a, batch_b", _TRANS)
def test_fused_matmul_every_attribute(trans_a, trans_b, batch_a, batch_b):
    """op(X) moves dim 0 to just before the last two when transBatch is set, then swaps the last two
    when trans is: shapes chosen so that every combination multiplies [2, 3, 5, 7] by [2, 3, 7, 11]
    with distinct dims, and onnxruntime's result equals numpy's matmul of the permuted operands."""
    logical_a, logical_b = (2, 3, 5, 7), (2, 3, 7, 11)

    def stored(shape, trans, batch):
        perm = list(range(4))
        if batch:
            perm = [1, 2, 0, 3]
        if trans:
            perm[-1], perm[-2] = perm[-2], perm[-1]
        stored_shape = [0] * 4
        for logical_axis, stored_axis in enumerate(perm):
            stored_shape[stored_axis] = shape[logical_axis]
        return tuple(stored_shape), perm

    a_shape, a_perm = stored(logical_a, trans_a, batch_a)
    b_shape, b_perm = stored(logical_b, trans_b, batch_b)
    node = helper.make_node(
        "FusedMatMul", ["a", "b"], ["y"], domain=MS, alpha=0.5,
        transA=trans_a, transB=trans_b, transBatchA=batch_a, transBatchB=batch_b,
    )  # fmt: skip
    model = _ms(make_model([node], [vi("a", list(a_shape)), vi("b", list(b_shape))], [vi("y", None)]))
    rng = np.random.default_rng(0)
    xa, xb = rng.standard_normal(a_shape).astype(np.float32), rng.standard_normal(b_shape).astype(np.float32)
    (y,) = run_ort(model, {"a": xa, "b": xb})
    np.testing.assert_allclose(y, 0.5 * np.matmul(xa.transpose(a_perm), xb.transpose(b_perm)), rtol=1e-4, atol=1e-4)
    row = _row(_verified(model), "FusedMatMul")
    assert row.outputs[0] == "2x3x5x11"
    assert row.macs == 2 * 3 * 5 * 7 * 11  # 16x more than the batch-blind count when dims are 2 and 3 wide
    assert row.flops == 2 * row.macs + 2 * 3 * 5 * 11  # alpha ≠ 1


def _skip_norm(op: str, with_bias: bool):
    """input + skip (+ bias), normalised; every output asked for, the 4th is the pre-norm sum."""
    names = ["x", "skip", "gamma"] + (["beta"] if op == "SkipLayerNormalization" else [])
    inits = [tensor("gamma", (16,), seed=1)] + ([tensor("beta", (16,), seed=2)] if len(names) == 4 else [])
    if with_bias:
        names.append("bias")
        inits.append(tensor("bias", (16,), seed=3))
    node = helper.make_node(op, names, ["y", "mean", "inv_std", "sum"], domain=MS, epsilon=1e-5)
    consumer = helper.make_node("Add", ["sum", "y"], ["out"])  # the residual the next block reads
    return _ms(make_model([node, consumer], [vi("x", [2, 4, 16]), vi("skip", [2, 4, 16])], [vi("out", None)], inits))


@pytest.mark.parametrize("op", ["SkipLayerNormalization", "SkipSimplifiedLayerNormalization"])
@pytest.mark.parametrize("with_bias", [False, True])
def test_skip_layer_norm_every_output(op, with_bias):
    """All four outputs get shapes (mean and inv_std_var one per row, [2, 4, 1]), so the Add that
    reads the residual sum is counted: 2·4·16 FLOPs."""
    report = _verified(_skip_norm(op, with_bias))
    norm = _row(report, op)
    assert norm.outputs == ["2x4x16", "2x4x1", "2x4x1", "2x4x16"]
    n = 2 * 4 * 16
    each = 1 + (1 if with_bias else 0) + (4 if op == "SkipSimplifiedLayerNormalization" else 5 + 1 + 1)
    assert norm.flops == each * n
    assert _row(report, "Add").flops == n and report.totals.macs.complete


def test_simplified_layer_norm_in_the_default_domain():
    """RMSNorm as the transformers optimizer writes it for Llama: no domain, Y and inv_std_var."""
    node = helper.make_node("SimplifiedLayerNormalization", ["x", "scale"], ["y", "inv"], axis=-1, epsilon=1e-6)
    model = make_model(
        [node], [vi("x", [2, 4, 16])], [vi("y", [2, 4, 16]), vi("inv", [2, 4, 1])], [tensor("scale", (16,))]
    )
    report = _verified(model)
    row = _row(report, "SimplifiedLayerNormalization")
    assert row.outputs == ["2x4x16", "2x4x1"]
    assert row.flops == 4 * 2 * 4 * 16 and row.status == "counted" and not report.uncounted
    assert report.totals.params == 16
    # onnx.checker does not know the op: a note that it stopped there, no rejection and no MA013
    assert not [w for w in report.warnings if "rejects" in w]
    assert any("onnx.checker stops at SimplifiedLayerNormalization" in w for w in report.warnings)
    from modelaudit.analyses.findings import find

    mg = modelaudit.load(model)
    assert "MA013" not in [f.code for f in find(mg, modelaudit.analyze(mg))]


def test_split_of_a_shape_is_folded():
    """onnxruntime's GatherSliceToSplitFusion: Shape → Split → Squeeze → Unsqueeze → Concat → Reshape;
    the split dims are folded, so the Reshape and the MatMul after it are known (2·3·8·4 MACs)."""
    nodes = [
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Split", ["s", "sizes"], ["a", "b", "c"], axis=0),
        helper.make_node("Squeeze", ["a", "ax"], ["a0"]),
        helper.make_node("Squeeze", ["b", "ax"], ["b0"]),
        helper.make_node("Unsqueeze", ["a0", "ax"], ["a1"]),
        helper.make_node("Unsqueeze", ["b0", "ax"], ["b1"]),
        helper.make_node("Concat", ["a1", "b1", "minus1"], ["shape"], axis=0),
        helper.make_node("Reshape", ["x", "shape"], ["r"]),
        helper.make_node("MatMul", ["r", "w"], ["y"]),
    ]
    inits = [
        numpy_helper.from_array(np.array([1, 1, 1], np.int64), "sizes"),
        numpy_helper.from_array(np.array([0], np.int64), "ax"),
        numpy_helper.from_array(np.array([-1], np.int64), "minus1"),
        tensor("w", (8, 4)),
    ]
    model = make_model(nodes, [vi("x", ["batch", 3, 8])], [vi("y", None)], inits)
    report = modelaudit.audit(model, inputs={"x": (2, 3, 8)})
    assert _row(report, "MatMul").macs == 2 * 3 * 8 * 4 and report.totals.macs.complete


def test_qlinear_concat_keeps_the_quantized_type():
    """QLinearConcat's Y is Y_zero_point's type (uint8), not Y_scale's float: the QLinearConv after
    it gets its input shape and its MACs, 6·6·(3·3·8)·4."""
    s = lambda name, v, dt=np.float32: numpy_helper.from_array(np.array(v, dt), name)  # noqa: E731
    concat = helper.make_node(
        "QLinearConcat", ["ys", "yz", "a", "as", "az", "b", "bs", "bz"], ["cat"], domain=MS, axis=1
    )
    conv = helper.make_node(
        "QLinearConv", ["cat", "ys", "yz", "w", "ws", "wz", "os", "oz"], ["y"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]
    )
    inits = [
        s("ys", 0.1), s("yz", 128, np.uint8), s("as", 0.1), s("az", 128, np.uint8), s("bs", 0.2),
        s("bz", 100, np.uint8), s("ws", 0.05), s("wz", 0, np.int8), s("os", 0.3), s("oz", 128, np.uint8),
        tensor("w", (4, 8, 3, 3), np.int8),
    ]  # fmt: skip
    inputs = [vi("a", [1, 3, 6, 6], TensorProto.UINT8), vi("b", [1, 5, 6, 6], TensorProto.UINT8)]
    model = _ms(make_model([concat, conv], inputs, [vi("y", None)], inits))
    report = _verified(model)
    assert _row(report, "QLinearConv").macs == 6 * 6 * (3 * 3 * 8) * 4
    mg = modelaudit.load(model)
    assert mg.info("cat").dtype == TensorProto.UINT8 and mg.info("cat").shape == (1, 8, 6, 6)


def _cnn():
    """Conv 3→32 (3×3, pads 1) + Relu, MaxPool 2×2, AveragePool 3×3, two 1×1 convs 32→48 summed,
    Resize ×2 nearest, GlobalAveragePool, a 1×1 conv 48→40: what onnxruntime's NCHWc transformer
    rewrites."""
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("AveragePool", ["p1"], ["p2"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Conv", ["p2", "w2", "b2"], ["c2"], kernel_shape=[1, 1]),
        helper.make_node("Conv", ["p2", "w3", "b3"], ["c3"], kernel_shape=[1, 1]),
        helper.make_node("Add", ["c2", "c3"], ["s"]),
        helper.make_node(
            "Resize",
            ["s", "", "scales"],
            ["u"],
            mode="nearest",
            coordinate_transformation_mode="asymmetric",
            nearest_mode="floor",
        ),
        helper.make_node("GlobalAveragePool", ["u"], ["g"]),
        helper.make_node("Conv", ["g", "w4"], ["y"], kernel_shape=[1, 1]),
    ]
    inits = [
        tensor("w1", (32, 3, 3, 3)), tensor("b1", (32,)), tensor("w2", (48, 32, 1, 1)), tensor("b2", (48,)),
        tensor("w3", (48, 32, 1, 1)), tensor("b3", (48,)), tensor("w4", (40, 48, 1, 1)),
        numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales"),
    ]  # fmt: skip
    return make_model(nodes, [vi("x", [1, 3, 16, 16])], [vi("y", None)], inits, opset=17)


def _saved(model, level: str, tmp_path):
    import onnxruntime as ort

    src, out = tmp_path / "m.onnx", tmp_path / f"{level}.onnx"
    src.write_bytes(model.SerializeToString())
    options = ort.SessionOptions()
    options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, level)
    options.optimized_model_filepath = str(out)
    ort.InferenceSession(str(src), options, providers=["CPUExecutionProvider"])
    import onnx

    return onnx.load(out)


def test_ort_extended_fuses_conv_and_activation(tmp_path):
    """ORT_ENABLE_EXTENDED: Conv+Relu becomes FusedConv; the MACs are the export's, complete."""
    model = _cnn()
    saved = _saved(model, "ORT_ENABLE_EXTENDED", tmp_path)
    assert any(n.op_type == "FusedConv" for n in saved.graph.node)
    before, after = modelaudit.audit(model), _verified(saved)
    assert after.totals.macs == before.totals.macs == 16 * 16 * (3 * 3 * 3) * 32 + 2 * 8 * 8 * 32 * 48 + 48 * 40
    assert after.totals.params == before.totals.params and after.totals.macs.complete and not after.uncounted


def test_ort_all_nchwc_counts_the_padded_channels(tmp_path):
    """ORT_ENABLE_ALL: the NCHWc transformer pads channels to the CPU's block (8, or 16 with
    AVX-512) in the weights it stores and in every blocked tensor. The MACs and params count the
    padded channels: the last conv's C_out 40 becomes pad(40) (40, or 48 with blocks of 16); the
    pooling and the upsampling run on blocked tensors."""
    saved = _saved(_cnn(), "ORT_ENABLE_ALL", tmp_path)
    ops = {(n.domain, n.op_type) for n in saved.graph.node}
    if ("com.microsoft.nchwc", "Conv") not in ops:
        pytest.skip("this CPU has no NCHWc kernels")
    block = 16 if any(tuple(t.dims) == (48, 48, 1, 1) for t in saved.graph.initializer) else 8
    c40 = -(-40 // block) * block
    report = _verified(saved)
    assert not report.uncounted and report.totals.macs.complete
    assert report.totals.macs == 16 * 16 * (3 * 3 * 3) * 32 + 2 * 8 * 8 * 32 * 48 + 48 * c40
    assert report.totals.params == 32 * 3 * 3 * 3 + 32 + 2 * (48 * 32 + 48) + c40 * 48
    by_op = {(r.domain, r.op): r for r in report.rows}
    assert by_op[("com.microsoft.nchwc", "MaxPool")].flops == (2 * 2 - 1) * 32 * 8 * 8
    assert by_op[("com.microsoft.nchwc", "AveragePool")].flops == 3 * 3 * 32 * 8 * 8
    assert by_op[("com.microsoft.nchwc", "GlobalAveragePool")].flops == 48 * 16 * 16
    assert ("com.microsoft.nchwc", "Upsample") in by_op and by_op[("com.microsoft.nchwc", "Upsample")].flops == 0


def test_nchwc_verify_in_the_fence(tmp_path):
    """--verify's own check (a fenced child) proves every shape of an NCHWc model too."""
    saved = _saved(_cnn(), "ORT_ENABLE_ALL", tmp_path)
    mg = modelaudit.load(saved)
    report, ok = check(mg, modelaudit.analyze(mg), RuntimeOptions())
    v = report.verification
    assert ok and v["mismatches"] == [] and v["verified"] == v["tensors"] > 0, v
