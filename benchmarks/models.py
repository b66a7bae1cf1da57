"""Synthetic models for the benchmarks, written deterministically and on the fly (never committed).

- transformer(layers): an exported-transformer-like graph, ~130 nodes per layer: Q/K/V projections,
  head reshapes computed from Shape→Gather→Unsqueeze→Concat (as torch.onnx writes them), attention
  with Softmax, LayerNorm and GELU decomposed into elementwise ops, a residual MLP.
- transformer(layers, path, external=True): the same graph with every float initializer in ONE
  external file beside it (18,096 tensors pointing into it at 52k nodes, the layout of a large
  export; the int64 shape constants stay inline, as exporters write them).
- external_giant(path, params): MatMul weights that claim `params` parameters in an external file
  made sparse with truncate: never written, never read.
- embedded(path, megabytes): a model whose weights (random floats) sit inside the .onnx file.
- llama_decoder(path): a Llama-3-8B-shaped decoder as onnxruntime-genai writes one (RMSNorm,
  GroupQueryAttention with a KV cache, SwiGLU MLP), float16 weights in a sparse external file.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, external_data_helper, helper, numpy_helper

__all__ = ["transformer", "external_giant", "embedded", "llama_decoder"]

HIDDEN, HEADS, SEQ = 32, 4, 16


class _Graph:
    def __init__(self, seed: int = 0):
        self.nodes, self.inits, self.count = [], [], 0
        self.rng = np.random.default_rng(seed)

    def name(self, stem: str) -> str:
        self.count += 1
        return f"{stem}_{self.count}"

    def op(self, op_type: str, inputs: list[str], scope: str, **attrs) -> str:
        out = self.name(f"{scope}/{op_type}")
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=out, **attrs))
        return out

    def const(self, values, dtype=np.int64) -> str:
        name = self.name("const")
        self.inits.append(numpy_helper.from_array(np.asarray(values, dtype), name))
        return name

    def weight(self, shape) -> str:
        name = self.name("w")
        self.inits.append(numpy_helper.from_array(self.rng.standard_normal(shape).astype(np.float32) * 0.02, name))
        return name


def _linear(g: _Graph, x: str, n_in: int, n_out: int, scope: str) -> str:
    return g.op("Add", [g.op("MatMul", [x, g.weight((n_in, n_out))], scope), g.weight((n_out,))], scope)


def _layer_norm(g: _Graph, x: str, scope: str) -> str:
    mean = g.op("ReduceMean", [x], scope, axes=[-1])
    centered = g.op("Sub", [x, mean], scope)
    var = g.op("ReduceMean", [g.op("Pow", [centered, g.const(2.0, np.float32)], scope)], scope, axes=[-1])
    std = g.op("Sqrt", [g.op("Add", [var, g.const(1e-5, np.float32)], scope)], scope)
    return g.op(
        "Add",
        [g.op("Mul", [g.op("Div", [centered, std], scope), g.weight((HIDDEN,))], scope), g.weight((HIDDEN,))],
        scope,
    )


def _heads(g: _Graph, x: str, scope: str) -> str:
    """[B, S, H·D] → [B, H, S, D] with the target shape computed at run time, as exporters write it."""
    shape = g.op("Shape", [x], scope)
    batch = g.op("Unsqueeze", [g.op("Gather", [shape, g.const(0)], scope, axis=0), g.const([0])], scope)
    seq = g.op("Unsqueeze", [g.op("Gather", [shape, g.const(1)], scope, axis=0), g.const([0])], scope)
    target = g.op("Concat", [batch, seq, g.const([HEADS]), g.const([HIDDEN // HEADS])], scope, axis=0)
    return g.op("Transpose", [g.op("Reshape", [x, target], scope)], scope, perm=[0, 2, 1, 3])


def _block(g: _Graph, x: str, i: int) -> str:
    scope = f"/encoder/layer.{i}/attention"
    q, k, v = (_heads(g, _linear(g, x, HIDDEN, HIDDEN, scope), scope) for _ in range(3))
    scores = g.op("MatMul", [q, g.op("Transpose", [k], scope, perm=[0, 1, 3, 2])], scope)
    scores = g.op("Div", [scores, g.const(float(np.sqrt(HIDDEN // HEADS)), np.float32)], scope)
    context = g.op("MatMul", [g.op("Softmax", [scores], scope, axis=-1), v], scope)
    context = g.op("Transpose", [context], scope, perm=[0, 2, 1, 3])
    shape = g.op("Shape", [x], scope)
    merged = g.op("Reshape", [context, shape], scope)
    x = _layer_norm(g, g.op("Add", [_linear(g, merged, HIDDEN, HIDDEN, scope), x], scope), scope)
    scope = f"/encoder/layer.{i}/mlp"
    h = _linear(g, x, HIDDEN, 4 * HIDDEN, scope)
    erf = g.op("Erf", [g.op("Div", [h, g.const(1.4142135, np.float32)], scope)], scope)
    gelu = g.op(
        "Mul",
        [g.op("Mul", [h, g.op("Add", [erf, g.const(1.0, np.float32)], scope)], scope), g.const(0.5, np.float32)],
        scope,
    )
    return _layer_norm(g, g.op("Add", [_linear(g, gelu, 4 * HIDDEN, HIDDEN, scope), x], scope), scope)


def transformer(layers: int, path: str | Path, batch="batch", external: bool = False) -> int:
    """Writes the model; returns its node count. With `external`, every float initializer is written
    to `<stem>.weights` beside the model, one after the other."""
    g = _Graph()
    x = "hidden_states"
    for i in range(layers):
        x = _block(g, x, i)
    graph = helper.make_graph(
        g.nodes,
        "transformer",
        [helper.make_tensor_value_info("hidden_states", TensorProto.FLOAT, [batch, SEQ, HIDDEN])],
        [helper.make_tensor_value_info(x, TensorProto.FLOAT, [batch, SEQ, HIDDEN])],
        initializer=g.inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    if external:
        _to_one_file(model, Path(path).with_suffix(".weights"))
    onnx.save(model, path)
    return len(g.nodes)


def _to_one_file(model: onnx.ModelProto, data: Path) -> None:
    offset = 0
    with open(data, "wb") as fh:
        for t in model.graph.initializer:
            if t.data_type != TensorProto.FLOAT:  # shape constants stay inline, as exporters write them
                continue
            raw = t.raw_data
            fh.write(raw)
            external_data_helper.set_external_data(t, data.name, offset, len(raw))
            t.ClearField("raw_data")
            t.data_location = TensorProto.EXTERNAL
            offset += len(raw)


def external_giant(path: str | Path, params: int = 20 * 10**9, matrices: int = 20) -> int:
    """A chain of MatMuls whose weights claim `params` parameters in total, stored externally in a
    sparse file of the right size that is never written."""
    path = Path(path)
    side = int((params // matrices) ** 0.5)
    data = path.with_suffix(".weights")
    nodes, inits, x, offset = [], [], "x", 0
    for i in range(matrices):
        w = onnx.TensorProto(name=f"w{i}", data_type=TensorProto.FLOAT, dims=[side, side])
        w.data_location = onnx.TensorProto.EXTERNAL
        for key, value in (("location", data.name), ("offset", str(offset)), ("length", str(side * side * 4))):
            entry = w.external_data.add()
            entry.key, entry.value = key, value
        offset += side * side * 4
        inits.append(w)
        nodes.append(helper.make_node("MatMul", [x, w.name], [f"h{i}"], name=f"/layer.{i}/MatMul"))
        x = f"h{i}"
    graph = helper.make_graph(
        nodes,
        "giant",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, side])],
        [helper.make_tensor_value_info(x, TensorProto.FLOAT, [1, side])],
        initializer=inits,
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    with open(data, "wb") as fh:
        fh.truncate(offset)  # sparse: no byte is written, none is read
    return matrices * side * side


def embedded(path: str | Path, megabytes: int = 300) -> int:
    """A MatMul chain whose float weights (`megabytes` MB in all) are stored inside the .onnx file."""
    rng = np.random.default_rng(0)
    side = 2048
    matrices = max(1, megabytes * 10**6 // (side * side * 4))
    nodes, inits, x = [], [], "x"
    for i in range(matrices):
        inits.append(numpy_helper.from_array(rng.standard_normal((side, side), dtype=np.float32), f"w{i}"))
        nodes.append(helper.make_node("MatMul", [x, f"w{i}"], [f"h{i}"], name=f"/layer.{i}/MatMul"))
        x = f"h{i}"
    graph = helper.make_graph(
        nodes,
        "embedded",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, side])],
        [helper.make_tensor_value_info(x, TensorProto.FLOAT, [1, side])],
        initializer=inits,
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return os.path.getsize(path)


def llama_decoder(
    path: str | Path,
    layers: int = 32,
    hidden: int = 4096,
    heads: int = 32,
    kv_heads: int = 8,
    ffn: int = 14336,
    vocab: int = 128256,
) -> int:
    """Llama-3-8B's shapes (by default) in onnxruntime-genai's layout: `input_ids [batch_size,
    sequence_length]`, `past_key_values.{i}.key/value [batch_size, kv_heads, past_sequence_length,
    head_dim]` into GroupQueryAttention, `present.{i}.*` out. Float16 weights claim their bytes in a
    sparse external file (never written, never read). Returns the params."""
    path = Path(path)
    data = path.with_suffix(".weights")
    head_dim, f16 = hidden // heads, TensorProto.FLOAT16
    nodes, inits, offset = [], [], 0

    def weight(name: str, dims: list[int]) -> str:
        nonlocal offset
        w = onnx.TensorProto(name=name, data_type=f16, dims=dims)
        w.data_location = onnx.TensorProto.EXTERNAL
        size = int(np.prod(dims)) * 2
        for key, value in (("location", data.name), ("offset", str(offset)), ("length", str(size))):
            entry = w.external_data.add()
            entry.key, entry.value = key, value
        offset += size
        inits.append(w)
        return name

    def node(op: str, inputs: list[str], name: str, outputs: list[str] | None = None, domain: str = "", **attrs) -> str:
        outputs = outputs or [f"{name}.out"]
        nodes.append(helper.make_node(op, inputs, outputs, name=name, domain=domain, **attrs))
        return outputs[0]

    def rms(x: str, name: str) -> str:
        return node(
            "SimplifiedLayerNormalization",
            [x, weight(f"{name}.weight", [hidden])],
            f"/{name}/RMSNorm",
            domain="com.microsoft",
            axis=-1,
            epsilon=1e-5,
        )

    def matmul(x: str, name: str, n_in: int, n_out: int) -> str:
        return node("MatMul", [x, weight(f"{name}.weight", [n_in, n_out])], f"/{name}/MatMul")

    inputs = [
        helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch_size", "sequence_length"]),
        helper.make_tensor_value_info("seqlens_k", TensorProto.INT32, ["batch_size"]),
        helper.make_tensor_value_info("total_sequence_length", TensorProto.INT32, []),
    ]
    outputs = []
    x = node("Gather", [weight("embed_tokens.weight", [vocab, hidden]), "input_ids"], "/embed_tokens/Gather")
    for i in range(layers):
        h = rms(x, f"layers.{i}.input_layernorm")
        q, k, v = (
            matmul(h, f"layers.{i}.attn.{p}_proj", hidden, width)
            for p, width in (("q", hidden), ("k", kv_heads * head_dim), ("v", kv_heads * head_dim))
        )
        cache = []
        for kind in ("key", "value"):
            inputs.append(
                helper.make_tensor_value_info(
                    f"past_key_values.{i}.{kind}", f16, ["batch_size", kv_heads, "past_sequence_length", head_dim]
                )
            )
            outputs.append(helper.make_tensor_value_info(f"present.{i}.{kind}", f16, [None] * 4))
            cache.append(f"past_key_values.{i}.{kind}")
        attn = node(
            "GroupQueryAttention",
            [q, k, v, *cache, "seqlens_k", "total_sequence_length"],
            f"/layers.{i}/attn/GroupQueryAttention",
            [f"layers.{i}.attn.out", f"present.{i}.key", f"present.{i}.value"],
            domain="com.microsoft",
            num_heads=heads,
            kv_num_heads=kv_heads,
        )
        x = node("Add", [x, matmul(attn, f"layers.{i}.attn.o_proj", hidden, hidden)], f"/layers.{i}/attn_residual/Add")
        h = rms(x, f"layers.{i}.post_attention_layernorm")
        gate = matmul(h, f"layers.{i}.mlp.gate_proj", hidden, ffn)
        silu = node("Mul", [gate, node("Sigmoid", [gate], f"/layers.{i}/mlp/Sigmoid")], f"/layers.{i}/mlp/silu")
        up = node("Mul", [silu, matmul(h, f"layers.{i}.mlp.up_proj", hidden, ffn)], f"/layers.{i}/mlp/Mul")
        x = node("Add", [x, matmul(up, f"layers.{i}.mlp.down_proj", ffn, hidden)], f"/layers.{i}/mlp_residual/Add")
    logits = matmul(rms(x, "norm"), "lm_head", hidden, vocab)
    outputs.insert(0, helper.make_tensor_value_info(logits, f16, ["batch_size", "sequence_length", vocab]))
    graph = helper.make_graph(nodes, "llama", inputs, outputs, initializer=inits)
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    )
    model.ir_version = 8
    onnx.save(model, path)
    with open(data, "wb") as fh:
        fh.truncate(offset)  # sparse: no byte is written, none is read
    return offset // 2
