"""Gemm and MatMul: MACs = batch·M·K·N, with numpy broadcasting over the batch dims."""

from __future__ import annotations

import math

from ..cost import Cost, NodeContext, Unresolved
from . import rule

__all__ = ["gemm", "matmul", "matmul_dims"]


@rule("Gemm", category="linear", macs="M·K·N",
      flops="2·MACs + M·N if C (bias) + M·N if alpha ≠ 1 + M·N if beta ∉ {0, 1}")
def gemm(ctx: NodeContext) -> Cost:
    """A [M, K] (or [K, M] with transA), B [K, N] (or [N, K] with transB), C broadcast to [M, N]."""
    a, b = ctx.in_dims(0), ctx.in_dims(1)
    m, k = (a[1], a[0]) if ctx.attr("transA", 0) else (a[0], a[1])
    n = b[0] if ctx.attr("transB", 0) else b[1]
    macs = m * k * n
    extra = 0
    if ctx.has_input(2) and ctx.attr("beta", 1.0) != 0:
        extra += m * n + (m * n if ctx.attr("beta", 1.0) != 1.0 else 0)
    if ctx.attr("alpha", 1.0) != 1.0:
        extra += m * n
    formula = f"{m}*{k}*{n}" + (f"; bias/scale {extra}" if extra else "")
    return Cost(macs=macs, flops=2 * macs + extra, formula=formula)


def matmul_dims(a: tuple, b: tuple) -> tuple[tuple, int, int, int]:
    """(broadcast batch dims, M, K, N) of numpy matmul on shapes a and b; dims may be symbolic."""
    if len(a) == 0 or len(b) == 0:
        raise ValueError("MatMul of a scalar")
    a2 = (1, a[0]) if len(a) == 1 else a
    b2 = (b[0], 1) if len(b) == 1 else b
    batch_a, batch_b = a2[:-2], b2[:-2]
    rank = max(len(batch_a), len(batch_b))
    batch_a = (1,) * (rank - len(batch_a)) + tuple(batch_a)
    batch_b = (1,) * (rank - len(batch_b)) + tuple(batch_b)
    batch = tuple(y if x == 1 else x for x, y in zip(batch_a, batch_b))
    return batch, a2[-2], a2[-1], b2[-1]


@rule("MatMul", category="linear", macs="∏(broadcast batch)·M·K·N", flops="2·MACs")
def matmul(ctx: NodeContext) -> Cost:
    """A [..., M, K] @ B [..., K, N] → [broadcast(...), M, N]; 1-D operands as numpy treats them."""
    a, b = ctx.in_shape(0), ctx.in_shape(1)
    batch, m, k, n = matmul_dims(a, b)
    for name, dims in ((ctx.node.input[0], a), (ctx.node.input[1], b)):
        if not all(isinstance(d, int) for d in dims):
            raise Unresolved(name, dims)
    macs = math.prod(batch) * m * k * n
    prefix = "*".join(str(d) for d in batch if d != 1)
    formula = (f"{prefix}*" if prefix else "") + f"{m}*{k}*{n}"
    return Cost(macs=macs, flops=2 * macs, formula=formula)
