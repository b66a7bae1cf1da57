"""Conv and ConvTranspose: MACs are the inner products, padded zeros included."""

from __future__ import annotations

import math

from modelaudit.costs.cost import Cost, NodeContext, Unresolved
from modelaudit.shapes.geometry import WindowError, transposed_dims, window_dims

from . import rule

__all__ = ["conv", "conv_transpose", "conv_output_dims"]


def conv_output_dims(ctx: NodeContext, kernel: tuple[int, ...], c_out: int) -> tuple[int, ...]:
    """Y's dims: inferred when known, else computed from X and the attributes. The attributes and
    the geometry are checked whenever X is known (WindowError: an error row, never a negative figure)."""
    try:
        computed = window_dims(ctx.attrs, ctx.in_dims(0), kernel, c_out)
    except Unresolved:
        return ctx.out_dims(0)
    try:
        return ctx.out_dims(0)
    except Unresolved:
        return computed


def _check_groups(ctx: NodeContext, c_out: int, cin_per_group: int) -> None:
    """X's channels must be group × W's C_in/group, and C_out a multiple of group: otherwise the
    MACs would describe a convolution no runtime performs (onnx.checker lets this pass)."""
    group = ctx.attr("group", 1)
    if not isinstance(group, int) or group < 1 or c_out % group:
        raise WindowError(f"group {group!r} does not divide C_out {c_out}")
    channels = ctx.in_shape(0)[1] if len(ctx.in_shape(0)) > 1 else None
    if isinstance(channels, int) and channels != cin_per_group * group:
        raise WindowError(
            f"X has {channels} channels, but W's C_in/group {cin_per_group} × group {group} = {cin_per_group * group}"
        )


def _product(dims) -> str:
    return "*".join(str(d) for d in dims) or "1"


def conv_cost(ctx: NodeContext, w: int = 1, bias: int | None = 2, per_output: int = 0) -> Cost:
    """MACs of a convolution whose weight is input `w`; `per_output` extra FLOPs per output element."""
    c_out, cin_per_group, *kernel = ctx.in_dims(w)
    _check_groups(ctx, c_out, cin_per_group)
    y = conv_output_dims(ctx, tuple(kernel), c_out)
    n, spatial = y[0], y[2:]
    outputs = n * c_out * math.prod(spatial)
    macs = outputs * cin_per_group * math.prod(kernel)
    extra = (outputs if bias is not None and ctx.has_input(bias) else 0) + per_output * outputs
    batch = f"{n}*" if n != 1 else ""
    formula = f"{batch}{_product(spatial)}*({_product(kernel)}*{cin_per_group})*{c_out}"
    if extra:
        formula += f"; bias/requantize {extra}"
    return Cost(macs=macs, flops=2 * macs + extra, formula=formula)


@rule(
    "Conv",
    category="conv",
    macs="N·C_out·∏(Y spatial)·(C_in/group)·∏(kernel)",
    flops="2·MACs + N·C_out·∏(Y spatial) if bias",
)
def conv(ctx: NodeContext) -> Cost:
    """X [N, C_in, D1…Dn], W [C_out, C_in/group, k1…kn], B [C_out] → Y [N, C_out, o1…on]."""
    return conv_cost(ctx)


@rule("ConvInteger", category="conv", macs="as Conv", flops="2·MACs")
def conv_integer(ctx: NodeContext) -> Cost:
    """X (u)int8, W (u)int8 [C_out, C_in/group, k…], zero points → int32 Y; no bias."""
    return conv_cost(ctx, bias=None)


@rule(
    "QLinearConv",
    category="conv",
    macs="as Conv (W is input 3)",
    flops="2·MACs + 4·|Y| (requantize: scale, round, zero point, saturate) + |Y| if bias",
)
def qlinear_conv(ctx: NodeContext) -> Cost:
    """x, x_scale, x_zp, W [C_out, C_in/group, k…], w_scale, w_zp, y_scale, y_zp, B (int32)."""
    return conv_cost(ctx, w=3, bias=8, per_output=4)


@rule(
    "DeformConv",
    category="conv",
    macs="as Conv",
    flops="2·MACs + N·C_in·∏(Y spatial)·∏(kernel)·(9 bilinear sampling + 1 if mask) + bias",
)
def deform_conv(ctx: NodeContext) -> Cost:
    """X [N, C_in, H, W], W [C_out, C_in/group, kh, kw], offset, B, mask: each tap sampled bilinearly."""
    base = conv_cost(ctx, bias=3)
    x, w = ctx.in_dims(0), ctx.in_dims(1)
    y = conv_output_dims(ctx, tuple(w[2:]), w[0])
    samples = x[0] * x[1] * math.prod(y[2:]) * math.prod(w[2:])
    each = 9 + (1 if ctx.has_input(4) else 0)
    return Cost(macs=base.macs, flops=base.flops + each * samples, formula=f"{base.formula}; sampling {each}*{samples}")


@rule(
    "CausalConvWithState",
    since=27,
    category="conv",
    macs="B·C·L·k  (depthwise, causal)",
    flops="2·MACs + B·C·L if bias + 5·B·C·L if activation",
)
def causal_conv(ctx: NodeContext) -> Cost:
    """input [B, C, L], weight [C, 1, k], bias [C], past_state [B, C, k−1] → output [B, C, L]."""
    b, c, length = ctx.in_dims(0)
    k = ctx.in_dims(1)[-1]
    macs = b * c * length * k
    outputs = b * c * length
    extra = (outputs if ctx.has_input(2) else 0) + (5 * outputs if str(ctx.attr("activation", "none")) != "none" else 0)
    return Cost(macs=macs, flops=2 * macs + extra, formula=f"{b}*{c}*{length}*{k}")


@rule(
    "ConvTranspose",
    category="conv",
    macs="N·|W|·∏(X spatial)  (every input pixel meets every weight once)",
    flops="2·MACs + N·C_out·∏(Y spatial) if bias",
)
def conv_transpose(ctx: NodeContext) -> Cost:
    """X [N, C_in, D1…Dn], W [C_in, C_out/group, k1…kn], B [C_out] → Y [N, C_out, o1…on]."""
    w = ctx.in_dims(1)
    x = ctx.in_dims(0)
    n, in_spatial = x[0], x[2:]
    macs = n * math.prod(w) * math.prod(in_spatial)
    formula = f"{n}*({_product(w)})*({_product(in_spatial)})"
    bias = 0
    c_out = w[1] * ctx.attr("group", 1)
    computed = transposed_dims(ctx.attrs, x, tuple(w[2:]), c_out)  # checked even when Y was inferred
    if ctx.has_input(2):
        try:
            spatial = ctx.out_dims(0)[2:]
        except Unresolved:
            spatial = computed[2:]
        bias = n * c_out * math.prod(spatial)
        formula += f"; bias {bias}"
    return Cost(macs=macs, flops=2 * macs + bias, formula=formula)
