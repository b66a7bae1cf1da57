"""Small decoder-only transformers with a KV cache, built with onnx.helper, in the layouts exporters write."""

from __future__ import annotations

import onnx
from conftest import tensor, vi
from onnx import TensorProto, helper

__all__ = ["gpt_decoder", "gqa_decoder"]


def _linear(nodes, inits, x, name, rows, cols, seed):
    inits.append(tensor(f"{name}.weight", [rows, cols], seed=seed))
    nodes.append(helper.make_node("MatMul", [x, f"{name}.weight"], [f"{name}.out"], name=f"/{name}/MatMul"))
    return f"{name}.out"


def _norm(nodes, inits, x, name, width):
    inits += [tensor(f"{name}.scale", [width]), tensor(f"{name}.bias", [width], seed=1)]
    nodes.append(
        helper.make_node(
            "LayerNormalization",
            [x, f"{name}.scale", f"{name}.bias"],
            [f"{name}.out"],
            axis=-1,
            name=f"/{name}/LayerNorm",
        )
    )
    return f"{name}.out"


def _heads(nodes, x, name, heads, head_dim):
    """[B, S, H·D] → [B, H, S, D]."""
    nodes += [
        helper.make_node("Reshape", [x, f"shape_{heads}"], [f"{name}.4d"], name=f"/{name}/Reshape"),
        helper.make_node("Transpose", [f"{name}.4d"], [f"{name}.bhsd"], perm=[0, 2, 1, 3], name=f"/{name}/T"),
    ]
    return f"{name}.bhsd"


def _mlp_and_residual(nodes, inits, x, h, i, width, ffn):
    nodes.append(helper.make_node("Add", [x, h], [f"h{i}.res1"], name=f"/h.{i}/add1"))
    n2 = _norm(nodes, inits, f"h{i}.res1", f"h.{i}.ln_2", width)
    up = _linear(nodes, inits, n2, f"h.{i}.mlp.fc", width, ffn, 10 * i + 5)
    nodes.append(helper.make_node("Gelu", [up], [f"h{i}.act"], name=f"/h.{i}/gelu", domain="com.microsoft"))
    down = _linear(nodes, inits, f"h{i}.act", f"h.{i}.mlp.proj", ffn, width, 10 * i + 6)
    nodes.append(helper.make_node("Add", [f"h{i}.res1", down], [f"h{i}.out"], name=f"/h.{i}/add2"))
    return f"h{i}.out"


def _head_and_model(nodes, inits, inputs, outputs, x, width, vocab, extra_opsets=()):
    nf = _norm(nodes, inits, x, "ln_f", width)
    logits = _linear(nodes, inits, nf, "lm_head", width, vocab, 99)
    nodes.append(helper.make_node("Identity", [logits], ["logits"], name="/lm_head/Identity"))
    outputs.insert(0, vi("logits", ["batch_size", "sequence_length", vocab]))
    graph = helper.make_graph(nodes, "decoder", inputs, outputs, initializer=inits)
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1), *extra_opsets]
    model = helper.make_model(graph, opset_imports=opsets)
    model.ir_version = 8
    return model


def _embedding(nodes, inits, vocab, width):
    inits.append(tensor("wte", [vocab, width], seed=7))
    nodes.append(helper.make_node("Gather", ["wte", "input_ids"], ["embeds"], name="/wte/Gather"))
    return "embeds"


