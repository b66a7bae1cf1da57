"""Report: one row per node plus totals; `to_dict()` is the single source of every output format."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from operator import attrgetter

__all__ = ["Row", "Totals", "Report", "SCHEMA_VERSION", "STATUSES", "column", "row_dicts"]

SCHEMA_VERSION = 1

STATUSES = {
    "counted": "a rule costed this node",
    "zero-cost": "data movement: no arithmetic by convention",
    "constant": "all inputs are constant: folded once at load, no per-inference cost",
    "uncounted": "no rule for this op: its MACs and FLOPs are unknown, never zero",
    "unresolved": "a dimension it needs is not known statically",
    "error": "its rule failed on this node (see warnings)",
}


@dataclass(slots=True)
class Row:
    index: int
    name: str
    op: str
    domain: str
    inputs: list[str]
    weights: list[str]
    outputs: list[str]
    params: int
    non_trainable: int
    macs: int | None
    flops: int | None
    output_bytes: int | None
    formula: str
    status: str
    module: str = ""  # its module path, "layer1/layer1.0/conv1" ("" at the top level): graph/modules.py
    unresolved: list[str] = field(default_factory=list)
    scope: str = ""  # the parent control-flow node and subgraph: "/loop/Loop/body"
    runs: int = 1  # executions counted per model run (Loop trip count; 0 for an If branch not counted)
    details: dict = field(default_factory=dict)  # e.g. the per-gate params of a recurrent node
    runtime_shaped: bool = False  # its shapes came from the --verify run, not from static inference
    ms: float | None = None  # --profile: median kernel time
    backward_macs: int | None = None  # --training
    backward_flops: int | None = None
    gmacs_per_s: float | None = None
    weight_bytes_read: int | None = None  # --hardware: bytes of the constants it reads
    input_bytes: int | None = None  # --hardware: bytes of the activations it reads
    intensity: float | None = None  # --hardware: FLOPs per byte moved
    bound: str | None = None  # --hardware: compute | memory | unknown
    roofline_ms: float | None = None  # --hardware: the least time the chip needs for it
    bound_ratio: float | None = None  # --hardware with --profile: ms / roofline_ms

    def as_dict(self) -> dict:
        """The row's fields (shallow: lists are shared, not copied) and its derived totals."""
        d = dict(zip(_ROW_FIELDS, _row_values(self)))  # the 30 fields in one C call, not 30 getattr
        d["op_label"], d["macs_total"], d["flops_total"] = self.op_label, self.macs_total, self.flops_total
        return d

    @property
    def macs_total(self) -> int | None:
        return None if self.macs is None else self.macs * self.runs

    @property
    def flops_total(self) -> int | None:
        return None if self.flops is None else self.flops * self.runs

    @property
    def op_label(self) -> str:
        return f"{self.domain}:{self.op}" if self.domain not in ("", "ai.onnx") else self.op


_ROW_FIELDS = tuple(f.name for f in fields(Row))
_row_values = attrgetter(*_ROW_FIELDS)


def column(rows: list, key: str, default=None) -> list:
    """One field of every row, read from Row objects or from their dicts (`default` where a dict
    lacks it): the renderers read a table column by column, from either."""
    if rows and rows[0].__class__ is Row:  # a Report's own rows: no dict per row is built
        if key == "op_label" and set(map(attrgetter("domain"), rows)) <= {"", "ai.onnx"}:
            return list(map(attrgetter("op"), rows))  # the default domain's labels are the ops: no property call
        return list(map(attrgetter(key), rows))
    return [r.get(key, default) for r in rows]


def row_dicts(rows: list) -> list[dict]:
    """The rows as Row.as_dict() gives them (dicts are returned as they are)."""
    return [r.as_dict() for r in rows] if rows and rows[0].__class__ is Row else rows


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

    def to_dict(self) -> dict:
        """Plain JSON-ready data, the document `report --format json` prints (every row, in file
        order); see docs/json-schema.md."""
        from .blocks import by_op, formula_rows

        rows = [r.as_dict() for r in self.rows]
        return self.head() | {
            "rows": rows,
            "by_op": by_op(formula_rows({"rows": rows, "symbolic": self.symbolic})),
            "view": {"sort": None, "top": None, "by": "node", "depth": None},
        }

    def head(self) -> dict:
        """to_dict() up to its rows (every key before "rows", in the same order): what a renderer
        reading the Row objects themselves takes with them."""
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
