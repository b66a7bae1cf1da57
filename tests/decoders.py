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
