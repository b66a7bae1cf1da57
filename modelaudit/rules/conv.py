"""Conv and ConvTranspose: MACs are the inner products, padded zeros included."""

from __future__ import annotations

import math

from ..cost import Cost, NodeContext, Unresolved
from ..geometry import resolve_pads, transposed_output, window_output
from . import rule

__all__ = ["conv", "conv_transpose", "conv_output_dims"]


def _per_axis(ctx: NodeContext, name: str, rank: int, default: int) -> tuple[int, ...]:
    value = ctx.attr(name)
    return tuple(value) if value else (default,) * rank


def conv_output_dims(ctx: NodeContext, kernel: tuple[int, ...], c_out: int) -> tuple[int, ...]:
    """Y's dims: inferred when known, else computed from X and the attributes."""
    try:
        return ctx.out_dims(0)
    except Unresolved:
        x = ctx.in_dims(0)
    strides = _per_axis(ctx, "strides", len(kernel), 1)
    dilations = _per_axis(ctx, "dilations", len(kernel), 1)
    pads = resolve_pads(ctx.attrs, x[2:], kernel, strides, dilations)
    spatial = tuple(window_output(x[2 + i], kernel[i], strides[i], *pads[i], dilations[i])
                    for i in range(len(kernel)))
    return (x[0], c_out, *spatial)


def _product(dims) -> str:
    return "*".join(str(d) for d in dims) or "1"


@rule("Conv", category="conv",
      macs="N·C_out·∏(Y spatial)·(C_in/group)·∏(kernel)",
      flops="2·MACs + N·C_out·∏(Y spatial) if bias")
def conv(ctx: NodeContext) -> Cost:
    """X [N, C_in, D1…Dn], W [C_out, C_in/group, k1…kn], B [C_out] → Y [N, C_out, o1…on]."""
    c_out, cin_per_group, *kernel = ctx.in_dims(1)
    y = conv_output_dims(ctx, tuple(kernel), c_out)
    n, spatial = y[0], y[2:]
    outputs = n * c_out * math.prod(spatial)
    macs = outputs * cin_per_group * math.prod(kernel)
    bias = outputs if ctx.has_input(2) else 0
    batch = f"{n}*" if n != 1 else ""
    formula = f"{batch}{_product(spatial)}*({_product(kernel)}*{cin_per_group})*{c_out}"
    if bias:
        formula += f"; bias {outputs}"
    return Cost(macs=macs, flops=2 * macs + bias, formula=formula)


@rule("ConvTranspose", category="conv",
      macs="N·|W|·∏(X spatial)  (every input pixel meets every weight once)",
      flops="2·MACs + N·C_out·∏(Y spatial) if bias")
def conv_transpose(ctx: NodeContext) -> Cost:
    """X [N, C_in, D1…Dn], W [C_in, C_out/group, k1…kn], B [C_out] → Y [N, C_out, o1…on]."""
    w = ctx.in_dims(1)
    x = ctx.in_dims(0)
    n, in_spatial = x[0], x[2:]
    macs = n * math.prod(w) * math.prod(in_spatial)
    formula = f"{n}*({_product(w)})*({_product(in_spatial)})"
    bias = 0
    if ctx.has_input(2):
        c_out = w[1] * ctx.attr("group", 1)
        bias = n * c_out * math.prod(_transposed_spatial(ctx, x, w))
        formula += f"; bias {bias}"
    return Cost(macs=macs, flops=2 * macs + bias, formula=formula)


def _transposed_spatial(ctx: NodeContext, x: tuple, w: tuple) -> tuple[int, ...]:
    try:
        return ctx.out_dims(0)[2:]
    except Unresolved:
        pass
    kernel, rank = w[2:], len(w) - 2
    if ctx.attr("output_shape"):
        return tuple(ctx.attr("output_shape"))[-rank:]
    strides = _per_axis(ctx, "strides", rank, 1)
    if str(ctx.attr("auto_pad", "NOTSET")) in ("SAME_UPPER", "SAME_LOWER"):
        return tuple(x[2 + i] * strides[i] for i in range(rank))
    dilations = _per_axis(ctx, "dilations", rank, 1)
    extra = _per_axis(ctx, "output_padding", rank, 0)
    pads = resolve_pads({"pads": ctx.attr("pads")}, x[2:], kernel, strides, dilations)
    return tuple(transposed_output(x[2 + i], kernel[i], strides[i], *pads[i], dilations[i], extra[i])
                 for i in range(rank))
