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
    model: dict
    rows: list[Row]
    totals: Totals
    uncounted: dict[str, int]
    unresolved: list[dict]
    warnings: list[str]
    verification: dict | None = None
    profile: dict | None = None
    runtime: dict | None = None
    training: dict | None = None
    symbolic: dict | None = None
    findings: list | None = None
    roofline: dict | None = None
    # bytes live at each step of the peak-memory walk (None where unknown); --symbolic fits each
    # step to find the peak as a maximum of polynomials. Not part of to_dict().
    live_bytes: list | None = field(default=None, repr=False)
    # each analysis's columns beside the rows, keyed by row number (rows.ANALYSIS_COLUMNS names them):
    # "verify", "profile", "training", "roofline"
    tables: dict[str, Table] = field(default_factory=dict)

    def columns(self) -> Rows:
        """Every row's JSON fields column by column: Row's fields, each analysis's columns and the
        derived totals. What every format reads; to_dict()'s rows are its dicts."""
        return Rows.of(self.rows, self.tables)

    def document(self) -> dict[str, Any]:
        """to_dict() up to and with its rows, the rows as `columns()`: what the formats read."""
        return self.head() | {"rows": self.columns()}

    def to_dict(self) -> dict:
        """Plain JSON-ready data, the document `report --format json` prints (every row, in file
        order); see docs/json-schema.md."""
        from .blocks import by_op, formula_rows

        d = self.document()
        return d | {
            "rows": d["rows"].dicts(),
            "by_op": by_op(formula_rows(d)),
            "view": {"sort": None, "top": None, "by": "node", "depth": None},
        }

    def head(self) -> dict:
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
