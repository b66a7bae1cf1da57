"""check: budgets on any total, limits and allowed growth over a baseline report, from flags or a config."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from modelaudit.costs.report import SCHEMA_VERSION
from modelaudit.errors import UsageError
from modelaudit.figures import Figure, revive, to_data
from modelaudit.units import exact, human, human_bytes, parse_bytes, parse_count

__all__ = ["METRICS", "Budget", "Breach", "metric_name", "parse_increase", "evaluate", "load_baseline"]

# metric -> (flag, is a byte size)
METRICS = {
    "params": ("--max-params", False),
    "non_trainable": ("--max-non-trainable", False),
    "weight_bytes": ("--max-weight-bytes", True),
    "macs": ("--max-macs", False),
    "flops": ("--max-flops", False),
    "peak_activation_bytes": ("--max-peak-memory", True),
    "activation_bytes": ("--max-activation-bytes", True),
    "nodes": ("--max-nodes", False),
}
_ALIASES = {
    "peak_memory": "peak_activation_bytes",
    "peak": "peak_activation_bytes",
    "weights": "weight_bytes",
    "non-trainable": "non_trainable",
}
# without --max-increase, a baseline allows no growth in these
BASELINE_DEFAULTS = ("params", "weight_bytes", "macs", "flops")


def metric_name(text: str) -> str:
    name = text.strip().lower().replace("-", "_")
    name = _ALIASES.get(text.strip().lower(), _ALIASES.get(name, name))
    if name not in METRICS:
        raise UsageError(f"unknown metric '{text}'", f"metrics: {', '.join(METRICS)}")
    return name


def parse_limit(metric: str, text: str, source: str) -> int:
    return parse_bytes(text, source) if METRICS[metric][1] else parse_count(text, source)


def parse_increase(spec: str) -> tuple[str, str, float]:
    """`macs=2%` -> ("macs", "percent", 2.0); `params=0` -> ("params", "absolute", 0)."""
    name, sep, amount = spec.partition("=")
    if not sep or not amount.strip():
        raise UsageError(f"--max-increase '{spec}': expected METRIC=AMOUNT, e.g. macs=2% or params=0")
    metric = metric_name(name)
    amount = amount.strip()
    if amount.endswith("%"):
        try:
            value = float(amount[:-1])
        except ValueError:
            raise UsageError(f"--max-increase '{spec}': '{amount}' is not a percentage") from None
        if value < 0:
            raise UsageError(f"--max-increase '{spec}': a negative allowance")
        return metric, "percent", value
    return metric, "absolute", parse_limit(metric, amount, f"--max-increase {metric}")


@dataclass
class Budget:
    limits: dict[str, tuple[int, str]] = field(default_factory=dict)  # metric -> (limit, as written)
    baseline: dict | None = None  # totals of a previous report
    baseline_source: str = ""
    increases: dict[str, tuple[str, float]] = field(default_factory=dict)


@dataclass
class Breach:
    model: str
    metric: str
    actual: Figure | int  # a Figure where the total may be incomplete (nodes is a plain count)
    limit: int
    why: str
    proven: bool = True  # False: the total cannot be shown to be within the limit, nor over it

    def line(self) -> str:
        fmt = human_bytes if METRICS[self.metric][1] else human
        limit = f"{fmt(self.limit)} ({self.limit:,})"
        shown = f"{fmt(self.actual)} ({exact(self.actual)})"
        if self.proven:
            return f"over budget: {self.model}: {self.metric} {shown} > {limit} [{self.why}]"
        if isinstance(self.actual, Figure) and not self.actual.complete:
            shown = "unknown" if self.actual.lower is None else f"{shown}, partly unknown"
        return f"budget not proven: {self.model}: {self.metric} {shown}, limit {limit} [{self.why}]"

    def as_dict(self) -> dict:
        """The JSON form: `actual` as {"value", "bound"} where it is a Figure, and the line."""
        return to_data(dict(vars(self))) | {"line": self.line()}


def load_baseline(path: str | Path) -> dict:
    """The totals of a previous `modelaudit report --format json`, their figures as Figures. A report
    of schema version 1 (plain numbers beside `*_complete` flags) is read as those flags said."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"--baseline {path}: cannot be read as JSON ({exc})") from None
    version = data.get("schema_version") if isinstance(data, dict) else None
    if version not in (1, SCHEMA_VERSION) or not isinstance(data.get("totals"), dict):
        raise UsageError(
            f"--baseline {path}: is not a modelaudit JSON report (schema_version 1 or {SCHEMA_VERSION})",
            "write one with: modelaudit report MODEL --format json -o FILE",
        )
    return _version_1(data["totals"]) if version == 1 else revive(data["totals"])


