"""Report: one row per node, each analysis's table beside the rows, and totals. `document()` is what
every output format reads and `to_dict()` its plain data (the JSON document): one source for all."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .rows import Row, Rows, Table

__all__ = ["Row", "Rows", "Table", "Totals", "Report", "SCHEMA_VERSION", "STATUSES"]

SCHEMA_VERSION = 1

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
    params: int
    non_trainable: int
    weight_bytes: int
    weight_bytes_by_dtype: dict[str, int]
    macs: int
    flops: int
    macs_complete: bool
    activation_bytes: int
    peak_activation_bytes: int
    peak_activation_complete: bool
    nodes: int
    params_complete: bool = True  # false when an op without a rule reads constants no convention classes


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
    live_bytes: list[int | None] | None = field(default=None, repr=False)
    # what is known of each row beyond Row, one table per analysis ("modules", "verify", "profile",
    # "training", "roofline"), each column one value per row (rows.ANALYSIS_COLUMNS names them)
    tables: dict[str, Table] = field(default_factory=dict)

    def columns(self) -> Rows:
        """Every row's JSON fields column by column: Row's fields, each analysis's columns and the
        derived totals. What every format reads; to_dict()'s rows are its dicts."""
        return Rows.of(self.rows, self.tables)

    def document(self) -> dict[str, Any]:
        """to_dict() up to and with its rows, the rows as `columns()`: what the formats read."""
        return self.head() | {"rows": self.columns()}

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data, the document `report --format json` prints (every row, in file
        order); see docs/json-schema.md."""
        from .blocks import by_op, formula_rows

        d = self.document()
        return d | {
            "rows": d["rows"].dicts(),
            "by_op": by_op(formula_rows(d)),
            "view": {"sort": None, "top": None, "by": "node", "depth": None},
        }

    def head(self) -> dict[str, Any]:
        """to_dict() up to its rows (every key before "rows", in the same order)."""
        from modelaudit._version import __version__

        return {
            "schema_version": SCHEMA_VERSION,
            "tool": {"name": "modelaudit", "version": __version__},
            "model": self.model,
            "totals": dict(vars(self.totals)),
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
