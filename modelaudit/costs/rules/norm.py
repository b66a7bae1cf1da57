"""Normalisation: BatchNormalization folds to one multiply-add per element at inference."""

from __future__ import annotations

from modelaudit.costs.cost import Cost, NodeContext

from . import rule

__all__ = ["batch_norm", "layer_norm"]


@rule(
    "BatchNormalization",
    category="normalization",
    macs="0",
    flops="2·|X|  (x·a + b with a = scale/√(var+ε), b = bias − mean·a folded per channel)",
)
def batch_norm(ctx: NodeContext) -> Cost:
    """X [N, C, …], scale/B/mean/var [C]: scale and B are params, mean and var non-trainable."""
    n = ctx.in_numel(0)
    return Cost(flops=2 * n, formula=f"2*{n}")


@rule(
    "LayerNormalization",
    "InstanceNormalization",
    "GroupNormalization",
    "MeanVarianceNormalization",
    category="normalization",
    macs="0",
    flops="5·|X| (mean, subtract, square, variance sum, scale by 1/σ) + |X| per scale + |X| per bias",
)
def layer_norm(ctx: NodeContext) -> Cost:
    """X normalised over some axes, then multiplied by scale and shifted by bias when present."""
    n = ctx.in_numel(0)
    affine = sum(1 for i in (1, 2) if ctx.has_input(i))
    each = 5 + affine
    return Cost(flops=each * n, formula=f"{each}*{n}")


@rule("LpNormalization", category="normalization", macs="0", flops="3·|X|  (power, sum, divide)")
def lp_norm(ctx: NodeContext) -> Cost:
    """x / ‖x‖_p along an axis."""
    n = ctx.in_numel(0)
    return Cost(flops=3 * n, formula=f"3*{n}")


@rule("LRN", category="normalization", macs="0", flops="(size + 4)·|X|  (window sum of squares, scale, pow, divide)")
def lrn(ctx: NodeContext) -> Cost:
    """Local response normalisation across `size` channels."""
    n = ctx.in_numel(0)
    each = int(ctx.attr("size", 1)) + 4
    return Cost(flops=each * n, formula=f"{each}*{n}")


@rule(
    "RMSNormalization",
    since=23,
    category="normalization",
    macs="0",
    flops="4·|X|  (square, mean sum, multiply by 1/rms, scale)",
)
def rms_norm(ctx: NodeContext) -> Cost:
    """X normalised by its root mean square over the last axes, then multiplied by scale."""
    n = ctx.in_numel(0)
    return Cost(flops=4 * n, formula=f"4*{n}")


@rule(
    "SimplifiedLayerNormalization",
    category="normalization",
    macs="0",
    flops="4·|X|  (RMS normalisation with scale)",
)
def simplified_layer_norm(ctx: NodeContext) -> Cost:
    """RMSNorm as onnxruntime's transformers optimizer writes it for Llama: X, scale (no domain;
    onnxruntime registers the op in onnx's)."""
    return rms_norm(ctx)


@rule(
    "SimplifiedLayerNormalization",
    domain="com.microsoft",
    category="normalization",
    macs="0",
    flops="4·|X|  (RMS normalisation with scale)",
)
def ms_simplified_layer_norm(ctx: NodeContext) -> Cost:
    """RMSNorm as onnxruntime's optimizer fuses it: X, scale."""
    return rms_norm(ctx)


@rule(
    "LayerNormalization",
    domain="com.microsoft",
    category="normalization",
    macs="0",
    flops="5·|X| + |X| per scale + |X| per bias",
)
def ms_layer_norm(ctx: NodeContext) -> Cost:
    """The contrib LayerNormalization: X, scale, bias."""
    return layer_norm(ctx)


@rule(
    "SkipLayerNormalization",
    "SkipSimplifiedLayerNormalization",
    domain="com.microsoft",
    category="normalization",
    macs="0",
    flops="|X| (skip add) + |X| if bias + LayerNorm 5·|X| + scale/shift (RMS variant: 4·|X|)",
)
def ms_skip_layer_norm(ctx: NodeContext) -> Cost:
    """input + skip (+ bias), then LayerNorm (or RMSNorm): input, skip, gamma, beta, bias."""
    n = ctx.in_numel(0)
    simplified = ctx.op_type == "SkipSimplifiedLayerNormalization"
    bias_input = 3 if simplified else 4
    norm = 4 if simplified else 5 + 1 + (1 if ctx.has_input(3) else 0)
    each = 1 + (1 if ctx.has_input(bias_input) else 0) + norm
    return Cost(flops=each * n, formula=f"{each}*{n}")


@rule(
    "EmbedLayerNormalization",
    domain="com.microsoft",
    category="normalization",
    macs="0",
    flops="(k−1 adds + LayerNorm 5 + γ + β)·|Y|  (k embeddings: word, position, segment)",
)
def ms_embed_layer_norm(ctx: NodeContext) -> Cost:
    """input_ids [B, S], segment_ids, word/position/segment embeddings (2–4), γ, β (5, 6), mask (7),
    position_ids (8) → [B, S, hidden], mask_index, embedding_sum (the sum before the norm, no extra work)."""
    n = ctx.out_numel(0)
    k = 2 + (1 if ctx.has_input(1) and ctx.has_input(4) else 0)
    each = (k - 1) + 5 + 1 + 1
    return Cost(flops=each * n, formula=f"{each}*{n}")
