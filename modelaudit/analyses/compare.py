"""compare: totals side by side with ratios to the first model, per op family and per block."""

from __future__ import annotations

from pathlib import Path

from modelaudit.costs.blocks import FAMILIES, families_and_blocks
from modelaudit.costs.report import SCHEMA_VERSION, revive_document
from modelaudit.figures import Figure
from modelaudit.render.common import resolve_hint

__all__ = ["METRICS", "compare", "labels_for"]

# metric -> (label, kind): kind says how to print it
METRICS = {
    "params": ("params", "count"),
    "non_trainable": ("non-trainable", "count"),
    "weight_bytes": ("weight bytes", "bytes"),
    "macs": ("MACs", "count"),
    "flops": ("FLOPs", "count"),
    "peak_activation_bytes": ("peak activations", "bytes"),
    "nodes": ("nodes", "int"),
    "opset": ("opset", "int"),
}


def labels_for(paths: list[str]) -> list[str]:
    """File stems, or whole paths where two stems collide."""
    stems = [Path(p).stem for p in paths]
    return [stem if stems.count(stem) == 1 else str(p) for stem, p in zip(stems, paths)]


def _metric(d: dict, metric: str):
    """A total: a Figure (exact, a floor or unknown), or a plain count (nodes, opset)."""
    if metric == "opset":
        return d["model"]["opsets"].get("ai.onnx")
    return d["totals"][metric]


def _known(value):
    """A value's number when it is exact: a floor has no honest ratio or difference."""
    return value.known if isinstance(value, Figure) else value


def _ratio(value, first):
    value, first = _known(value), _known(first)
    if value is None or first in (None, 0) or isinstance(value, bool):
        return None
    return value / first


def _delta(value, first):
    value, first = _known(value), _known(first)
    return None if value is None or first is None else value - first


def compare(reports: list[dict], labels: list[str], depth: int = 2) -> dict:
    """The comparison of Report.document()s, first model as the reference. Totals and group sums are
    Figures; `to_data()` gives the JSON form."""
    reports = [revive_document(d) for d in reports]
    totals = []
    for metric, (label, kind) in METRICS.items():
        values = [_metric(d, metric) for d in reports]
        totals.append(
            {
                "metric": metric,
                "label": label,
                "kind": kind,
                "values": values,
                "ratio": [None if metric == "opset" else _ratio(v, values[0]) for v in values],
                "delta": [None if metric == "opset" else _delta(v, values[0]) for v in values],
            }
        )
    families, blocks = zip(*(families_and_blocks(d["rows"], depth) for d in reports))
    block_names = list(dict.fromkeys(n for b in blocks for n in b))  # each once, in order of first appearance
    return {
        "schema_version": SCHEMA_VERSION,
        "models": [
            {"label": label, "path": d["model"]["path"], "resolve": resolve_hint(d)}
            for label, d in zip(labels, reports)
        ],
        "totals": totals,
        "families": [
            {"family": f, "values": [fam.get(f) for fam in families]}
            for f in FAMILIES
            if any(f in fam for fam in families)
        ],
        "depth": depth,
        "blocks": [{"block": n, "values": [b.get(n) for b in blocks]} for n in block_names],
    }
