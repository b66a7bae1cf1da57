"""Sorting, sampling, detection, losses, scatter and other ops that are neither matmul nor elementwise."""

from __future__ import annotations

import math

from modelaudit.costs.cost import Cost, NodeContext

from . import rule

__all__ = []


def _log2(n: int) -> int:
    return max(1, math.ceil(math.log2(max(n, 2))))


@rule("TopK", category="sort", macs="0", flops="|X|·⌈log2(K+1)⌉  (heap selection)")
def top_k(ctx: NodeContext) -> Cost:
    """X, K → the K largest (or smallest) along an axis."""
    x = ctx.in_dims(0)
    k = ctx.out_dims(0)[ctx.attr("axis", -1) % len(x)]
    n = math.prod(x)
    each = _log2(k + 1)
    return Cost(flops=each * n, formula=f"{each}*{n}")


@rule("Unique", category="sort", macs="0", flops="|X|·⌈log2|X|⌉  (a sort)")
def unique(ctx: NodeContext) -> Cost:
    """Sorted unique values; output sizes are data-dependent."""
    n = ctx.in_numel(0)
    return Cost(flops=n * _log2(n), formula=f"{n}*{_log2(n)}")


@rule("Det", category="linear algebra", macs="0", flops="batch·⌈2n³/3⌉  (LU factorisation)")
def det(ctx: NodeContext) -> Cost:
    """X [..., n, n] → determinant of each matrix."""
    x = ctx.in_dims(0)
    n = x[-1]
    batch = math.prod(x[:-2])
    flops = batch * math.ceil(2 * n**3 / 3)
    return Cost(flops=flops, formula=f"{batch}*ceil(2*{n}^3/3)")


@rule(
    "RandomNormal",
    "RandomUniform",
    "RandomNormalLike",
    "RandomUniformLike",
    category="random",
    macs="0",
    flops="|Y|  (one draw per element)",
)
def random(ctx: NodeContext) -> Cost:
    """A generator of random values."""
    n = ctx.out_numel(0)
    return Cost(flops=n, formula=f"{n}")


@rule("Bernoulli", category="random", macs="0", flops="2·|Y|  (draw, compare)")
def bernoulli(ctx: NodeContext) -> Cost:
    """One draw compared with each input probability."""
    n = ctx.out_numel(0)
    return Cost(flops=2 * n, formula=f"2*{n}")


@rule("Multinomial", category="random", macs="0", flops="batch·(classes + samples·⌈log2 classes⌉)")
def multinomial(ctx: NodeContext) -> Cost:
    """input [batch, classes] → [batch, sample_size]: a cumulative sum, then a binary search per sample."""
    batch, classes = ctx.in_dims(0)
    samples = int(ctx.attr("sample_size", 1))
    flops = batch * (classes + samples * _log2(classes))
    return Cost(flops=flops, formula=f"{batch}*({classes}+{samples}*{_log2(classes)})")


@rule("NegativeLogLikelihoodLoss", category="loss", macs="0", flops="3·|target|  (gather, weight, reduce)")
def nll_loss(ctx: NodeContext) -> Cost:
    """input [N, C, …], target [N, …], optional weight [C]."""
    n = ctx.in_numel(1)
    return Cost(flops=3 * n, formula=f"3*{n}")


@rule("SoftmaxCrossEntropyLoss", category="loss", macs="0", flops="5·|scores| (log-softmax) + 3·|labels|")
def softmax_cross_entropy(ctx: NodeContext) -> Cost:
    """scores [N, C, …], labels [N, …], optional weights [C]."""
    scores, labels = ctx.in_numel(0), ctx.in_numel(1)
    flops = 5 * scores + 3 * labels
    return Cost(flops=flops, formula=f"5*{scores} + 3*{labels}")


