"""Writes the sample models of sample_models/, deterministically: `python sample_models/make_samples.py`.

(a) conv3x3.onnx         a standard 3×3 conv, 28×28×3 input, 128 filters, bias
(b) mobilenet_v1_module.onnx  3×3 depthwise then 1×1 pointwise to 128 (same input and output as a)
(c) mobilenet_v2_block.onnx   1×1 expansion ×6 (3→18), 3×3 depthwise, 1×1 linear projection to 128
(d) conv_k10_s3.onnx     205×205 input, stride 3, no padding → 66×66: kernel 10
(e) lstm.onnx            an LSTM over a 5-step sequence, 10 inputs, 20 hidden units
(f) mobilenet_v1.onnx, mobilenet_v2.onnx   the full 1.0-224 networks (Conv, BatchNorm, ReLU/ReLU6)
(g) transformer_block.onnx  one pre-norm encoder block, d_model 64, 4 heads, FFN 256, on an input of
    symbolic shape batch×seq×64 (what every transformer export has): `--dim`, `--symbolic`, `--sweep`

Weights are deterministic and compressible: each tensor repeats a fixed 1,021-value pattern from
its own offset, scaled like He initialisation, so the files stay small in git while no two
tensors are byte-identical.
"""

from __future__ import annotations

import math
import sys
import zlib
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 8
PERIOD = 1021
_PATTERN = np.random.default_rng(20261126).uniform(-1.0, 1.0, PERIOD).astype(np.float32)


_USED: set[tuple] = set()  # (shape, offset, scale, center) already written: no two tensors share bytes


def weight(name: str, shape, fan_in: int | None = None, center: float = 0.0, spread: float | None = None):
    n = math.prod(shape)
    offset = zlib.crc32(name.encode()) % PERIOD
    key = (tuple(shape), fan_in, spread, center)
    while key + (offset,) in _USED:  # the same pattern from the same offset would duplicate a tensor
        offset = (offset + 1) % PERIOD
    _USED.add(key + (offset,))
    values = _PATTERN[(np.arange(n) + offset) % PERIOD]
    scale = spread if spread is not None else math.sqrt(6.0 / max(fan_in or 1, 1))
    return numpy_helper.from_array((center + scale * values).reshape(shape).astype(np.float32), name)


