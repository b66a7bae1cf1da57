"""check: budgets on any total, limits and allowed growth over a baseline report, from flags or a config."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from modelaudit.errors import UsageError
from modelaudit.render.common import human, human_bytes
from modelaudit.units import parse_bytes, parse_count

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
    actual: int
    limit: int
    why: str

    def line(self) -> str:
        fmt = human_bytes if METRICS[self.metric][1] else human
        return (
            f"over budget: {self.model}: {self.metric} {fmt(self.actual)} ({self.actual:,}) > "
            f"{fmt(self.limit)} ({self.limit:,}) [{self.why}]"
        )


def load_baseline(path: str | Path) -> dict:
    """The totals of a previous `modelaudit report --format json`."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"--baseline {path}: cannot be read as JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("schema_version") != 1 or "totals" not in data:
        raise UsageError(
            f"--baseline {path}: is not a modelaudit JSON report (schema_version 1)",
            "write one with: modelaudit report MODEL --format json -o FILE",
        )
    return data["totals"]


def _allowed(metric: str, base: int, increases: dict) -> tuple[int, str]:
    kind, amount = increases.get(metric, ("absolute", 0))
    if kind == "percent":
        return base + int(base * amount / 100), f"baseline {base:,} + {amount:g}%"
    return base + int(amount), f"baseline {base:,} + {int(amount):,}"


def evaluate(model: str, totals: dict, budget: Budget) -> list[Breach]:
    """Every breach of `budget` by a report's totals. An incomplete MAC/FLOP count cannot prove a
    budget, so a MAC or FLOP budget on it is a breach of its own."""
    breaches = []
    checks = [(m, limit, f"limit {written}") for m, (limit, written) in budget.limits.items()]
    if budget.baseline is not None:
        metrics = set(BASELINE_DEFAULTS) | set(budget.increases)
        for metric in sorted(metrics):
            if metric in budget.baseline and budget.baseline[metric] is not None:
                limit, why = _allowed(metric, budget.baseline[metric], budget.increases)
                checks.append((metric, limit, f"{why}, {budget.baseline_source}"))
    for metric, limit, why in checks:
        actual = totals[metric]
        if metric in ("macs", "flops") and not totals.get("macs_complete", True):
            breaches.append(
                Breach(
                    model,
                    metric,
                    actual,
                    limit,
                    f"{why}; the count is incomplete (uncounted or "
                    "unresolved nodes), so the budget cannot be proven; --input/--dim fix "
                    "dynamic dims, --verify takes the shapes only a run can tell",
                )
            )
        elif metric in ("params", "non_trainable", "weight_bytes") and not totals.get("params_complete", True):
            breaches.append(
                Breach(
                    model,
                    metric,
                    actual,
                    limit,
                    f"{why}; an op without a rule reads constants that may be weights, so the budget cannot be proven",
                )
            )
        elif actual > limit:
            breaches.append(Breach(model, metric, actual, limit, why))
    return breaches
