"""Budgets from a config file: `[tool.modelaudit]` in pyproject.toml, or a modelaudit.toml."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from modelaudit.analyses.budget import (
    METRICS,
    Budget,
    load_baseline,
    parse_increase,
    parse_limit,
)
from modelaudit.errors import UsageError
from modelaudit.load.tomlfile import read_toml

from .specs import parse_input_spec

__all__ = ["ModelCheck", "load_config", "budget_from"]

_BUDGET_KEYS = {flag[2:]: metric for metric, (flag, _) in METRICS.items()}
_MODEL_KEYS = {"path", "inputs", "dims", "baseline", "max-increase"} | set(_BUDGET_KEYS)
_TOP_KEYS = {"models", "baseline", "max-increase"} | set(_BUDGET_KEYS)


@dataclass
class ModelCheck:
    path: Path
    inputs: dict[str, tuple] = field(default_factory=dict)
    dims: dict[str, int] = field(default_factory=dict)
    budget: Budget = field(default_factory=Budget)


def _table(data: dict, path: Path) -> dict:
    if path.name == "pyproject.toml":
        section = data.get("tool", {}).get("modelaudit")
        if section is None:
            raise UsageError(f"--config {path}: has no [tool.modelaudit] section")
        return section
    return data.get("tool", {}).get("modelaudit", data)


def budget_from(entry: dict, defaults: dict, folder: Path, where: str) -> Budget:
    """A Budget from config keys (`max-macs = "600M"`, `baseline = "…"`, `max-increase = {…}`)."""
    merged = {**defaults, **entry}
    budget = Budget()
    for key, metric in _BUDGET_KEYS.items():
        if key in merged:
            written = str(merged[key])
            budget.limits[metric] = (parse_limit(metric, written, f"{where} {key}"), written)
    if "baseline" in merged:
        baseline = folder / str(merged["baseline"])
        budget.baseline, budget.baseline_source = load_baseline(baseline), str(baseline)
    for name, amount in dict(merged.get("max-increase", {})).items():
        metric, kind, value = parse_increase(f"{name}={amount}")
        budget.increases[metric] = (kind, value)
    return budget


def load_config(path: str | Path) -> tuple[list[ModelCheck], dict]:
    """The configured models, and the top-level defaults (for models named on the command line)."""
    path = Path(path)
    data = read_toml(path, "--config")
    table = _table(data, path)
    unknown = set(table) - _TOP_KEYS
    if unknown:
        raise UsageError(
            f"--config {path}: unknown key(s) {', '.join(sorted(unknown))}", f"known: {', '.join(sorted(_TOP_KEYS))}"
        )
    defaults = {k: v for k, v in table.items() if k != "models"}
    folder = path.resolve().parent
    checks = []
    for i, entry in enumerate(table.get("models", [])):
        where = f"--config {path}: models[{i}]"
        if not isinstance(entry, dict) or "path" not in entry:
            raise UsageError(f"{where}: every model needs a path")
        bad = set(entry) - _MODEL_KEYS
        if bad:
            raise UsageError(
                f"{where}: unknown key(s) {', '.join(sorted(bad))}", f"known: {', '.join(sorted(_MODEL_KEYS))}"
            )
        inputs = {name: parse_input_spec(f"{name}={shape}")[1] for name, shape in dict(entry.get("inputs", {})).items()}
        dims = {}
        for name, value in dict(entry.get("dims", {})).items():
            if not isinstance(value, int) or value <= 0:
                raise UsageError(f"{where}: dims.{name} must be a positive integer")
            dims[name] = value
        checks.append(
            ModelCheck(folder / str(entry["path"]), inputs, dims, budget_from(entry, defaults, folder, where))
        )
    return checks, defaults