class Builder:
    """Collects nodes and initializers with PyTorch-exporter-style scoped names."""

    def __init__(self):
        self.nodes, self.inits = [], []

    def conv(self, scope, x, c_in, c_out, k, stride=1, pad=0, group=1, bias=True):
        w = f"{scope}.weight"
        self.inits.append(weight(w, (c_out, c_in // group, k, k), fan_in=c_in // group * k * k))
        inputs = [x, w]
        if bias:
            self.inits.append(weight(f"{scope}.bias", (c_out,), spread=0.01))
            inputs.append(f"{scope}.bias")
        y = f"/{_path(scope)}/Conv_output_0"
        self.nodes.append(
            helper.make_node(
                "Conv",
                inputs,
                [y],
                name=f"/{_path(scope)}/Conv",
                kernel_shape=[k, k],
                strides=[stride, stride],
                pads=[pad] * 4,
                group=group,
            )
        )
        return y

    def bn(self, scope, x, c):
        names = [f"{scope}.{p}" for p in ("weight", "bias", "running_mean", "running_var")]
        self.inits += [
            weight(names[0], (c,), center=1.0, spread=0.05),
            weight(names[1], (c,), spread=0.05),
            weight(names[2], (c,), spread=0.05),
            weight(names[3], (c,), center=1.0, spread=0.05),
        ]
        y = f"/{_path(scope)}/BatchNormalization_output_0"
        self.nodes.append(
            helper.make_node(
                "BatchNormalization", [x, *names], [y], name=f"/{_path(scope)}/BatchNormalization", epsilon=1e-5
            )
        )
        return y

    def act(self, scope, x, relu6):
        if relu6:
            y = f"/{_path(scope)}/Clip_output_0"
            self.nodes.append(
                helper.make_node("Clip", [x, "relu6_min", "relu6_max"], [y], name=f"/{_path(scope)}/Clip")
            )
        else:
            y = f"/{_path(scope)}/Relu_output_0"
            self.nodes.append(helper.make_node("Relu", [x], [y], name=f"/{_path(scope)}/Relu"))
        return y

    def conv_bn_act(self, scope, x, c_in, c_out, k, stride=1, group=1, relu6=False, act=True):
        y = self.conv(f"{scope}.0", x, c_in, c_out, k, stride, k // 2, group, bias=False)
        y = self.bn(f"{scope}.1", y, c_out)
        return self.act(f"{scope}.2", y, relu6) if act else y

    def classifier(self, scope, x, c_in, classes=1000):
        pooled = "/GlobalAveragePool_output_0"
        self.nodes.append(helper.make_node("GlobalAveragePool", [x], [pooled], name="/GlobalAveragePool"))
        flat = "/Flatten_output_0"
        self.nodes.append(helper.make_node("Flatten", [pooled], [flat], name="/Flatten", axis=1))
        self.inits += [
            weight(f"{scope}.weight", (classes, c_in), fan_in=c_in),
            weight(f"{scope}.bias", (classes,), spread=0.01),
        ]
        self.nodes.append(
            helper.make_node(
                "Gemm", [flat, f"{scope}.weight", f"{scope}.bias"], ["logits"], name=f"/{_path(scope)}/Gemm", transB=1
            )
        )
        return "logits"

    def model(self, name, inputs, outputs, relu6=False):
        if relu6:
            self.inits += [
                numpy_helper.from_array(np.array(0.0, np.float32), "relu6_min"),
                numpy_helper.from_array(np.array(6.0, np.float32), "relu6_max"),
            ]
        graph = helper.make_graph(self.nodes, name, inputs, outputs, initializer=self.inits)
        model = helper.make_model(
            graph,
            opset_imports=[helper.make_opsetid("", OPSET)],
            producer_name="modelaudit-samples",
            producer_version="1",
        )
        model.ir_version = IR_VERSION
        onnx.checker.check_model(model)
        return model


def _path(scope: str) -> str:
    """`features.3.conv.0.0` -> `features/features.3/conv/conv.0/conv.0.0`, as torch.onnx names scopes."""
    out, current = [], ""
    for part in scope.split("."):
        current = f"{current}.{part}" if part.isdigit() and current else part
        out.append(current)
    return "/".join(out)


def _io(name, shape):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def conv3x3():
    b = Builder()
    y = b.conv("conv", "x", 3, 128, 3, pad=1)
    return b.model("conv3x3", [_io("x", [1, 3, 28, 28])], [_io(y, [1, 128, 28, 28])])


def mobilenet_v1_module():
    b = Builder()
    y = b.conv("depthwise", "x", 3, 3, 3, pad=1, group=3)
    y = b.act("depthwise_relu", y, False)
    y = b.conv("pointwise", y, 3, 128, 1)
    y = b.act("pointwise_relu", y, False)
    return b.model("mobilenet_v1_module", [_io("x", [1, 3, 28, 28])], [_io(y, [1, 128, 28, 28])])


def mobilenet_v2_block():
    b = Builder()
    y = b.conv("expand", "x", 3, 18, 1)
    y = b.act("expand_relu6", y, True)
    y = b.conv("depthwise", y, 18, 18, 3, pad=1, group=18)
    y = b.act("depthwise_relu6", y, True)
    y = b.conv("project", y, 18, 128, 1)
    return b.model("mobilenet_v2_block", [_io("x", [1, 3, 28, 28])], [_io(y, [1, 128, 28, 28])], relu6=True)


def conv_k10_s3():
    b = Builder()
    y = b.conv("conv", "x", 3, 16, 10, stride=3)
    return b.model("conv_k10_s3", [_io("x", [1, 3, 205, 205])], [_io(y, [1, 16, 66, 66])])


def lstm():
    seq, batch, inputs, hidden = 5, 1, 10, 20
    inits = [
        weight("W", (1, 4 * hidden, inputs), fan_in=inputs),
        weight("R", (1, 4 * hidden, hidden), fan_in=hidden),
        weight("B", (1, 8 * hidden), spread=0.01),
    ]
    node = helper.make_node("LSTM", ["x", "W", "R", "B"], ["Y", "Y_h", "Y_c"], name="/lstm/LSTM", hidden_size=hidden)
    graph = helper.make_graph(
        [node],
        "lstm",
        [_io("x", [seq, batch, inputs])],
        [_io("Y", [seq, 1, batch, hidden]), _io("Y_h", [1, batch, hidden]), _io("Y_c", [1, batch, hidden])],
        initializer=inits,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="modelaudit-samples", producer_version="1"
    )
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    return model


def mobilenet_v1():
    """Howard et al. 2017, Table 1: a 3×3 conv, 13 depthwise-separable blocks, pool, FC-1000."""
    b = Builder()
    y = b.conv_bn_act("features.0", "input", 3, 32, 3, stride=2)
    blocks = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + [(512, 1)] * 5 + [(1024, 2), (1024, 1)]
    c_in = 32
    for i, (c_out, stride) in enumerate(blocks, start=1):
        y = b.conv_bn_act(f"features.{i}.depthwise", y, c_in, c_in, 3, stride, group=c_in)
        y = b.conv_bn_act(f"features.{i}.pointwise", y, c_in, c_out, 1)
        c_in = c_out
    y = b.classifier("classifier.1", y, 1024)
    return b.model("mobilenet_v1", [_io("input", [1, 3, 224, 224])], [_io(y, [1, 1000])])


def mobilenet_v2():
    """Sandler et al. 2018, Table 2, with torchvision's module layout and names."""
    b = Builder()
    y = b.conv_bn_act("features.0", "input", 3, 32, 3, stride=2, relu6=True)
    settings = [
        (1, 16, 1, 1),
        (6, 24, 2, 2),
        (6, 32, 3, 2),
        (6, 64, 4, 2),
        (6, 96, 3, 1),
        (6, 160, 3, 2),
        (6, 320, 1, 1),
    ]
    c_in, index = 32, 1
    for t, c, n, s in settings:
        for i in range(n):
            stride = s if i == 0 else 1
            y = _inverted_residual(b, f"features.{index}", y, c_in, c, stride, t)
            c_in, index = c, index + 1
    y = b.conv_bn_act(f"features.{index}", y, c_in, 1280, 1, relu6=True)
    y = b.classifier("classifier.1", y, 1280)
    return b.model("mobilenet_v2", [_io("input", [1, 3, 224, 224])], [_io(y, [1, 1000])], relu6=True)


def _inverted_residual(b: Builder, scope, x, c_in, c_out, stride, expand):
    hidden = c_in * expand
    layer, y = 0, x
    if expand != 1:
        y = b.conv_bn_act(f"{scope}.conv.0", y, c_in, hidden, 1, relu6=True)
        layer = 1
    y = b.conv_bn_act(f"{scope}.conv.{layer}", y, hidden, hidden, 3, stride, group=hidden, relu6=True)
    y = b.conv(f"{scope}.conv.{layer + 1}", y, hidden, c_out, 1, bias=False)
    y = b.bn(f"{scope}.conv.{layer + 2}", y, c_out)
    if stride == 1 and c_in == c_out:
        out = f"/{_path(scope)}/Add_output_0"
        b.nodes.append(helper.make_node("Add", [x, y], [out], name=f"/{_path(scope)}/Add"))
        y = out
    return y


def transformer_block(d_model: int = 64, heads: int = 4, ffn: int = 256):
    """x + attention(LN(x)), then + FFN(LN(·)): MatMul+Add projections, Reshape/Transpose into heads."""
    b, head_dim = Builder(), d_model // heads

    def linear(scope, x, c_in, c_out):
        b.inits += [
            weight(f"{scope}.weight", (c_in, c_out), fan_in=c_in),
            weight(f"{scope}.bias", (c_out,), spread=0.01),
        ]
        mm, y = f"/{_path(scope)}/MatMul_output_0", f"/{_path(scope)}/Add_output_0"
        b.nodes += [
            helper.make_node("MatMul", [x, f"{scope}.weight"], [mm], name=f"/{_path(scope)}/MatMul"),
            helper.make_node("Add", [mm, f"{scope}.bias"], [y], name=f"/{_path(scope)}/Add"),
        ]
        return y

    def node(op, scope, inputs, **attrs):
        y = f"/{_path(scope)}/{op}_output_0"
        b.nodes.append(helper.make_node(op, inputs, [y], name=f"/{_path(scope)}/{op}", **attrs))
        return y

    def norm(scope, x):
        b.inits += [
            weight(f"{scope}.weight", (d_model,), center=1.0, spread=0.05),
            weight(f"{scope}.bias", (d_model,), spread=0.05),
        ]
        return node("LayerNormalization", scope, [x, f"{scope}.weight", f"{scope}.bias"], axis=-1, epsilon=1e-5)

    b.inits += [
        numpy_helper.from_array(np.array([0, 0, heads, head_dim], np.int64), "heads_shape"),
        numpy_helper.from_array(np.array([0, 0, d_model], np.int64), "model_shape"),
        numpy_helper.from_array(np.array(1.0 / math.sqrt(head_dim), np.float32), "attn_scale"),
    ]
    h = norm("norm1", "x")
    q, k, v = (
        node("Reshape", f"attn.{n}_heads", [linear(f"attn.{n}_proj", h, d_model, d_model), "heads_shape"])
        for n in "qkv"
    )
    q = node("Transpose", "attn.q_t", [q], perm=[0, 2, 1, 3])  # batch, heads, seq, head_dim
    k = node("Transpose", "attn.k_t", [k], perm=[0, 2, 3, 1])  # batch, heads, head_dim, seq
    v = node("Transpose", "attn.v_t", [v], perm=[0, 2, 1, 3])
    scores = node("Mul", "attn.scale", [node("MatMul", "attn.scores", [q, k]), "attn_scale"])
    context = node("MatMul", "attn.context", [node("Softmax", "attn.softmax", [scores], axis=-1), v])
    merged = node(
        "Reshape", "attn.merge", [node("Transpose", "attn.context_t", [context], perm=[0, 2, 1, 3]), "model_shape"]
    )
    x1 = node("Add", "residual1", ["x", linear("attn.out_proj", merged, d_model, d_model)])
    f = node("Relu", "ffn.act", [linear("ffn.fc1", norm("norm2", x1), d_model, ffn)])
    y = node("Add", "residual2", [x1, linear("ffn.fc2", f, ffn, d_model)])
    return b.model("transformer_block", [_io("x", ["batch", "seq", d_model])], [_io(y, ["batch", "seq", d_model])])


SAMPLES = {
    "conv3x3.onnx": conv3x3,
    "mobilenet_v1_module.onnx": mobilenet_v1_module,
    "mobilenet_v2_block.onnx": mobilenet_v2_block,
    "conv_k10_s3.onnx": conv_k10_s3,
    "lstm.onnx": lstm,
    "mobilenet_v1.onnx": mobilenet_v1,
    "mobilenet_v2.onnx": mobilenet_v2,
    "transformer_block.onnx": transformer_block,
}


HERE = Path(__file__).resolve().parent


def main(folder: Path = HERE) -> None:
    for filename, build in SAMPLES.items():
        _USED.clear()
        onnx.save(build(), folder / filename)
        print(f"wrote {folder / filename}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent)