def gpt_decoder(
    layers=2,
    heads=4,
    head_dim=8,
    vocab=50,
    ffn_mult=4,
    dtype=TensorProto.FLOAT,
    past_name="past_key_values.{i}.{kv}",
    present_name="present.{i}.{kv}",
    past_dim="past_sequence_length",
) -> onnx.ModelProto:
    """GPT-2 style: embeddings, per layer LN → Q, K, V, O projections with the cache concatenated on axis 2 →
    LN → MLP; final LN and lm_head. Inputs `input_ids [batch_size, sequence_length]`, `attention_mask
    [batch_size, past_sequence_length + sequence_length]`, caches `[batch_size, heads, past, head_dim]`."""
    width, ffn = heads * head_dim, ffn_mult * heads * head_dim
    nodes, inits = (
        [],
        [
            helper.make_tensor(f"shape_{heads}", TensorProto.INT64, [4], [0, 0, heads, head_dim]),
            helper.make_tensor("shape_flat", TensorProto.INT64, [3], [0, 0, width]),
        ],
    )
    inputs = [
        vi("input_ids", ["batch_size", "sequence_length"], TensorProto.INT64),
        vi("attention_mask", ["batch_size", f"{past_dim} + sequence_length"], TensorProto.INT64),
    ]
    outputs = []
    x = _embedding(nodes, inits, vocab, width)
    for i in range(layers):
        n1 = _norm(nodes, inits, x, f"h.{i}.ln_1", width)
        q = _heads(
            nodes, _linear(nodes, inits, n1, f"h.{i}.attn.q", width, width, 10 * i + 1), f"h{i}.q", heads, head_dim
        )
        kv = {}
        for kind, seed in (("key", 2), ("value", 3)):
            new = _heads(
                nodes,
                _linear(nodes, inits, n1, f"h.{i}.attn.{kind[0]}", width, width, 10 * i + seed),
                f"h{i}.{kind}",
                heads,
                head_dim,
            )
            past, present = past_name.format(i=i, kv=kind), present_name.format(i=i, kv=kind)
            inputs.append(vi(past, ["batch_size", heads, past_dim, head_dim], dtype))
            # exporters annotate `present` [batch, heads, "past + sequence", head_dim]; left unannotated here
            # because such a symbol, after --dim, is what issue 14 substitutes into annotations
            outputs.append(vi(present, [None] * 4, dtype))
            nodes.append(helper.make_node("Concat", [past, new], [present], axis=2, name=f"/h.{i}/{kind}/Concat"))
            kv[kind] = present
        nodes += [
            helper.make_node("Transpose", [kv["key"]], [f"h{i}.kt"], perm=[0, 1, 3, 2], name=f"/h.{i}/kT"),
            helper.make_node("MatMul", [q, f"h{i}.kt"], [f"h{i}.scores"], name=f"/h.{i}/attn/QK"),
            helper.make_node("Softmax", [f"h{i}.scores"], [f"h{i}.p"], axis=-1, name=f"/h.{i}/attn/Softmax"),
            helper.make_node("MatMul", [f"h{i}.p", kv["value"]], [f"h{i}.ctx"], name=f"/h.{i}/attn/PV"),
            helper.make_node("Transpose", [f"h{i}.ctx"], [f"h{i}.ctx_t"], perm=[0, 2, 1, 3], name=f"/h.{i}/ctxT"),
            helper.make_node("Reshape", [f"h{i}.ctx_t", "shape_flat"], [f"h{i}.ctx_flat"], name=f"/h.{i}/merge"),
        ]
        o = _linear(nodes, inits, f"h{i}.ctx_flat", f"h.{i}.attn.o", width, width, 10 * i + 4)
        x = _mlp_and_residual(nodes, inits, x, o, i, width, ffn)
    return _head_and_model(nodes, inits, inputs, outputs, x, width, vocab)