@rule(
    "NonMaxSuppression",
    category="detection",
    macs="0",
    flops="upper bound: batch·classes·(boxes²/2 IoU × 15 + boxes·⌈log2 boxes⌉ sort)",
)
def non_max_suppression(ctx: NodeContext) -> Cost:
    """boxes [B, N, 4], scores [B, C, N]: how many boxes survive depends on data, so an upper bound."""
    batch, classes, boxes = ctx.in_dims(1)
    flops = batch * classes * (boxes * (boxes - 1) // 2 * 15 + boxes * _log2(boxes))
    return Cost(flops=flops, formula=f"upper bound {batch}*{classes}*({boxes}²/2*15 + sort)")


@rule(
    "RoiAlign",
    category="detection",
    macs="0",
    flops="|Y|·s²·10  (s×s bilinear samples of 9 FLOPs, averaged; s = sampling_ratio, 2 when adaptive)",
)
def roi_align(ctx: NodeContext) -> Cost:
    """X [N, C, H, W], rois [R, 4], batch_indices [R] → [R, C, out_h, out_w]."""
    ratio = int(ctx.attr("sampling_ratio", 0))
    s = ratio if ratio > 0 else 2
    n = ctx.out_numel(0)
    formula = f"{n}*{s}^2*10" + ("" if ratio > 0 else " (adaptive sampling assumed 2×2)")
    return Cost(flops=n * s * s * 10, formula=formula)


@rule(
    "MaxRoiPool",
    category="detection",
    macs="0",
    flops="upper bound |Y|·(H·W)/(pooled_h·pooled_w)  (every roi covering the whole map)",
)
def max_roi_pool(ctx: NodeContext) -> Cost:
    """X [N, C, H, W], rois [R, 5] → [R, C, ph, pw]; region sizes depend on the rois."""
    x = ctx.in_dims(0)
    ph, pw = ctx.attr("pooled_shape")
    cells = max(1, math.ceil(x[2] * x[3] / (ph * pw)))
    n = ctx.out_numel(0)
    return Cost(flops=n * cells, formula=f"upper bound {n}*{cells}")


@rule(
    "GridSample",
    category="resize",
    macs="0",
    flops="nearest 0; linear 3·(2^r−1)·|Y|; cubic 7·(4^r−1)/3·|Y|; + 4·r per output location",
)
def grid_sample(ctx: NodeContext) -> Cost:
    """X [N, C, D…], grid [N, o…, r] → Y [N, C, o…]: each output interpolates its 2^r neighbours."""
    y = ctx.out_dims(0)
    r = len(y) - 2
    mode = str(ctx.attr("mode", "linear"))
    each = 0 if mode == "nearest" else 3 * (2**r - 1) if mode in ("linear", "bilinear") else 7 * (4**r - 1) // 3
    locations = y[0] * math.prod(y[2:])
    flops = each * math.prod(y) + 4 * r * locations
    return Cost(flops=flops, formula=f"{mode}: {each}*{math.prod(y)} + {4 * r}*{locations}")


@rule("AffineGrid", category="resize", macs="0", flops="2·r·(r+1) per grid point  (θ [r, r+1] · [x, 1])")
def affine_grid(ctx: NodeContext) -> Cost:
    """theta [N, r, r+1], size → grid [N, o…, r]."""
    y = ctx.out_dims(0)
    r = y[-1]
    points = math.prod(y[:-1])
    return Cost(flops=2 * r * (r + 1) * points, formula=f"{2 * r * (r + 1)}*{points}")


@rule("Col2Im", category="data movement", macs="0", flops="|X|  (overlapping blocks are summed)")
def col2im(ctx: NodeContext) -> Cost:
    """input [N, C·∏block, L] → image [N, C, …]: each column element is added into place."""
    n = ctx.in_numel(0)
    return Cost(flops=n, formula=f"{n}")


@rule(
    "ScatterElements",
    "ScatterND",
    category="data movement",
    macs="0",
    flops="0, or |updates| with a reduction (add, mul, max, min)",
)
def scatter(ctx: NodeContext) -> Cost:
    """data, indices, updates: a copy, plus one operation per update when `reduction` is set."""
    if str(ctx.attr("reduction", "none")) == "none":
        return Cost(formula="copy")
    n = ctx.in_numel(2)
    return Cost(flops=n, formula=f"{n}")


@rule("TfIdfVectorizer", category="text", macs="0", flops="|X|·max_gram_length (n-gram matches) + |Y| (weighting)")
def tfidf(ctx: NodeContext) -> Cost:
    """Counts n-grams of the input ids and weights them."""
    n_in, n_out = ctx.in_numel(0), ctx.out_numel(0)
    grams = int(ctx.attr("max_gram_length", 1))
    return Cost(flops=n_in * grams + n_out, formula=f"{n_in}*{grams} + {n_out}")
