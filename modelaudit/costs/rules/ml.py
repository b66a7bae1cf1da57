"""ai.onnx.ml: the classic models skl2onnx writes, whose weights live in attributes (coefficients,
support vectors, tree thresholds and leaf values; weights.py counts them). X is [N, F]."""

from __future__ import annotations

import math

from modelaudit.costs.cost import Cost, NodeContext

from . import rule

__all__ = ["linear_model", "svm", "tree_ensemble", "tree_ensemble_v5", "tree_depths"]

ML = "ai.onnx.ml"

# post_transform per score: softmax 5 (as Softmax), logistic 4 (as Sigmoid), probit 1
_POST = {"SOFTMAX": 5, "SOFTMAX_ZERO": 5, "LOGISTIC": 4, "PROBIT": 1}
_POST_TEXT = "+ N·scores·(SOFTMAX 5, LOGISTIC 4, PROBIT 1 per post_transform)"


def _samples(ctx: NodeContext) -> tuple[int, int]:
    """(N, F): a 1-D X is one sample."""
    x = ctx.in_dims(0)
    return (x[0], x[-1]) if len(x) > 1 else (1, x[0])


def _post(ctx: NodeContext, scores: int) -> int:
    return _POST.get(str(ctx.attr("post_transform", "NONE")), 0) * scores


@rule(
    "LinearClassifier",
    "LinearRegressor",
    domain=ML,
    category="linear",
    macs="N·F·rows  (rows = |coefficients| / F: classes or targets)",
    flops=f"2·MACs + N·rows if intercepts {_POST_TEXT} + N·rows (the classifier's argmax)",
)
def linear_model(ctx: NodeContext) -> Cost:
    """scores [N, rows] = X · coefficientsᵀ + intercepts."""
    n, features = _samples(ctx)
    rows = len(ctx.attr("coefficients", ())) // max(features, 1)
    macs = n * features * rows
    extra = (n * rows if ctx.attr("intercepts") else 0) + _post(ctx, n * rows)
    if ctx.op_type == "LinearClassifier":
        extra += n * rows
    return Cost(macs=macs, flops=2 * macs + extra, formula=f"{n}*{features}*{rows}" + (f"; +{extra}" if extra else ""))


# kernel FLOPs per support vector beyond its F-long inner product: RBF γ·‖x−s‖² (F subtracts,
# scale, exp), POLY (γ·d + c)^degree (3), SIGMOID tanh(γ·d + c) (3), LINEAR none
def _kernel_flops(kernel: str, features: int) -> int:
    return {"RBF": features + 2, "POLY": 3, "SIGMOID": 3}.get(kernel, 0)


@rule(
    "SVMClassifier",
    "SVMRegressor",
    domain=ML,
    category="linear",
    macs="N·n_sv·F (the kernel's inner products) + N·|coefficients| (the dual sums); without support vectors "
    "N·|coefficients| (a linear SVM: coefficients [classes, F])",
    flops=f"2·MACs + N·n_sv·(RBF F+2, POLY 3, SIGMOID 3, LINEAR 0) + N·|rho| {_POST_TEXT}",
)
def svm(ctx: NodeContext) -> Cost:
    """Support vectors [n_sv, F], coefficients [(classes−1)·n_sv] (or [n_sv] for a regressor), rho."""
    n, features = _samples(ctx)
    vectors = len(ctx.attr("support_vectors", ())) // max(features, 1)
    coefficients = len(ctx.attr("coefficients", ()))
    macs = n * vectors * features + n * coefficients
    kernel = _kernel_flops(str(ctx.attr("kernel_type", "LINEAR")), features) if vectors else 0
    rho = len(ctx.attr("rho", ()))
    extra = n * vectors * kernel + n * rho + _post(ctx, n * max(rho, 1))
    formula = f"{n}*{vectors}*{features} + {n}*{coefficients}" + (f"; +{extra}" if extra else "")
    return Cost(macs=macs, flops=2 * macs + extra, formula=formula)


def tree_depths(treeids, nodeids, truenodeids, falsenodeids, modes) -> list[int]:
    """Each tree's depth (branch nodes on its longest root-to-leaf path), from the node attributes."""
    children: dict[tuple[int, int], tuple[int, int]] = {}
    roots: dict[int, int] = {}
    for tree, node, true, false, mode in zip(treeids, nodeids, truenodeids, falsenodeids, modes):
        roots.setdefault(tree, node)
        if str(mode.decode() if isinstance(mode, bytes) else mode) != "LEAF":
            children[(tree, node)] = (true, false)
    depths = []
    for tree, root in roots.items():
        deepest, stack = 0, [(root, 0)]
        while stack:
            node, depth = stack.pop()
            if (tree, node) in children and depth < len(treeids):
                stack.extend((child, depth + 1) for child in children[(tree, node)])
            else:
                deepest = max(deepest, depth)
        depths.append(deepest)
    return depths


