"""The rule registry: @rule("Conv", since=1) maps an op to a function NodeContext -> Cost."""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from modelaudit.costs.cost import Cost, NodeContext

__all__ = [
    "rule",
    "find_rule",
    "newest_rule",
    "RuleSpec",
    "ZERO_COST",
    "is_zero_cost",
    "registered",
    "RuleFn",
    "formula_table",
    "markdown_formula_table",
    "UNMODELLED",
    "is_classified",
    "load_plugins",
    "ENTRY_POINT_GROUP",
    "PLUGIN_ERRORS",
    "unregister",
]

RuleFn = Callable[[NodeContext], Cost]


@dataclass(frozen=True)
class RuleSpec:
    op_type: str
    domain: str
    since: int
    fn: RuleFn
    category: str
    macs: str  # the MAC formula, as docs/conventions.md states it
    flops: str  # the FLOP formula
    # FLOPs per output element when `fn` is exactly elementwise.per_element(that, |Y|) whatever the
    # node's attributes: the audit then computes it from the output's size without a NodeContext
    per_element: int | None = None


_REGISTRY: dict[tuple[str, str], list[RuleSpec]] = {}

# Ops that move, reshape, select or relabel data: no arithmetic, so no MACs and no FLOPs.
ZERO_COST: dict[str, frozenset[str]] = {
    "": frozenset(
        {
            "Reshape",
            "Flatten",
            "Squeeze",
            "Unsqueeze",
            "Transpose",
            "Concat",
            "Split",
            "Slice",
            "Gather",
            "GatherElements",
            "GatherND",
            "Identity",
            "Dropout",
            "Shape",
            "Size",
            "Expand",
            "Tile",
            "Pad",
            "Cast",
            "CastLike",
            "Constant",
            "ConstantOfShape",
            "DepthToSpace",
            "SpaceToDepth",
            "Optional",
            "OptionalGetElement",
            "OptionalHasElement",
            "SequenceAt",
            "SequenceConstruct",
            "SequenceEmpty",
            "SequenceErase",
            "SequenceInsert",
            "SequenceLength",
            "SplitToSequence",
            "ConcatFromSequence",
            "ReverseSequence",
            "EyeLike",
            "Compress",
            "BitCast",
            "Trilu",
            "OneHot",
            "MaxUnpool",
            "CenterCropPad",
            "TensorScatter",
            "Scatter",
            # text: no arithmetic on numbers
            "StringConcat",
            "StringNormalizer",
            "StringSplit",
            "RegexFullMatch",
        }
    ),
    # onnxruntime's NCHWc layout changes (ORT_ENABLE_ALL): copies between NCHW and blocked channels
    "com.microsoft.nchwc": frozenset({"ReorderInput", "ReorderOutput"}),
    # ai.onnx.ml's lookups and data movement (map and sequence outputs included)
    "ai.onnx.ml": frozenset(
        {
            "ZipMap",
            "ArrayFeatureExtractor",
            "CastMap",
            "DictVectorizer",
            "FeatureVectorizer",
            "LabelEncoder",
            "OneHotEncoder",
            "CategoryMapper",
        }
    ),
}

# Ops classified but deliberately not costed: they stay "uncounted" in every report, with the reason.
UNMODELLED: dict[str, dict[str, str]] = {
    "": {"ImageDecoder": "decoding cost depends on the image codec and the bytes, not on tensor shapes"},
}


def _domain(domain: str) -> str:
    return "" if domain == "ai.onnx" else domain


def rule(
    *op_types: str,
    since: int = 1,
    domain: str = "",
    category: str = "compute",
    macs: str = "0",
    flops: str = "",
    per_element: int | None = None,
) -> Callable[[RuleFn], RuleFn]:
    """Registers `fn` as the cost rule of `op_types` from opset `since` on (newest wins).
    `per_element` declares that `fn` costs `per_element` FLOPs per element of output 0 and reads
    nothing else (RuleSpec.per_element)."""

    def register(fn: RuleFn) -> RuleFn:
        for op in op_types:
            specs = _REGISTRY.setdefault((_domain(domain), op), [])
            specs[:] = [s for s in specs if s.since != since]
            bisect.insort(
                specs,
                RuleSpec(op, _domain(domain), since, fn, category, macs, flops, per_element),
                key=lambda s: s.since,
            )
        return fn

    return register


