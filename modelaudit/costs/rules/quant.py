"""com.microsoft's quantized ops, as onnxruntime's quantizer and optimizer write them: MACs are those
of the float op they replace; FLOPs add the (de)quantization arithmetic around the integer kernel."""

from __future__ import annotations

import math

from modelaudit.costs.cost import Cost, NodeContext

from . import rule
from .attention import kv_length, sdpa_cost
from .elementwise import ELEMENTWISE_FLOPS, fixed_rule
from .linear import gemm_dims, matmul_cost
from .recurrent import unit_flops

__all__ = [
    "dynamic_quantize_lstm",
    "qattention",
    "dynamic_quantize_matmul",
    "matmul_integer_to_float",
    "qgemm",
    "qlinear_binary",
    "qlinear_activation",
    "qlinear_global_average_pool",
    "qlinear_concat",
    "qlinear_average_pool",
    "qembed_layer_norm",
    "QUANTIZE_FLOPS",
    "REQUANTIZE_FLOPS",
]

MS = "com.microsoft"
QUANTIZE_FLOPS = 6  # DynamicQuantizeLinear per element: min, max, divide, round, + zero point, saturate
REQUANTIZE_FLOPS = 4  # per output: scale, round, + zero point, saturate
DEQUANTIZE_FLOPS = 2  # per input element: (x − zero point)·scale


@rule(
    "DynamicQuantizeLSTM",
    domain=MS,
    category="recurrent",
    macs="as LSTM: seq·batch·dirs·4·H·(I+H)",
    flops="as LSTM (2·MACs + 30 per unit and step with bias)",
)
def dynamic_quantize_lstm(ctx: NodeContext) -> Cost:
    """X [seq, batch, I]; W int8 [dirs, I, 4·H] and R [dirs, H, 4·H] (transposed against LSTM's);
    B, sequence_lens, initial_h, initial_c, P as LSTM; then W/R scales and zero points."""
    seq, batch, inputs = ctx.in_dims(0)
    w = ctx.in_dims(1)
    hidden = int(ctx.attr("hidden_size", 0)) or w[2] // 4
    dirs, steps = w[0], seq * batch * w[0]
    macs = steps * 4 * hidden * (inputs + hidden)
    unit = unit_flops(ctx, "LSTM", 4)
    formula = f"{seq}*{batch}*{dirs}*4*{hidden}*({inputs}+{hidden}); elementwise {steps}*{hidden}*{unit}"
    if ctx.has_input(4):
        formula += "; sequence_lens given: MACs are for the full sequence (an upper bound)"
    return Cost(macs=macs, flops=2 * macs + steps * hidden * unit, formula=formula)


@rule(
    "QAttention",
    domain=MS,
    category="attention",
    macs="as com.microsoft:Attention: B·S·I·(3·hidden) + B·N·S·S_total·(D + D_v)",
    flops="2·MACs + B·S·3·hidden (bias) + 6·|input| (quantize) + per score: scale 1, softmax 5, mask 1",
)
def qattention(ctx: NodeContext) -> Cost:
    """input [B, S, I], weight int8 [I, 3·hidden], bias [3·hidden], input/weight scales, mask_index
    (5), zero points (6, 7), past [2, B, N, S_past, D] (8) → [B, S, hidden]."""
    batch, seq, width = ctx.in_dims(0)
    w = ctx.in_dims(1)
    heads = int(ctx.attr("num_heads"))
    head = w[1] // 3 // heads
    projection = batch * seq * width * w[1]
    s_total = kv_length(ctx, seq, 8, 1, axis=3)
    masked = ctx.has_input(5) or bool(ctx.attr("unidirectional", 0))
    macs, flops, formula = sdpa_cost(batch, heads, seq, s_total, head, head, masked)
    extra = batch * seq * w[1] + QUANTIZE_FLOPS * batch * seq * width
    return Cost(
        macs=projection + macs,
        flops=2 * projection + extra + flops,
        formula=f"projection {batch}*{seq}*{width}*{w[1]}; {formula}",
    )


