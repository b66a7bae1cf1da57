"""Pooling: comparisons (max) or additions and one divide (average) per window element."""

from __future__ import annotations

import math

from modelaudit.costs.cost import Cost, NodeContext, Unresolved
from modelaudit.shapes.geometry import window_dims

from . import rule

__all__ = ["pool", "global_pool"]


@rule(
    "MaxPool",
    "AveragePool",
    "LpPool",
    category="pooling",
    macs="0",
    flops="MaxPool (K−1)·|Y|; AveragePool K·|Y|; LpPool (2K)·|Y|  (K = ∏kernel, padded cells included)",
)
def pool(ctx: NodeContext) -> Cost:
    """X [N, C, D1…Dn] → Y [N, C, o1…on] with a window of ∏kernel_shape cells."""
    shape = ctx.attr("kernel_shape")
    kernel = math.prod(shape) if isinstance(shape, (list, tuple)) else 1
    try:  # the window checked, and Y's size computed where inference left it unknown
        x = ctx.in_dims(0)
        computed = window_dims(ctx.attrs, x, tuple(shape or ()), x[1], bool(ctx.attr("ceil_mode", 0)))
    except Unresolved:
        computed = None
    try:
        n = ctx.out_numel(0)
    except Unresolved:
        if computed is None:
            raise
        n = math.prod(computed)
    each = {"MaxPool": kernel - 1, "AveragePool": kernel, "LpPool": 2 * kernel}[ctx.op_type]
    return Cost(flops=each * n, formula=f"{each}*{n}")


@rule(
    "GlobalAveragePool",
    "GlobalMaxPool",
    "GlobalLpPool",
    category="pooling",
    macs="0",
    flops="GlobalAveragePool |X|; GlobalMaxPool |X| − N·C; GlobalLpPool 2·|X|",
)
def global_pool(ctx: NodeContext) -> Cost:
    """X [N, C, D1…Dn] → Y [N, C, 1…1]."""
    x = ctx.in_dims(0)
    n_in, n_out = math.prod(x), math.prod(x[:2])
    flops = {"GlobalAveragePool": n_in, "GlobalMaxPool": n_in - n_out, "GlobalLpPool": 2 * n_in}[ctx.op_type]
    return Cost(flops=flops, formula=f"{flops}")
