"""Pooling: comparisons (max) or additions and one divide (average) per window element."""

from __future__ import annotations

import math

from modelaudit.costs.cost import Cost, NodeContext

from . import rule

__all__ = ["pool", "global_pool"]


@rule("MaxPool", "AveragePool", "LpPool", category="pooling", macs="0",
      flops="MaxPool (K−1)·|Y|; AveragePool K·|Y|; LpPool (2K)·|Y|  (K = ∏kernel, padded cells included)")
def pool(ctx: NodeContext) -> Cost:
    """X [N, C, D1…Dn] → Y [N, C, o1…on] with a window of ∏kernel_shape cells."""
    kernel = math.prod(ctx.attr("kernel_shape") or [1])
    n = ctx.out_numel(0)
    each = {"MaxPool": kernel - 1, "AveragePool": kernel, "LpPool": 2 * kernel}[ctx.op_type]
    return Cost(flops=each * n, formula=f"{each}*{n}")


@rule("GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool", category="pooling", macs="0",
      flops="GlobalAveragePool |X|; GlobalMaxPool |X| − N·C; GlobalLpPool 2·|X|")
def global_pool(ctx: NodeContext) -> Cost:
    """X [N, C, D1…Dn] → Y [N, C, 1…1]."""
    x = ctx.in_dims(0)
    n_in, n_out = math.prod(x), math.prod(x[:2])
    flops = {"GlobalAveragePool": n_in, "GlobalMaxPool": n_in - n_out, "GlobalLpPool": 2 * n_in}[ctx.op_type]
    return Cost(flops=flops, formula=f"{flops}")