_V1_FLAGS = {  # schema version 1: which flag said whether a total was complete
    "macs": "macs_complete",
    "flops": "macs_complete",
    "params": "params_complete",
    "non_trainable": "params_complete",
    "weight_bytes": "params_complete",
    "peak_activation_bytes": "peak_activation_complete",
    "activation_bytes": "peak_activation_complete",  # unflagged in version 1: unknown sizes leave both partial
}


def _version_1(totals: dict) -> dict:
    return totals | {
        metric: Figure.of(totals[metric], bool(totals.get(flag, True)))
        for metric, flag in _V1_FLAGS.items()
        if isinstance(totals.get(metric), int)
    }


def _allowed(metric: str, base: Figure | int, increases: dict) -> tuple[int, str]:
    """The limit a baseline allows; from a baseline that is a floor, the floor's (the growth that
    can be proven allowed)."""
    floor = base.lower if isinstance(base, Figure) else base
    shown = (exact(base) if isinstance(base, Figure) else f"{base:,}") if floor is not None else "unknown"
    floor = int(floor or 0)
    kind, amount = increases.get(metric, ("absolute", 0))
    if kind == "percent":
        return floor + int(floor * amount / 100), f"baseline {shown} + {amount:g}%"
    return floor + int(amount), f"baseline {shown} + {int(amount):,}"


def evaluate(model: str, totals: dict, budget: Budget, hint: str = "") -> list[Breach]:
    """Every breach of `budget` by a report's totals (Figures, or their JSON forms). A budget passes
    only when the total is proven within it: one that is partly or wholly unknown breaches it unless
    even its upper bound is within, and the breach names what would prove it (`hint`: the flags
    that resolve the unknown sizes, as render.common.resolve_hint gives them)."""
    totals = revive(totals)
    breaches = []
    checks = [(m, limit, f"limit {written}", True) for m, (limit, written) in budget.limits.items()]
    if budget.baseline is not None:
        metrics = set(BASELINE_DEFAULTS) | set(budget.increases)
        for metric in sorted(metrics):
            base = budget.baseline.get(metric)
            if base is not None:
                limit, why = _allowed(metric, base, budget.increases)
                complete = not isinstance(base, Figure) or base.complete
                checks.append((metric, limit, f"{why}, {budget.baseline_source}", complete))
    for metric, limit, why, baseline_known in checks:
        actual = totals[metric]
        if not isinstance(actual, Figure):  # a plain count (nodes): always known
            if actual > limit:
                breaches.append(Breach(model, metric, actual, limit, why))
        elif actual.provably_above(limit) and baseline_known:
            breaches.append(Breach(model, metric, actual, limit, why))
        elif not actual.provably_at_most(limit):
            breaches.append(Breach(model, metric, actual, limit, _unproven(metric, actual, why, hint), proven=False))
    return breaches


def _unproven(metric: str, actual: Figure, why: str, hint: str) -> str:
    """Why a budget cannot be proven, and what would prove it."""
    if actual.complete:  # within a limit that a floor of a baseline gave, but over that floor
        return f"{why}; the baseline is incomplete: regenerate it with every size fixed"
    if metric in ("params", "non_trainable", "weight_bytes"):
        return f"{why}; an op without a rule reads constants that may be weights, so the budget cannot be proven"
    return f"{why}; " + (hint or "--input/--dim fix dynamic dims, --verify takes the shapes only a run can tell")