def gqa_decoder(layers=2, heads=8, kv_heads=2, head_dim=8, vocab=50, ffn_mult=4) -> onnx.ModelProto:
    """Llama style with onnxruntime's GroupQueryAttention: Q [B, S, H·D], K, V [B, S, H_kv·D]; the cache
    `past_key_values.{i}.key [batch_size, kv_heads, past_sequence_length, head_dim]` enters the node's
    past_key/past_value slots, `present.{i}.key` leaves it."""
    width, kv_width, ffn = heads * head_dim, kv_heads * head_dim, ffn_mult * heads * head_dim
    nodes, inits = [], []
    inputs = [
        vi("input_ids", ["batch_size", "sequence_length"], TensorProto.INT64),
        vi("seqlens_k", ["batch_size"], TensorProto.INT32),
        vi("total_sequence_length", [], TensorProto.INT32),
    ]
    outputs = []
    x = _embedding(nodes, inits, vocab, width)
    for i in range(layers):
        n1 = _norm(nodes, inits, x, f"h.{i}.ln_1", width)
        q = _linear(nodes, inits, n1, f"h.{i}.attn.q", width, width, 10 * i + 1)
        k = _linear(nodes, inits, n1, f"h.{i}.attn.k", width, kv_width, 10 * i + 2)
        v = _linear(nodes, inits, n1, f"h.{i}.attn.v", width, kv_width, 10 * i + 3)
        names = {kind: (f"past_key_values.{i}.{kind}", f"present.{i}.{kind}") for kind in ("key", "value")}
        for past, present in names.values():
            inputs.append(vi(past, ["batch_size", kv_heads, "past_sequence_length", head_dim]))
            outputs.append(vi(present, [None] * 4))
        nodes.append(
            helper.make_node(
                "GroupQueryAttention",
                [q, k, v, names["key"][0], names["value"][0], "seqlens_k", "total_sequence_length"],
                [f"h{i}.ctx", names["key"][1], names["value"][1]],
                domain="com.microsoft",
                num_heads=heads,
                kv_num_heads=kv_heads,
                name=f"/h.{i}/attn/GroupQueryAttention",
            )
        )
        o = _linear(nodes, inits, f"h{i}.ctx", f"h.{i}.attn.o", width, width, 10 * i + 4)
        x = _mlp_and_residual(nodes, inits, x, o, i, width, ffn)
    return _head_and_model(nodes, inits, inputs, outputs, x, width, vocab)


def _attention(nodes, q, k, v, name, heads, head_dim):
    """Q [B, H, S, D] against K, V [B, H, T, D]: softmax(Q·Kᵀ)·V back to [B, S, H·D]."""
    nodes += [
        helper.make_node("Transpose", [k], [f"{name}.kt"], perm=[0, 1, 3, 2], name=f"/{name}/kT"),
        helper.make_node("MatMul", [q, f"{name}.kt"], [f"{name}.scores"], name=f"/{name}/QK"),
        helper.make_node("Softmax", [f"{name}.scores"], [f"{name}.p"], axis=-1, name=f"/{name}/Softmax"),
        helper.make_node("MatMul", [f"{name}.p", v], [f"{name}.ctx"], name=f"/{name}/PV"),
        helper.make_node("Transpose", [f"{name}.ctx"], [f"{name}.ctx_t"], perm=[0, 2, 1, 3], name=f"/{name}/ctxT"),
        helper.make_node("Reshape", [f"{name}.ctx_t", "shape_flat"], [f"{name}.out"], name=f"/{name}/merge"),
    ]
    return f"{name}.out"