ENTRY_POINT_GROUP = "modelaudit.rules"
PLUGIN_ERRORS: list[str] = []
_plugins_loaded = False


def load_plugins() -> list[str]:
    """Imports every `modelaudit.rules` entry point once. An entry point names a module whose
    @rule decorators register on import, or a callable that registers rules when called.
    A plugin that fails to load is reported as a warning, never a crash."""
    global _plugins_loaded
    if _plugins_loaded:
        return PLUGIN_ERRORS
    _plugins_loaded = True
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            loaded = ep.load()
            if callable(loaded):
                loaded()
        except Exception as exc:  # a third party's bug must not stop an audit
            PLUGIN_ERRORS.append(f"rule plugin '{ep.name}' ({ep.value}) failed to load: {exc}")
    return PLUGIN_ERRORS


def unregister(op_type: str, domain: str = "") -> None:
    """Removes every rule of an op (for tests of plugins, and for replacing a built-in rule)."""
    _REGISTRY.pop((_domain(domain), op_type), None)


def find_rule(op_type: str, domain: str, opset: int) -> RuleSpec | None:
    """The newest rule whose `since` is at most the model's opset for that domain."""
    if not _plugins_loaded:
        load_plugins()
    specs = _REGISTRY.get((_domain(domain), op_type))
    if not specs:
        return None
    for spec in reversed(specs):
        if spec.since <= max(opset, 1):
            return spec
    return specs[0]  # a model older than our first rule: the oldest rule still applies


def newest_rule(op_type: str, domain: str) -> RuleSpec | None:
    """The newest rule of an op at any opset (what an op type is, whatever the model's opset)."""
    if not _plugins_loaded:
        load_plugins()
    specs = _REGISTRY.get((_domain(domain), op_type))
    return specs[-1] if specs else None


def is_zero_cost(op_type: str, domain: str) -> bool:
    return op_type in ZERO_COST.get(_domain(domain), ())


def is_classified(op_type: str, domain: str) -> bool:
    """True when the op has a rule, a zero-cost classification or an explicit not-modelled entry."""
    d = _domain(domain)
    return (d, op_type) in _REGISTRY or op_type in ZERO_COST.get(d, ()) or op_type in UNMODELLED.get(d, {})


def registered() -> list[RuleSpec]:
    """Every registered rule, newest version per op, sorted by domain and op."""
    return [specs[-1] for _, specs in sorted(_REGISTRY.items())]


def formula_table() -> list[dict[str, Any]]:
    """One entry per known op: category, MAC and FLOP formulas, since-opset of the newest rule."""
    rows = [
        {
            "op": s.op_type,
            "domain": s.domain or "ai.onnx",
            "category": s.category,
            "macs": s.macs,
            "flops": s.flops,
            "since": s.since,
        }
        for s in registered()
    ]
    for domain, moved in ZERO_COST.items():
        rows += [
            {
                "op": op,
                "domain": domain or "ai.onnx",
                "category": "data movement",
                "macs": "0",
                "flops": "0",
                "since": 1,
            }
            for op in moved
        ]
    for domain, ops in UNMODELLED.items():
        rows += [
            {
                "op": op,
                "domain": domain or "ai.onnx",
                "category": "not modelled",
                "macs": "uncounted",
                "flops": f"uncounted: {why}",
                "since": 1,
            }
            for op, why in ops.items()
        ]
    return sorted(rows, key=lambda r: (r["domain"], r["category"], r["op"]))


def markdown_formula_table() -> str:
    lines = ["| op | category | MACs | FLOPs |", "|---|---|---|---|"]
    for r in formula_table():
        op = r["op"] if r["domain"] == "ai.onnx" else f"{r['domain']}:{r['op']}"
        cells = [op, r["category"], r["macs"], r["flops"]]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


def _load_builtin_rules() -> None:
    from . import (  # noqa: F401
        attention,
        control,
        conv,
        elementwise,
        fused,
        linear,
        misc,
        ml,
        norm,
        pool,
        quant,
        recurrent,
        signal,
    )


_load_builtin_rules()
