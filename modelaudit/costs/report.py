"""Report: one row per node, each analysis's table beside the rows, and totals. `document()` is what
every output format reads and `to_dict()` its plain data (the JSON document): one source for all."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from modelaudit.figures import Figure, revive, to_data

from .rows import Row, Rows, Table

__all__ = ["Row", "Rows", "Table", "Totals", "Report", "SCHEMA_VERSION", "STATUSES", "revive_document"]

SCHEMA_VERSION = 2  # 2: every figure that may be incomplete is {"value", "bound"} (docs/json-schema.md)

STATUSES = {
    "counted": "a rule costed this node",
    "zero-cost": "data movement: no arithmetic by convention",
    "constant": "all inputs are constant: folded once at load, no per-inference cost",
    "uncounted": "no rule for this op: its MACs and FLOPs are unknown, never zero",
    "unresolved": "a dimension it needs is not known statically",
    "error": "its rule failed on this node (see warnings)",
}


@dataclass
class Totals:
    """The model's totals. Every figure that may be incomplete is a `Figure` carrying its
    completeness: exact, a lower bound (`≥`: some nodes' parts are unknown) or unknown; printing
    keeps the bound, and ordering or int() of an incomplete one raises (figures.py)."""

    params: Figure  # a floor when an op without a rule reads constants no convention classes
    non_trainable: Figure
    weight_bytes: Figure
    weight_bytes_by_dtype: dict[str, int]  # the weights found, by stored dtype
    macs: Figure
    flops: Figure
    activation_bytes: Figure
    peak_activation_bytes: Figure
    nodes: int

    def as_dict(self) -> dict[str, Any]:
        """The JSON form: each figure as {"value": n or null, "bound": "exact" | "at_least" | …}."""
        data: dict[str, Any] = to_data(dict(vars(self)))
        return data


def revive_document(d: dict[str, Any]) -> dict[str, Any]:
    """A report's document with its figures as Figures: to_dict()'s JSON forms (or a JSON report
    read back) revived; a document that already holds Figures is returned as it is."""
    if not isinstance(d["totals"].get("macs"), dict):
        return d
    return d | {"totals": revive(d["totals"]), "training": revive(d.get("training"))}


@dataclass
class Report:
    model: dict[str, Any]
    rows: list[Row]
    totals: Totals
    uncounted: dict[str, int]
    unresolved: list[dict[str, Any]]
    warnings: list[str]
    verification: dict[str, Any] | None = None
    profile: dict[str, Any] | None = None
    runtime: dict[str, Any] | None = None
    training: dict[str, Any] | None = None
    symbolic: dict[str, Any] | None = None
    findings: list[Any] | None = None  # analyses.findings.Finding
    roofline: dict[str, Any] | None = None
    # bytes live at each step of the peak-memory walk (None where unknown); --symbolic fits each
    # step to find the peak as a maximum of polynomials. Not part of to_dict().
    live_bytes: list[Any] | None = field(default=None, repr=False)
    # what is known of each row beyond Row, one table per analysis ("modules", "verify", "profile",
    # "training", "roofline"), each column one value per row (rows.ANALYSIS_COLUMNS names them)
    tables: dict[str, Table] = field(default_factory=dict)

    def columns(self) -> Rows:
        """Every row's JSON fields column by column: Row's fields, each analysis's columns and the
        derived totals. What every format reads; to_dict()'s rows are its dicts."""
        return Rows.of(self.rows, self.tables)

    def document(self) -> dict[str, Any]:
        """to_dict() up to and with its rows, the rows as `columns()`, its figures still Figures:
        what the formats read."""
        return self.head() | {"rows": self.columns()}

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data, the document `report --format json` prints (every row, in file
        order); see docs/json-schema.md."""
        from .blocks import by_op, formula_rows

        d = self.document()
        return d | {
            "totals": self.totals.as_dict(),
            "training": to_data(d["training"]),
            "rows": d["rows"].dicts(),
            "by_op": to_data(by_op(formula_rows(d))),
            "view": {"sort": None, "top": None, "by": "node", "depth": None},
        }

    def head(self) -> dict[str, Any]:
        """to_dict() up to its rows (every key before "rows", in the same order), its figures still
        Figures."""
        from modelaudit._version import __version__

        return {
            "schema_version": SCHEMA_VERSION,
            "tool": {"name": "modelaudit", "version": __version__},
            "model": self.model,
            "totals": dict[str, Any](vars(self.totals)),  # Figures: to_dict() and the JSON writer give their JSON form
            "uncounted": [{"op": op, "count": n} for op, n in sorted(self.uncounted.items())],
            "unresolved": self.unresolved,
            "warnings": list(self.warnings),
            "verification": self.verification,
            "profile": self.profile,
            "runtime": self.runtime,
            "training": self.training,
            "symbolic": self.symbolic,
            "findings": None if self.findings is None else [f.as_dict() for f in self.findings],
            "roofline": self.roofline,
        }
