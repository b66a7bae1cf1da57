"""Elementwise ops, softmax and reductions: FLOPs = elements × the op's elementary operations.

Convention: every elementary operation (add, multiply, compare, divide, exp, log, sqrt, tanh,
erf, sin…) costs 1 FLOP. An op costs the operations of its definition, per output element:
Sigmoid = 1/(1+exp(−x)) is neg, exp, add, divide = 4. No elementwise op has MACs.
"""

from __future__ import annotations

import math
from functools import lru_cache

from modelaudit.costs.cost import Cost, NodeContext

from . import rule

__all__ = ["ELEMENTWISE_FLOPS", "REDUCE_FLOPS", "activation_flops", "fixed_rule", "per_element"]

# FLOPs per output element, with the definition they count.
ELEMENTWISE_FLOPS: dict[str, tuple[int, str]] = {
    "Add": (1, "a+b"),
    "Sub": (1, "a−b"),
    "Mul": (1, "a·b"),
    "Div": (1, "a/b"),
    "Pow": (1, "a^b"),
    "Mod": (1, "a mod b"),
    "BitShift": (1, "a<<b"),
    "Neg": (1, "−x"),
    "Abs": (1, "|x|"),
    "Sign": (1, "sign x"),
    "Reciprocal": (1, "1/x"),
    "Floor": (1, "floor"),
    "Ceil": (1, "ceil"),
    "Round": (1, "round"),
    "Sqrt": (1, "√x"),
    "Exp": (1, "exp"),
    "Log": (1, "log"),
    "Erf": (1, "erf"),
    "Tanh": (1, "tanh"),
    "Sin": (1, "sin"),
    "Cos": (1, "cos"),
    "Tan": (1, "tan"),
    "Asin": (1, "asin"),
    "Acos": (1, "acos"),
    "Atan": (1, "atan"),
    "Sinh": (1, "sinh"),
    "Cosh": (1, "cosh"),
    "Asinh": (1, "asinh"),
    "Acosh": (1, "acosh"),
    "Atanh": (1, "atanh"),
    "Relu": (1, "max(x,0)"),
    "ThresholdedRelu": (1, "x if x>α"),
    "LeakyRelu": (2, "x if x≥0 else α·x: compare, mul"),
    "PRelu": (2, "compare, mul"),
    "Elu": (3, "compare, exp, α·(e−1)"),
    "Celu": (4, "max, exp, div, mul"),
    "Selu": (4, "compare, exp, mul, mul"),
    "Sigmoid": (4, "1/(1+exp(−x))"),
    "HardSigmoid": (4, "max(0, min(1, α·x+β))"),
    "HardSwish": (5, "x·HardSigmoid(x)"),
    "Softplus": (3, "log(exp(x)+1)"),
    "Softsign": (3, "x/(1+|x|)"),
    "Mish": (5, "x·tanh(log(1+exp(x)))"),
    "Gelu": (5, "x·(1+erf(x/√2))/2"),
    "Clip": (2, "min, max"),
    "Shrink": (2, "compare, add"),
    "Equal": (1, "=="),
    "Less": (1, "<"),
    "LessOrEqual": (1, "≤"),
    "Greater": (1, ">"),
    "GreaterOrEqual": (1, "≥"),
    "And": (1, "and"),
    "Or": (1, "or"),
    "Xor": (1, "xor"),
    "Not": (1, "not"),
    "BitwiseAnd": (1, "&"),
    "BitwiseOr": (1, "|"),
    "BitwiseXor": (1, "^"),
    "BitwiseNot": (1, "~"),
    "IsNaN": (1, "x≠x"),
    "IsInf": (1, "|x|=∞"),
    "Where": (1, "select"),
}
_GELU_TANH = (9, "x·(1+tanh(√(2/π)·(x+0.044715·x³)))/2")

