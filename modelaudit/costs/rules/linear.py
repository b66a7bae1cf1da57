"""Gemm and MatMul: MACs = batch·M·K·N, with numpy broadcasting over the batch dims."""

from __future__ import annotations

import math
from functools import lru_cache

from modelaudit.costs.cost import Cost, NodeContext, Unresolved
from modelaudit.shapes.geometry import matmul_dims

from . import rule

__all__ = ["gemm", "gemm_dims", "matmul", "matmul_dims", "matmul_cost"]


def gemm_dims(ctx: NodeContext, a_input: int, b_input: int) -> tuple[int, int, int]:
    """M, K, N of a Gemm-like node after transA/transB."""
    a, b = ctx.in_dims(a_input), ctx.in_dims(b_input)
    m, k = (a[1], a[0]) if ctx.attr("transA", 0) else (a[0], a[1])
    return m, k, b[0] if ctx.attr("transB", 0) else b[1]


@rule(
    "Gemm", category="linear", macs="M·K·N", flops="2·MACs + M·N if C (bias) + M·N if alpha ≠ 1 + M·N if beta ∉ {0, 1}"
)
def gemm(ctx: NodeContext) -> Cost:
    """A [M, K] (or [K, M] with transA), B [K, N] (or [N, K] with transB), C broadcast to [M, N]."""
    m, k, n = gemm_dims(ctx, 0, 1)
    macs = m * k * n
    extra = 0
    if ctx.has_input(2) and ctx.attr("beta", 1.0) != 0:
        extra += m * n + (m * n if ctx.attr("beta", 1.0) != 1.0 else 0)
    if ctx.attr("alpha", 1.0) != 1.0:
        extra += m * n
    formula = f"{m}*{k}*{n}" + (f"; bias/scale {extra}" if extra else "")
    return Cost(macs=macs, flops=2 * macs + extra, formula=formula)


@rule("MatMul", category="linear", macs="∏(broadcast batch)·M·K·N", flops="2·MACs")
def matmul(ctx: NodeContext) -> Cost:
    """A [..., M, K] @ B [..., K, N] → [broadcast(...), M, N]; 1-D operands as numpy treats them."""
    a, b = ctx.in_shape(0), ctx.in_shape(1)
    cost = _matmul(a, b)
    if cost is None:
        for name, dims in ((ctx.node.input[0], a), (ctx.node.input[1], b)):
            if not all(isinstance(d, int) for d in dims):
                raise Unresolved(name, dims)
    assert cost is not None  # _matmul is None only where a dim is not an int, which raised above
    return cost


@lru_cache(maxsize=4096)
def _matmul(a: tuple, b: tuple) -> Cost | None:
    """MatMul's cost on shapes a and b, None when a dim is not a known int. A Cost is immutable,
    and most MatMuls of a model repeat a few pairs of shapes: each pair is costed once."""
    batch, m, k, n = matmul_dims(a, b)
    if not all(isinstance(d, int) for d in a) or not all(isinstance(d, int) for d in b):
        return None
    macs = math.prod(batch) * m * k * n
    prefix = "*".join(str(d) for d in batch if d != 1)
    formula = (f"{prefix}*" if prefix else "") + f"{m}*{k}*{n}"
    return Cost(macs=macs, flops=2 * macs, formula=formula)


def matmul_cost(ctx: NodeContext, a: int, b: int, per_output: int = 0) -> Cost:
    shapes = ctx.in_dims(a), ctx.in_dims(b)
    batch, m, k, n = matmul_dims(*shapes)
    macs = math.prod(batch) * m * k * n
    outputs = math.prod(batch) * m * n
    prefix = "*".join(str(d) for d in batch if d != 1)
    formula = (f"{prefix}*" if prefix else "") + f"{m}*{k}*{n}"
    if per_output:
        formula += f"; requantize {per_output}*{outputs}"
    return Cost(macs=macs, flops=2 * macs + per_output * outputs, formula=formula)


@rule("MatMulInteger", category="linear", macs="as MatMul", flops="2·MACs")
def matmul_integer(ctx: NodeContext) -> Cost:
    """A (u)int8 [..., M, K] @ B (u)int8 [..., K, N] with zero points → int32."""
    return matmul_cost(ctx, 0, 1)


