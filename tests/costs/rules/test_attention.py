"""Attention ops and Einsum against written-out contraction counts; shapes checked by onnxruntime."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_model, run_ort, tensor, vi
from onnx import TensorProto, helper

import modelaudit


def _ms_model(nodes, inputs, outputs, inits=(), opset=17):
    model = make_model(nodes, inputs, outputs, inits, opset=opset)
    model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    return model


def test_onnx_attention_4d_with_past_and_causal():
    b, hq, hkv, sq, past, d, dv = 2, 8, 2, 5, 3, 16, 12
    node = helper.make_node("Attention", ["q", "k", "v", "", "pk", "pv"], ["y", "present_k", "present_v"], is_causal=1)
    model = make_model(
        [node],
        [
            vi("q", [b, hq, sq, d]),
            vi("k", [b, hkv, sq, d]),
            vi("v", [b, hkv, sq, dv]),
            vi("pk", [b, hkv, past, d]),
            vi("pv", [b, hkv, past, dv]),
        ],
        [vi("y", None), vi("present_k", None), vi("present_v", None)],
        opset=23,
    )
    (row,) = modelaudit.audit(model).rows
    s_kv = past + sq
    scores = b * hq * sq * s_kv
    assert row.macs == scores * d + scores * dv  # Q·Kᵀ, then P·V
    assert row.flops == 2 * row.macs + scores * (1 + 5 + 1)  # scale, softmax, causal mask


def test_onnx_attention_3d_heads_from_attributes():
    b, s, heads, d = 1, 6, 4, 8
    node = helper.make_node("Attention", ["q", "k", "v"], ["y"], q_num_heads=heads, kv_num_heads=heads)
    model = make_model([node], [vi(n, [b, s, heads * d]) for n in "qkv"], [vi("y", None)], opset=23)
    (row,) = modelaudit.audit(model).rows
    assert row.macs == b * heads * s * s * (d + d)


def test_einsum_contractions():
    cases = {
        "bij,bjk->bik": ([(2, 3, 4), (2, 4, 5)], 2 * 3 * 4 * 5, 0),
        "bhqd,bhkd->bhqk": ([(2, 4, 7, 16), (2, 4, 9, 16)], 2 * 4 * 7 * 9 * 16, 0),
        "ij,ij->ij": ([(3, 4), (3, 4)], 0, 3 * 4),  # elementwise: multiplies, no accumulation
        "i,j->ij": ([(3,), (5,)], 0, 3 * 5),  # outer product
        "ii->": ([(6, 6)], 0, 6),  # a trace adds the 6 diagonal elements
        "ij->i": ([(3, 4)], 0, 3 * 4),  # row sums
        "...ij,jk->...ik": ([(2, 3, 4, 5), (5, 6)], 2 * 3 * 4 * 5 * 6, 0),
        "ij,jk,kl->il": ([(2, 3), (3, 4), (4, 5)], 2 * 3 * 4 + 2 * 4 * 5, 0),  # left to right
    }
    for equation, (shapes, macs, extra_flops) in cases.items():
        names = [f"x{i}" for i in range(len(shapes))]
        node = helper.make_node("Einsum", names, ["y"], equation=equation)
        model = make_model([node], [vi(n, list(s)) for n, s in zip(names, shapes)], [vi("y", None)], opset=13)
        (row,) = modelaudit.audit(model).rows
        assert (row.macs, row.flops) == (macs, 2 * macs + extra_flops), equation
        out = run_ort(model, {n: np.ones(s, np.float32) for n, s in zip(names, shapes)})[0]
        assert row.outputs == ["x".join(map(str, out.shape)) or "scalar"], equation


def test_ms_attention_with_packed_projection():
    b, s, width, heads = 2, 7, 32, 4
    node = helper.make_node("Attention", ["x", "w", "bias"], ["y"], domain="com.microsoft", num_heads=heads)
    model = _ms_model(
        [node],
        [vi("x", [b, s, width])],
        [vi("y", None)],
        [tensor("w", (width, 3 * width)), tensor("bias", (3 * width,))],
    )
    report = modelaudit.audit(model)
    (row,) = report.rows
    d = width // heads
    projection = b * s * width * 3 * width
    assert row.macs == projection + b * heads * s * s * (d + d)
    assert report.totals.params == width * 3 * width + 3 * width
    y = run_ort(model, {"x": np.zeros((b, s, width), np.float32)})[0]
    assert row.outputs == ["x".join(map(str, y.shape))]


def test_ms_multi_head_and_group_query_attention():
    b, s, heads, kv_heads, d = 1, 5, 4, 2, 8
    mha = helper.make_node("MultiHeadAttention", ["q", "k", "v"], ["y"], domain="com.microsoft", num_heads=heads)
    model = _ms_model([mha], [vi(n, [b, s, heads * d]) for n in "qkv"], [vi("y", None)])
    assert modelaudit.audit(model).rows[0].macs == b * heads * s * s * 2 * d
    gqa = helper.make_node(
        "GroupQueryAttention",
        ["q", "k", "v", "pk", "pv", "seqlens", "total"],
        ["y", "present_k", "present_v"],
        domain="com.microsoft",
        num_heads=heads,
        kv_num_heads=kv_heads,
    )
    past = 3
    model = _ms_model(
        [gqa],
        [
            vi("q", [b, s, heads * d]),
            vi("k", [b, s, kv_heads * d]),
            vi("v", [b, s, kv_heads * d]),
            vi("pk", [b, kv_heads, past, d]),
            vi("pv", [b, kv_heads, past, d]),
            vi("seqlens", [b], TensorProto.INT32),
            vi("total", [], TensorProto.INT32),
        ],
        [vi("y", None), vi("present_k", None), vi("present_v", None)],
    )
    (row,) = modelaudit.audit(model).rows
    assert row.macs == b * heads * s * (past + s) * 2 * d


def test_rotary_embedding_and_rms_norm():
    b, s, heads, d = 2, 4, 3, 8
    rope = helper.make_node("RotaryEmbedding", ["x", "cos", "sin", "pos"], ["y"], num_heads=heads)
    model = make_model(
        [rope],
        [vi("x", [b, s, heads * d]), vi("pos", [b, s], TensorProto.INT64)],
        [vi("y", None)],
        [tensor("cos", (16, d // 2)), tensor("sin", (16, d // 2), seed=1)],
        opset=23,
    )
    assert modelaudit.audit(model).rows[0].flops == 3 * b * s * heads * d
    rms = helper.make_node("RMSNormalization", ["x", "scale"], ["y"], axis=-1)
    model = make_model([rms], [vi("x", [b, s, 32])], [vi("y", None)], [tensor("scale", (32,))], opset=23)
    report = modelaudit.audit(model)
    assert report.rows[0].flops == 4 * b * s * 32 and report.totals.params == 32


def test_ms_fused_ops():
    x, w = vi("x", [2, 6, 16]), tensor("w", (16, 8))
    cases = [
        (
            helper.make_node("FusedMatMul", ["x", "w"], ["y"], domain="com.microsoft", alpha=0.5),
            2 * 6 * 16 * 8,
            2 * (2 * 6 * 16 * 8) + 2 * 6 * 8,
        ),
        (
            helper.make_node("SkipLayerNormalization", ["x", "x", "g", "b"], ["y"], domain="com.microsoft"),
            0,
            (1 + 5 + 1 + 1) * 2 * 6 * 16,
        ),
        (helper.make_node("BiasGelu", ["x", "bias"], ["y"], domain="com.microsoft"), 0, 6 * 2 * 6 * 16),
        (helper.make_node("FastGelu", ["x", "bias"], ["y"], domain="com.microsoft"), 0, 10 * 2 * 6 * 16),
        (helper.make_node("QuickGelu", ["x"], ["y"], domain="com.microsoft"), 0, 6 * 2 * 6 * 16),
    ]
    for node, macs, flops in cases:
        model = _ms_model(
            [node], [x], [vi("y", None)], [w, tensor("g", (16,)), tensor("b", (16,)), tensor("bias", (16,))]
        )
        (row,) = modelaudit.audit(model).rows
        assert (row.macs, row.flops) == (macs, flops), node.op_type
        out = run_ort(model, {"x": np.zeros((2, 6, 16), np.float32)})[0]
        assert row.outputs[0] == "x".join(map(str, out.shape)), node.op_type


def test_matmul_nbits_params_and_bytes_from_attributes():
    k, n, bits, block = 64, 32, 4, 32
    blocks = k // block
    packed = np.zeros((n, blocks, block * bits // 8), np.uint8)
    from onnx import numpy_helper

    node = helper.make_node(
        "MatMulNBits", ["a", "qw", "scales"], ["y"], domain="com.microsoft", K=k, N=n, bits=bits, block_size=block
    )
    model = _ms_model(
        [node],
        [vi("a", [3, k])],
        [vi("y", None)],
        [numpy_helper.from_array(packed, "qw"), tensor("scales", (n * blocks,))],
    )
    report = modelaudit.audit(model)
    assert report.rows[0].macs == 3 * k * n
    assert report.totals.params == k * n  # 4-bit weights, not the uint8 blob's element count
    assert report.totals.non_trainable == n * blocks  # scales
    assert report.totals.weight_bytes_by_dtype == {"uint4": k * n // 2, "float32": 4 * n * blocks}
    y = run_ort(model, {"a": np.zeros((3, k), np.float32)})[0]
    assert y.shape == (3, n)


@pytest.mark.parametrize("update_rule,delta,gated", [("linear", 0, 0), ("gated_delta", 1, 1)])
def test_linear_attention(update_rule, delta, gated):
    b, t, hq, hkv, dk, dv = 1, 4, 4, 2, 8, 6
    inputs = ["q", "k", "v", ""] + (["g", "beta"] if gated else [])
    node = helper.make_node("LinearAttention", inputs, ["y"], q_num_heads=hq, kv_num_heads=hkv, update_rule=update_rule)
    vis = [vi("q", [b, t, hq * dk]), vi("k", [b, t, hkv * dk]), vi("v", [b, t, hkv * dv])]
    if gated:
        vis += [vi("g", [b, t, hkv]), vi("beta", [b, t, hkv])]
    model = make_model([node], vis, [vi("y", None)], opset=27)
    (row,) = modelaudit.audit(model).rows
    assert row.macs == b * t * (hkv * dk * dv * (1 + delta) + hq * dk * dv)


@pytest.mark.parametrize("segments", [True, False])
def test_embed_layer_normalization(segments):
    """BERT's embeddings as onnxruntime's optimizer fuses them: word + position (+ segment) rows, then
    LayerNorm; the tables and γ, β are params, counted once."""
    batch, seq, vocab, hidden, positions = 2, 5, 30, 8, 16
    names = ["ids", "seg" if segments else "", "we", "pe", "se" if segments else "", "g", "b", "mask"]
    node = helper.make_node(
        "EmbedLayerNormalization", names, ["y", "mask_index", "sum"], domain="com.microsoft", epsilon=1e-5
    )
    tables = [
        tensor("we", (vocab, hidden)),
        tensor("pe", (positions, hidden)),
        tensor("g", (hidden,)),
        tensor("b", (hidden,)),
    ] + ([tensor("se", (2, hidden))] if segments else [])
    ids = [vi(n, [batch, seq], TensorProto.INT32) for n in (["ids", "seg", "mask"] if segments else ["ids", "mask"])]
    model = _ms_model([node], ids, [vi("y", None), vi("mask_index", None, TensorProto.INT32), vi("sum", None)], tables)
    report = modelaudit.audit(model)
    (row,) = report.rows
    n = batch * seq * hidden
    adds = 2 if segments else 1  # word + position (+ segment)
    assert (row.macs, row.flops) == (0, (adds + 5 + 1 + 1) * n)  # LayerNorm 5, γ, β
    assert report.totals.params == (vocab + positions + (2 if segments else 0)) * hidden + 2 * hidden
    feeds = {v.name: np.zeros((batch, seq), np.int32) for v in ids}
    y, mask, total = run_ort(model, feeds)
    assert row.outputs == ["x".join(map(str, a.shape)) for a in (y, mask, total)]
    assert row.output_bytes == y.nbytes + mask.nbytes + total.nbytes


def test_embed_layer_normalization_float16_keeps_an_int32_mask_index():
    """y and embedding_sum take the tables' float16; mask_index stays int32 (4 bytes a row, not 2)."""
    batch, seq, vocab, hidden, positions = 2, 5, 30, 8, 16
    node = helper.make_node(
        "EmbedLayerNormalization",
        ["ids", "", "we", "pe", "", "g", "b"],
        ["y", "mask_index", "sum"],
        domain="com.microsoft",
    )
    tables = [
        tensor(n, dims, np.float16)
        for n, dims in (("we", (vocab, hidden)), ("pe", (positions, hidden)), ("g", (hidden,)), ("b", (hidden,)))
    ]
    model = _ms_model(
        [node],
        [vi("ids", [batch, seq], TensorProto.INT32)],
        [
            vi("y", None, TensorProto.FLOAT16),
            vi("mask_index", None, TensorProto.INT32),
            vi("sum", None, TensorProto.FLOAT16),
        ],
        tables,
    )
    (row,) = modelaudit.audit(model).rows
    assert row.output_bytes == 2 * (batch * seq * hidden * 2) + batch * 4