# Variadic ops: FLOPs per output element for n inputs.
_VARIADIC = {
    "Sum": ("n−1", lambda n: n - 1),
    "Max": ("n−1", lambda n: n - 1),
    "Min": ("n−1", lambda n: n - 1),
    "Mean": ("n (n−1 adds, 1 divide)", lambda n: n),
}


@lru_cache(maxsize=4096)
def per_element(each: int, n: int) -> Cost:
    """`each` FLOPs on each of `n` elements. A Cost is immutable, and most elementwise nodes of a
    model share their size with many others: each distinct cost is made once."""
    return Cost(flops=each * n, formula=f"{each}*{n}")


def activation_flops(name: str) -> int:
    """FLOPs per element of an activation named as in RNN/LSTM/GRU's `activations` attribute."""
    table = {"Affine": 2, "ScaledTanh": 3}
    if name in table:
        return table[name]
    return ELEMENTWISE_FLOPS.get(name, (1, ""))[0]


def _elementwise_rule(op: str, each: int, definition: str) -> None:
    @rule(
        op,
        category="elementwise",
        macs="0",
        flops=f"{each}·|Y|  ({definition})",
        per_element=None if op == "Gelu" else each,
    )  # Gelu's count depends on its attribute
    def cost(ctx: NodeContext) -> Cost:
        """Per output element: the elementary operations of the op's definition."""
        flops_each = each
        if op == "Gelu" and str(ctx.attr("approximate", "none")) == "tanh":
            flops_each = _GELU_TANH[0]
        return per_element(flops_each, ctx.out_numel(0))


for _op, (_flops, _definition) in ELEMENTWISE_FLOPS.items():
    _elementwise_rule(_op, _flops, _definition)


def _variadic_rule(op: str, text: str, per_input) -> None:
    @rule(op, category="elementwise", macs="0", flops=f"({text})·|Y| for n inputs")
    def cost(ctx: NodeContext) -> Cost:
        """Variadic elementwise: n inputs broadcast to Y."""
        n_inputs = sum(1 for name in ctx.node.input if name)
        return per_element(per_input(n_inputs), ctx.out_numel(0))


for _op, (_text, _fn) in _VARIADIC.items():
    _variadic_rule(_op, _text, _fn)


@rule(
    "Softmax",
    "LogSoftmax",
    category="elementwise",
    macs="0",
    flops="5·|Y|  (max, subtract, exp, sum, divide or log-subtract)",
    per_element=5,
)
def softmax(ctx: NodeContext) -> Cost:
    """Per element: running max, x−max, exp, the sum, and the divide (log and subtract for LogSoftmax)."""
    return per_element(5, ctx.out_numel(0))


@rule("Hardmax", category="elementwise", macs="0", flops="|X|  (compare)")
def hardmax(ctx: NodeContext) -> Cost:
    """One comparison per element along the axis."""
    n = ctx.in_numel(0)
    return Cost(flops=n, formula=f"{n}")


# FLOPs per input element of a reduction, plus per output element.
REDUCE_FLOPS: dict[str, tuple[int, int, str]] = {
    "ReduceSum": (1, 0, "add"),
    "ReduceMean": (1, 1, "add; divide per output"),
    "ReduceMax": (1, 0, "compare"),
    "ReduceMin": (1, 0, "compare"),
    "ReduceProd": (1, 0, "mul"),
    "ReduceL1": (2, 0, "abs, add"),
    "ReduceL2": (2, 1, "square, add; sqrt per output"),
    "ReduceSumSquare": (2, 0, "square, add"),
    "ReduceLogSum": (1, 1, "add; log per output"),
    "ReduceLogSumExp": (2, 1, "exp, add; log per output"),
    "ArgMax": (1, 0, "compare"),
    "ArgMin": (1, 0, "compare"),
}