def _rescaled(ctx: NodeContext, cost: Cost, bias_input: int, quantized_a: bool) -> Cost:
    """A matmul of integers whose int32 result is scaled back to float (+ bias)."""
    outputs = ctx.out_numel(0)
    extra = outputs + (outputs if ctx.has_input(bias_input) else 0)
    formula = f"{cost.formula}; rescale{' + bias' if ctx.has_input(bias_input) else ''} {extra}"
    if quantized_a:
        extra += QUANTIZE_FLOPS * ctx.in_numel(0)
        formula += f"; quantize A {QUANTIZE_FLOPS}*{ctx.in_numel(0)}"
    return Cost(macs=cost.macs, flops=2 * cost.macs + extra, formula=formula)


@rule(
    "DynamicQuantizeMatMul",
    domain=MS,
    category="linear",
    macs="as MatMul",
    flops="2·MACs + 6·|A| (quantize A) + |Y| (rescale) + |Y| if bias",
)
def dynamic_quantize_matmul(ctx: NodeContext) -> Cost:
    """A float [..., M, K] (quantized on the fly), B int8 [K, N], b_scale, b_zero_point, bias [N]."""
    return _rescaled(ctx, matmul_cost(ctx, 0, 1), 4, quantized_a=True)


@rule(
    "MatMulIntegerToFloat", domain=MS, category="linear", macs="as MatMul", flops="2·MACs + |Y| (rescale) + |Y| if bias"
)
def matmul_integer_to_float(ctx: NodeContext) -> Cost:
    """A int8 [..., M, K], B int8 [K, N], a_scale, b_scale, a/b zero points, bias [N] → float Y."""
    return _rescaled(ctx, matmul_cost(ctx, 0, 1), 6, quantized_a=False)


@rule(
    "QGemm",
    domain=MS,
    category="linear",
    macs="M·K·N",
    flops="2·MACs + M·N if C (bias) + M·N if alpha ≠ 1 + 4·M·N if y_scale (requantize)",
)
def qgemm(ctx: NodeContext) -> Cost:
    """A, a_scale, a_zp, B (input 3), b_scale, b_zp, C int32 (6), y_scale, y_zp; transA/transB."""
    m, k, n = gemm_dims(ctx, 0, 3)
    macs = m * k * n
    extra = (m * n if ctx.has_input(6) else 0) + (m * n if ctx.attr("alpha", 1.0) != 1.0 else 0)
    extra += REQUANTIZE_FLOPS * m * n if ctx.has_input(7) else 0
    return Cost(macs=macs, flops=2 * macs + extra, formula=f"{m}*{k}*{n}" + (f"; bias/scale {extra}" if extra else ""))


@rule(
    "QLinearAdd",
    "QLinearMul",
    domain=MS,
    category="elementwise",
    macs="0",
    flops="2·|A| + 2·|B| (dequantize) + |Y| (the op) + 4·|Y| (requantize)",
)
def qlinear_binary(ctx: NodeContext) -> Cost:
    """A, A_scale, A_zp, B (input 3), B_scale, B_zp, C_scale, C_zp; numpy broadcasting."""
    a, b, y = ctx.in_numel(0), ctx.in_numel(3), ctx.out_numel(0)
    flops = DEQUANTIZE_FLOPS * (a + b) + y + REQUANTIZE_FLOPS * y
    return Cost(flops=flops, formula=f"2*({a}+{b}) + 5*{y}")


_ACTIVATIONS = {"QLinearSigmoid": "Sigmoid", "QLinearLeakyRelu": "LeakyRelu"}


@rule(
    *_ACTIVATIONS,
    domain=MS,
    category="elementwise",
    macs="0",
    flops="(2 dequantize + the activation: Sigmoid 4, LeakyRelu 2 + 4 requantize)·|Y|",
)
def qlinear_activation(ctx: NodeContext) -> Cost:
    """X, X_scale, X_zp, Y_scale, Y_zp → Y of X's shape."""
    each = DEQUANTIZE_FLOPS + ELEMENTWISE_FLOPS[_ACTIVATIONS[ctx.op_type]][0] + REQUANTIZE_FLOPS
    n = ctx.in_numel(0)
    return Cost(flops=each * n, formula=f"{each}*{n}")


