"""What onnxruntime's saved optimizations write: com.microsoft FusedConv, FusedGemm and FusedMatMul,
and the com.microsoft.nchwc ops of ORT_ENABLE_ALL (blocked channels, padded to the CPU's block)."""

from __future__ import annotations

import math

from modelaudit.costs.cost import Cost, NodeContext
from modelaudit.shapes.contrib import NCHWC, fused_operand
from modelaudit.shapes.geometry import matmul_dims

from . import rule
from .conv import conv_cost
from .elementwise import activation_flops
from .linear import gemm
from .pool import global_pool, pool

__all__ = ["fused_conv", "fused_gemm", "fused_matmul"]

_ACTIVATION = "+ |Y|·activation (Relu 1, Tanh 1, Clip 2, LeakyRelu 2, Sigmoid 4, HardSigmoid 4)"


def _activation(ctx: NodeContext) -> int:
    """FLOPs per output element of the fused `activation` attribute (0 when there is none)."""
    name = ctx.attr("activation")
    return activation_flops(str(name)) if name else 0


@rule(
    "FusedConv",
    domain="com.microsoft",
    category="conv",
    macs="as Conv",
    flops=f"as Conv (2·MACs + |Y| if bias) + |Y| if Z (the fused residual add) {_ACTIVATION}",
)
def fused_conv(ctx: NodeContext) -> Cost:
    """X, W [C_out, C_in/group, k…], B, Z (added to the result) → activation(conv(X, W) + B + Z)."""
    return conv_cost(ctx, per_output=(1 if ctx.has_input(3) else 0) + _activation(ctx))


@rule(
    "Conv",
    domain=NCHWC,
    category="conv",
    macs="as Conv, on the padded channels W holds (C_out and C_in rounded up to the NCHWc block)",
    flops=f"as Conv + |Y| if Sum (the fused residual add) {_ACTIVATION}",
)
def nchwc_conv(ctx: NodeContext) -> Cost:
    """X [N, C_in (padded), H, W] blocked, W [C_out (padded), C_in/group, k…], B, Sum → Y blocked."""
    return conv_cost(ctx, per_output=(1 if ctx.has_input(3) else 0) + _activation(ctx))


@rule(
    "FusedGemm",
    domain="com.microsoft",
    category="linear",
    macs="M·K·N",
    flops=f"as Gemm (2·MACs + M·N if C + M·N if alpha ≠ 1 + M·N if beta ∉ {{0, 1}}) {_ACTIVATION}",
)
def fused_gemm(ctx: NodeContext) -> Cost:
    """activation(alpha·op(A)·op(B) + beta·C), A [M, K], B [K, N] with transA/transB."""
    base = gemm(ctx)
    extra = _activation(ctx) * ctx.out_numel(0)
    formula = base.formula + (f"; activation {extra}" if extra else "")
    return Cost(macs=base.macs, flops=base.flops + extra, formula=formula)


@rule(
    "FusedMatMul",
    domain="com.microsoft",
    category="linear",
    macs="∏(broadcast batch)·M·K·N of op(A)·op(B) (transA/transB swap the last two dims; transBatchA/B "
    "move dim 0 to just before them)",
    flops="2·MACs + |Y| if alpha ≠ 1",
)
def fused_matmul(ctx: NodeContext) -> Cost:
    """alpha·op(A)·op(B): op() applies transBatch (perm [1, …, r−2, 0, r−1]), then trans."""
    a = fused_operand(ctx.in_dims(0), bool(ctx.attr("transA", 0)), bool(ctx.attr("transBatchA", 0)))
    b = fused_operand(ctx.in_dims(1), bool(ctx.attr("transB", 0)), bool(ctx.attr("transBatchB", 0)))
    batch, m, k, n = matmul_dims(a, b)
    outputs = math.prod(batch) * m * n
    macs = outputs * k
    extra = outputs if ctx.attr("alpha", 1.0) != 1.0 else 0
    prefix = "*".join(str(d) for d in batch if d != 1)
    formula = (f"{prefix}*" if prefix else "") + f"{m}*{k}*{n}" + (f"; alpha {extra}" if extra else "")
    return Cost(macs=macs, flops=2 * macs + extra, formula=formula)


@rule(
    "MaxPool",
    "AveragePool",
    domain=NCHWC,
    category="pooling",
    macs="0",
    flops="as MaxPool / AveragePool, on the padded channels",
)
def nchwc_pool(ctx: NodeContext) -> Cost:
    """MaxPool and AveragePool over blocked X [N, C (padded), H, W]."""
    return pool(ctx)


@rule(
    "GlobalAveragePool",
    "GlobalMaxPool",
    domain=NCHWC,
    category="pooling",
    macs="0",
    flops="as GlobalAveragePool / GlobalMaxPool, on the padded channels",
)
def nchwc_global_pool(ctx: NodeContext) -> Cost:
    """Global pooling over blocked X [N, C (padded), H, W]."""
    return global_pool(ctx)


@rule(
    "Upsample",
    domain=NCHWC,
    category="resize",
    macs="0",
    flops="nearest 0; linear 3·(2^r−1)·|Y|  (r resized axes, on the padded channels)",
)
def nchwc_upsample(ctx: NodeContext) -> Cost:
    """Integer `scales` per axis over blocked X; nearest copies, linear blends."""
    if str(ctx.attr("mode", "nearest")) == "nearest":
        return Cost(formula="nearest: no arithmetic")
    scales = list(ctx.attr("scales", ()))
    axes = sum(1 for s in scales if s != 1) or 1
    n = ctx.out_numel(0)
    each = 3 * (2**axes - 1)
    return Cost(flops=each * n, formula=f"linear over {axes} axes: {each}*{n}")