@rule(
    "QLinearMatMul", category="linear", macs="as MatMul (A is input 0, B input 3)", flops="2·MACs + 4·|Y| (requantize)"
)
def qlinear_matmul(ctx: NodeContext) -> Cost:
    """a, a_scale, a_zp, b, b_scale, b_zp, y_scale, y_zp → quantized Y."""
    return matmul_cost(ctx, 0, 3, per_output=4)


@rule(
    "MatMulNBits",
    domain="com.microsoft",
    category="linear",
    macs="∏(A batch dims)·K·N",
    flops="2·MACs + 2·K·N (dequantize the weight) + bias",
)
def matmul_nbits(ctx: NodeContext) -> Cost:
    """A [..., K] @ dequantized B (N×K at `bits` bits, packed [N, blocks, blob]) → [..., N]."""
    a = ctx.in_dims(0)
    k, n = int(ctx.attr("K")), int(ctx.attr("N"))
    rows = math.prod(a[:-1])
    macs = rows * k * n
    bias = rows * n if ctx.has_input(5) else 0
    return Cost(macs=macs, flops=2 * macs + 2 * k * n + bias, formula=f"{rows}*{k}*{n}")


def parse_einsum(equation: str, shapes: list[tuple]) -> tuple[list[str], str, dict[str, int]]:
    """Operand index strings, output string and the size of every index; `...` becomes capitals."""
    equation = equation.replace(" ", "")
    lhs, arrow, rhs = equation.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(shapes):
        raise ValueError(f"einsum '{equation}' has {len(terms)} operands, the node {len(shapes)}")
    ellipsis_rank = max((len(s) - len(t.replace("...", "")) for t, s in zip(terms, shapes) if "..." in t), default=0)
    fill = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[:ellipsis_rank]
    sizes: dict[str, int] = {}
    expanded = []
    for term, shape in zip(terms, shapes):
        if "..." in term:
            own = len(shape) - len(term.replace("...", ""))
            term = term.replace("...", fill[ellipsis_rank - own :])
        if len(term) != len(shape):
            raise ValueError(f"einsum term '{term}' does not match rank {len(shape)}")
        for letter, dim in zip(term, shape):
            sizes[letter] = max(sizes.get(letter, 1), dim)
        expanded.append(term)
    if arrow:
        out = rhs.replace("...", fill)
    else:  # implicit output: the broadcast dims, then letters used once, alphabetically
        counts = {c: "".join(expanded).count(c) for c in set("".join(expanded))}
        out = fill + "".join(sorted(c for c, n in counts.items() if n == 1 and c.islower()))
    return expanded, out, sizes


@rule(
    "Einsum",
    category="linear",
    macs="Σ over pairwise contractions, left to right: ∏(sizes of the indices of both operands)",
    flops="2·MACs + ∏(indices) of steps that contract nothing (outer/elementwise products) + reduction adds",
)
def einsum(ctx: NodeContext) -> Cost:
    """A general contraction, costed as numpy's unoptimised left-to-right pairwise evaluation."""
    shapes = [ctx.in_dims(i) for i in range(len(ctx.node.input))]
    terms, out, sizes = parse_einsum(str(ctx.attr("equation")), shapes)
    macs, flops, steps = 0, 0, []
    current = set(terms[0])
    if len(terms) == 1:
        reduced = current - set(out)
        flops = math.prod(sizes[c] for c in current) if reduced else 0
        return Cost(flops=flops, formula=f"reduce {''.join(sorted(reduced)) or 'nothing'}: {flops}")
    for i, term in enumerate(terms[1:], start=1):
        later = set(out).union(*terms[i + 1 :]) if i + 1 < len(terms) else set(out)
        union = current | set(term)
        keep = union & later
        step = math.prod(sizes[c] for c in union)
        if union - keep:
            macs += step
        else:
            flops += step
        steps.append("*".join(str(sizes[c]) for c in sorted(union)))
        current = keep
    return Cost(macs=macs, flops=2 * macs + flops, formula=" + ".join(steps))