@rule(
    "TreeEnsembleClassifier",
    "TreeEnsembleRegressor",
    domain=ML,
    category="tree",
    macs="0",
    flops=f"N·Σ(tree depth) comparisons (the deepest path of each tree: an upper bound) + N·|leaf weights| "
    f"adds (at most) {_POST_TEXT}",
)
def tree_ensemble(ctx: NodeContext) -> Cost:
    """nodes_* describe every tree's branch nodes and leaves; class_weights or target_weights the leaves."""
    n, _ = _samples(ctx)
    depths = tree_depths(
        ctx.attr("nodes_treeids", ()),
        ctx.attr("nodes_nodeids", ()),
        ctx.attr("nodes_truenodeids", ()),
        ctx.attr("nodes_falsenodeids", ()),
        ctx.attr("nodes_modes", ()),
    )
    leaves = len(ctx.attr("class_weights", ()) or ctx.attr("target_weights", ()))
    scores = len(ctx.attr("classlabels_int64s", ()) or ctx.attr("classlabels_strings", ())) or int(
        ctx.attr("n_targets", 1)
    )
    compares = n * sum(depths)
    flops = compares + n * leaves + _post(ctx, n * scores)
    return Cost(flops=flops, formula=f"{n}*{sum(depths)} compares over {len(depths)} trees + {n}*{leaves} leaf adds")


def _depth_v5(root: int, true_ids, true_leaf, false_ids, false_leaf) -> int:
    """Branch nodes on the longest path from `root` (TreeEnsemble-5's layout: a child index is a
    leaf's when its *_leafs flag is set, else a node's)."""
    deepest, stack = 0, [(root, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth > len(true_ids):  # a cycle in a malformed file: stop rather than loop
            break
        for ids, leafs in ((true_ids, true_leaf), (false_ids, false_leaf)):
            if not leafs[node]:
                stack.append((ids[node], depth + 1))
    return deepest


@rule(
    "TreeEnsemble",
    since=5,
    domain=ML,
    category="tree",
    macs="0",
    flops=f"N·Σ(tree depth) comparisons (an upper bound) + N·|leaf_weights| adds (at most) {_POST_TEXT}",
)
def tree_ensemble_v5(ctx: NodeContext) -> Cost:
    """tree_roots, nodes_* (splits, children, *_leafs flags), leaf_targetids and leaf_weights."""
    n, _ = _samples(ctx)
    true_ids, false_ids = ctx.attr("nodes_truenodeids", ()), ctx.attr("nodes_falsenodeids", ())
    true_leaf, false_leaf = ctx.attr("nodes_trueleafs", ()), ctx.attr("nodes_falseleafs", ())
    depths = [_depth_v5(r, true_ids, true_leaf, false_ids, false_leaf) for r in ctx.attr("tree_roots", ())]
    weights = ctx.attr("leaf_weights")
    leaves = math.prod(weights.dims) if weights is not None else 0
    flops = n * sum(depths) + n * leaves + _post(ctx, n * int(ctx.attr("n_targets", 1)))
    return Cost(flops=flops, formula=f"{n}*{sum(depths)} compares over {len(depths)} trees + {n}*{leaves} leaf adds")


@rule("Scaler", domain=ML, category="normalization", macs="0", flops="2·|X|  ((x − offset)·scale)")
def scaler(ctx: NodeContext) -> Cost:
    """(X − offset) · scale per feature; offset and scale are fitted statistics (non-trainable)."""
    n = ctx.in_numel(0)
    return Cost(flops=2 * n, formula=f"2*{n}")


@rule(
    "Normalizer",
    domain=ML,
    category="normalization",
    macs="0",
    flops="MAX 2·|X|, L1 3·|X|, L2 3·|X|  (abs or square, reduce, divide)",
)
def normalizer(ctx: NodeContext) -> Cost:
    """Each row divided by its max, L1 or L2 norm."""
    n = ctx.in_numel(0)
    each = 2 if str(ctx.attr("norm", "MAX")) == "MAX" else 3
    return Cost(flops=each * n, formula=f"{each}*{n}")


@rule("Binarizer", "Imputer", domain=ML, category="elementwise", macs="0", flops="|X|  (compare, select)")
def binarizer(ctx: NodeContext) -> Cost:
    """x > threshold (Binarizer); missing values replaced (Imputer)."""
    n = ctx.in_numel(0)
    return Cost(flops=n, formula=f"{n}")