def seq2seq_folder(folder, heads=2, head_dim=4, vocab=20) -> None:
    """optimum's seq2seq layout, one layer each side, float32 (T5's shape without its norms and MLP):
    encoder_model.onnx (input_ids [batch_size, encoder_sequence_length] → self-attention → O →
    last_hidden_state), decoder_model.onnx (the first step: self-attention over the decoder's tokens,
    cross-attention over encoder_hidden_states; present.0.decoder.* and present.0.encoder.* out) and
    decoder_with_past_model.onnx (input_ids [batch_size, 1], the self-attention cache concatenated, the
    cross-attention cache past_key_values.0.encoder.* [batch_size, H, encoder_sequence_length_out, D]
    read; present.0.decoder.* out). Every projection is W × W (W = H·D), lm_head W × vocab."""
    from pathlib import Path

    width, folder = heads * head_dim, Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    shapes = [
        helper.make_tensor(f"shape_{heads}", TensorProto.INT64, [4], [0, 0, heads, head_dim]),
        helper.make_tensor("shape_flat", TensorProto.INT64, [3], [0, 0, width]),
    ]

    def proj(nodes, inits, x, name, seed, heads_out=True):
        out = _linear(nodes, inits, x, name, width, width, seed)
        return _heads(nodes, out, name, heads, head_dim) if heads_out else out

    def save(name, nodes, inits, inputs, outputs):
        graph = helper.make_graph(nodes, name, inputs, outputs, initializer=shapes + inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        model.ir_version = 8
        onnx.save(model, folder / f"{name}.onnx")

    nodes, inits = [], []
    x = _embedding(nodes, inits, vocab, width)
    q, k, v = (proj(nodes, inits, x, f"enc.{p}", s) for p, s in (("q", 1), ("k", 2), ("v", 3)))
    ctx = _attention(nodes, q, k, v, "enc.attn", heads, head_dim)
    out = _linear(nodes, inits, ctx, "enc.o", width, width, 4)
    nodes.append(helper.make_node("Identity", [out], ["last_hidden_state"], name="/enc/out"))
    save("encoder_model", nodes, inits, [vi("input_ids", ["batch_size", "encoder_sequence_length"], TensorProto.INT64)],
         [vi("last_hidden_state", ["batch_size", "encoder_sequence_length", width])])  # fmt: skip

    for name, past in (("decoder_model", False), ("decoder_with_past_model", True)):
        nodes, inits = [], []
        x = _embedding(nodes, inits, vocab, width)
        ids = ["batch_size", 1 if past else "decoder_sequence_length"]
        inputs = [vi("input_ids", ids, TensorProto.INT64)]
        q, k, v = (proj(nodes, inits, x, f"dec.{p}", s) for p, s in (("q", 5), ("k", 6), ("v", 7)))
        outputs = [vi("logits", [*ids, vocab])]
        kv = {}
        for kind, new in (("key", k), ("value", v)):
            present = f"present.0.decoder.{kind}"
            if past:
                cache = f"past_key_values.0.decoder.{kind}"
                inputs.append(vi(cache, ["batch_size", heads, "past_decoder_sequence_length", head_dim]))
                nodes.append(helper.make_node("Concat", [cache, new], [present], axis=2, name=f"/dec/{kind}/Concat"))
            else:
                nodes.append(helper.make_node("Identity", [new], [present], name=f"/dec/{kind}/present"))
            outputs.append(vi(present, [None] * 4))
            kv[kind] = present
        h = _linear(
            nodes,
            inits,
            _attention(nodes, q, kv["key"], kv["value"], "dec.self", heads, head_dim),
            "dec.o",
            width,
            width,
            8,
        )
        cq = proj(nodes, inits, h, "dec.cross_q", 9)
        cross = {}
        if past:
            for kind in ("key", "value"):
                cross[kind] = f"past_key_values.0.encoder.{kind}"
                inputs.append(vi(cross[kind], ["batch_size", heads, "encoder_sequence_length_out", head_dim]))
        else:
            inputs.append(vi("encoder_hidden_states", ["batch_size", "encoder_sequence_length", width]))
            for kind, seed in (("key", 10), ("value", 11)):
                made = proj(nodes, inits, "encoder_hidden_states", f"dec.cross_{kind[0]}", seed)
                cross[kind] = f"present.0.encoder.{kind}"
                nodes.append(helper.make_node("Identity", [made], [cross[kind]], name=f"/dec/cross_{kind}/present"))
                outputs.append(vi(cross[kind], [None] * 4))
        c = _attention(nodes, cq, cross["key"], cross["value"], "dec.cross", heads, head_dim)
        c = _linear(nodes, inits, c, "dec.cross_o", width, width, 12)
        logits = _linear(nodes, inits, c, "lm_head", width, vocab, 13)
        nodes.append(helper.make_node("Identity", [logits], ["logits"], name="/lm_head/Identity"))
        save(name, nodes, inits, inputs, outputs)