@rule(
    "QLinearGlobalAveragePool",
    domain=MS,
    category="pooling",
    macs="0",
    flops="|X| (as GlobalAveragePool) + 2·|X| (dequantize) + 4·N·C (requantize)",
)
def qlinear_global_average_pool(ctx: NodeContext) -> Cost:
    """X [N, C, D…] (channels_last: [N, D…, C]), x_scale, x_zp, y_scale, y_zp → [N, C, 1…]."""
    x = ctx.in_dims(0)
    channels = x[-1] if ctx.attr("channels_last", 0) else x[1]
    n_in, n_out = math.prod(x), x[0] * channels
    flops = n_in + DEQUANTIZE_FLOPS * n_in + REQUANTIZE_FLOPS * n_out
    return Cost(flops=flops, formula=f"3*{n_in} + 4*{n_out}")


fixed_rule("QLinearSoftmax", 11, "2 dequantize + 5 softmax + 4 requantize", domain=MS)


@rule(
    "QLinearConcat",
    domain=MS,
    category="data movement",
    macs="0",
    flops="(2 dequantize + 4 requantize)·|X_i| of each input whose scale or zero point differs from Y's",
)
def qlinear_concat(ctx: NodeContext) -> Cost:
    """Y_scale, Y_zp, then (X, X_scale, X_zp) per input; inputs already in Y's scale are copied."""
    flops, parts = 0, []
    inputs = ctx.node.input
    for i in range(2, len(inputs) - 2, 3):
        if (inputs[i + 1], inputs[i + 2]) != (inputs[0], inputs[1]):
            n = ctx.in_numel(i)
            flops += 6 * n
            parts.append(f"6*{n}")
    return Cost(flops=flops, formula=" + ".join(parts) or "a copy: every input already in Y's scale")


fixed_rule("QLinearWhere", 7, "1 select + 2 dequantize + 4 requantize", domain=MS)


@rule(
    "QLinearAveragePool",
    domain=MS,
    category="pooling",
    macs="0",
    flops="K·|Y| (as AveragePool, K = ∏kernel) + 2·|X| (dequantize) + 4·|Y| (requantize)",
)
def qlinear_average_pool(ctx: NodeContext) -> Cost:
    """X [N, C, D…] (channels_last: [N, D…, C]), x_scale, x_zp, y_scale, y_zp → AveragePool's Y."""
    kernel = math.prod(ctx.attr("kernel_shape") or [1])
    n_in, n_out = ctx.in_numel(0), ctx.out_numel(0)
    flops = kernel * n_out + DEQUANTIZE_FLOPS * n_in + REQUANTIZE_FLOPS * n_out
    return Cost(flops=flops, formula=f"{kernel}*{n_out} + 2*{n_in} + 4*{n_out}")


@rule(
    "QEmbedLayerNormalization",
    domain=MS,
    category="normalization",
    macs="0",
    flops="(2·k dequantize + k−1 adds + LayerNorm 7)·|Y| + 4·hidden (γ, β)  (k embeddings: word, position, segment)",
)
def qembed_layer_norm(ctx: NodeContext) -> Cost:
    """input_ids [B, S], segment_ids, int8 word/position/segment embeddings (2–4), γ, β (5, 6),
    mask (7), then their scales (8–12) and zero points (13–17) → [B, S, hidden], mask_index."""
    n = ctx.out_numel(0)
    hidden = ctx.in_dims(2)[1]
    k = 2 + (1 if ctx.has_input(1) and ctx.has_input(4) else 0)
    each = DEQUANTIZE_FLOPS * k + (k - 1) + 7
    return Cost(flops=each * n + 4 * hidden, formula=f"{each}*{n} + 4*{hidden}")