def _reduce_rule(op: str, per_in: int, per_out: int, definition: str) -> None:
    flops = f"{per_in}·|X|" + (f" + {per_out}·|Y|" if per_out else "")

    @rule(op, category="reduction", macs="0", flops=f"{flops}  ({definition})")
    def cost(ctx: NodeContext) -> Cost:
        """Reduction over some axes of X."""
        n_in = ctx.in_numel(0)
        n_out = ctx.out_numel(0) if per_out else 0
        total = per_in * n_in + per_out * n_out
        formula = f"{per_in}*{n_in}" + (f" + {per_out}*{n_out}" if per_out else "")
        return Cost(flops=total, formula=formula)


for _op, (_in, _out, _definition) in REDUCE_FLOPS.items():
    _reduce_rule(_op, _in, _out, _definition)


@rule(
    "Resize",
    "Upsample",
    category="resize",
    macs="0",
    flops="nearest 0; linear 3·(2^r−1)·|Y|; cubic 7·(4^r−1)/3·|Y|  (r resized axes)",
)
def resize(ctx: NodeContext) -> Cost:
    """Interpolation: each 1-D linear blend is 3 FLOPs (sub, mul, add), each cubic one 7 (4 mul, 3 add)."""
    mode = str(ctx.attr("mode", "nearest"))
    if mode == "nearest":
        return Cost(formula="nearest: no arithmetic")
    x, y = ctx.in_dims(0), ctx.out_dims(0)
    axes = sum(1 for a, b in zip(x, y) if a != b) or 1
    n = math.prod(y)
    each = 3 * (2**axes - 1) if mode in ("linear", "bilinear") else 7 * (4**axes - 1) // 3
    return Cost(flops=each * n, formula=f"{mode} over {axes} axes: {each}*{n}")


def fixed_rule(op: str, each: int, definition: str, domain: str = "", since: int = 1) -> None:
    @rule(
        op,
        domain=domain,
        since=since,
        category="elementwise",
        macs="0",
        flops=f"{each}·|Y|  ({definition})",
        per_element=each,
    )
    def cost(ctx: NodeContext) -> Cost:
        """A fixed count of elementary operations per output element."""
        return per_element(each, ctx.out_numel(0))


fixed_rule("Swish", 6, "α·x, sigmoid 4, multiply", since=24)
fixed_rule("SwiGLU", 7, "α·A, sigmoid 4, ·A, ·B", since=28)
fixed_rule("CumSum", 1, "one add per element")
fixed_rule("CumProd", 1, "one multiply per element")
fixed_rule("Range", 1, "one add per element")
fixed_rule("QuantizeLinear", 4, "x/scale, round, + zero point, saturate")
fixed_rule("DequantizeLinear", 2, "(x − zero point)·scale")
fixed_rule("DynamicQuantizeLinear", 6, "min, max, divide, round, + zero point, saturate")
fixed_rule("QuantizeLinear", 4, "x/scale, round, + zero point, saturate", domain="com.microsoft")
fixed_rule("DequantizeLinear", 2, "(x − zero point)·scale", domain="com.microsoft")
fixed_rule("Gelu", 5, "x·(1+erf(x/√2))/2", domain="com.microsoft")
fixed_rule("BiasGelu", 6, "bias add, then Gelu 5", domain="com.microsoft")
fixed_rule("QuickGelu", 6, "x·sigmoid(α·x)", domain="com.microsoft")


@rule(
    "FastGelu",
    domain="com.microsoft",
    category="elementwise",
    macs="0",
    flops="9·|Y| (tanh approximation) + |Y| if bias",
)
def fast_gelu(ctx: NodeContext) -> Cost:
    """x·(1+tanh(√(2/π)·(x+0.044715·x³)))/2, with an optional bias added first."""
    n = ctx.out_numel(0)
    each = _GELU_TANH[0] + (1 if ctx.has_input(1) else 0)
    return Cost(flops=each * n, formula=f"{each}*{n}")


@rule("NonZero", category="elementwise", macs="0", flops="|X| (one compare per input element)")
def non_zero(ctx: NodeContext) -> Cost:
    """Indices of the non-zero elements: its output size is data-dependent, its work is not."""
    n = ctx.in_numel(0)
    return Cost(flops=n, formula=f"{n}")
