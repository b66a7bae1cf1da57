"""A report's rows: `Row`, what the audit computes per node; each analysis's columns in a `Table` of its
own, by row number; and `Rows`, every row's JSON fields column by column, which every format reads."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from itertools import repeat
from operator import attrgetter
from typing import Any

__all__ = ["Row", "Table", "Rows", "ROW_FIELDS", "ANALYSIS_COLUMNS", "ROW_KEYS"]


@dataclass(slots=True)
class Row:
    """One node as the audit costs it (built by keyword; the analyses' columns are in Report.tables)."""

    index: int  # the node's position in its own graph (a subgraph numbers its nodes from 0)
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
    unresolved: list[str] = field(default_factory=list)
    scope: str = ""  # the parent control-flow node and subgraph: "/loop/Loop/body"
    runs: int = 1  # executions counted per model run (Loop trip count; 0 for an If branch not counted)
    details: dict[str, Any] = field(default_factory=dict)  # e.g. the per-gate params of a recurrent node

    @property
    def macs_total(self) -> int | None:
        return None if self.macs is None else self.macs * self.runs

    @property
    def flops_total(self) -> int | None:
        return None if self.flops is None else self.flops * self.runs

    @property
    def op_label(self) -> str:
        return f"{self.domain}:{self.op}" if self.domain not in ("", "ai.onnx") else self.op


# An analysis's columns beside the rows: column -> one value per row, by row number (a row's position
# in Report.rows, not Row.index), the column's default where the analysis says nothing of a row.
Table = dict[str, list[Any]]

ROW_FIELDS = tuple(f.name for f in fields(Row))
# The columns kept in tables: column -> (the Report.tables key of what fills it, its value where
# that did not run or says nothing of a row).
ANALYSIS_COLUMNS: dict[str, tuple[str, Any]] = {
    "module": ("modules", ""),  # its module path, "layer1/layer1.0/conv1" ("" at the top level): graph/modules.py
    "runtime_shaped": ("verify", False),  # its shapes came from the --verify run, not from static inference
    "ms": ("profile", None),  # --profile: median kernel time
    "backward_macs": ("training", None),
    "backward_flops": ("training", None),
    "gmacs_per_s": ("profile", None),
    "weight_bytes_read": ("roofline", None),  # --hardware: bytes of the constants it reads
    "input_bytes": ("roofline", None),  # --hardware: bytes of the activations it reads
    "intensity": ("roofline", None),  # --hardware: FLOPs per byte moved
    "bound": ("roofline", None),  # --hardware: compute | memory | unknown
    "roofline_ms": ("roofline", None),  # --hardware: the least time the chip needs for it
    "bound_ratio": ("roofline", None),  # --hardware with --profile: ms / roofline_ms
}
DERIVED = ("op_label", "macs_total", "flops_total")
# A JSON row's keys, in their order: part of the schema (docs/json-schema.md). Row's fields, the
# tables' columns and the derived ones, each once (tests/costs/test_rows.py).
ROW_KEYS = (
    *("index", "name", "op", "domain", "inputs", "weights", "outputs", "params", "non_trainable", "macs", "flops"),
    *("output_bytes", "formula", "status", "module", "unresolved", "scope", "runs", "details", "runtime_shaped"),
    *("ms", "backward_macs", "backward_flops", "gmacs_per_s", "weight_bytes_read", "input_bytes", "intensity"),
    *("bound", "roofline_ms", "bound_ratio", "op_label", "macs_total", "flops_total"),
)
_FIELDS = frozenset(ROW_FIELDS)
_DEFAULT_DOMAINS = frozenset(("", "ai.onnx"))

Read = Callable[[str, Any], list[Any]]
Part = Callable[[int, int], "Rows"]


class Rows:
    """Rows read column by column: `column(key)` is one field of every row, read once. Built from a
    report's Row objects and tables (`of`) or from dicts (`from_dicts`: a to_dict() document's rows,
    or groups such as by_op's); `take` selects and orders rows, `dicts` gives each row's dict."""

    __slots__ = ("keys", "_count", "_read", "_part", "_read_cache")

    def __init__(self, count: int, read: Read, keys: tuple[str, ...], part: Part | None = None) -> None:
        """`read(key, default)` reads a column; `part(start, stop)`, if given, reads those rows
        from the source itself (a few rows at a time stay in the CPU's cache)."""
        self.keys, self._count, self._read, self._part = keys, count, read, part
        self._read_cache: dict[tuple[str, Any], list[Any]] = {}

    def __len__(self) -> int:
        return self._count

    def column(self, key: str, default: Any = None) -> list[Any]:
        """Every row's `key` (`default` where a row lacks it); the list is shared: do not change it."""
        values = self._read_cache.get((key, default))
        if values is None:
            values = self._read_cache[key, default] = self._read(key, default)
        return values

    def take(self, positions: Iterable[int]) -> Rows:
        """These rows, in this order."""
        if isinstance(positions, range) and positions.step == 1 and self._part is not None:
            return self._part(positions.start, positions.stop)
        chosen = list(positions)
        return Rows(
            len(chosen), lambda key, default: list(map(self.column(key, default).__getitem__, chosen)), self.keys
        )

    def with_column(self, key: str, values: list[Any]) -> Rows:
        """These rows with one more column (not one of `keys`: dicts() leaves it out)."""
        return Rows(self._count, lambda k, default: values if k == key else self.column(k, default), self.keys)

    def dicts(self) -> list[dict[str, Any]]:
        """Each row as a dict of `keys`, in their order."""
        keys = self.keys
        if not self._count:
            return []
        return [dict(zip(keys, values)) for values in zip(*(self.column(k) for k in keys))]

    @classmethod
    def of(cls, rows: list[Row], tables: dict[str, Table], first: int = 0) -> Rows:
        """A report's rows: Row's fields, each analysis's columns (their defaults where it did not
        run) and the derived op_label, macs_total and flops_total, with ROW_KEYS as its keys.
        `rows` are the report's from row number `first` on."""
        count = len(rows)

        def read(key: str, default: Any) -> list[Any]:
            if key in _FIELDS:
                return list(map(attrgetter(key), rows))
            if key in ANALYSIS_COLUMNS:
                analysis, empty = ANALYSIS_COLUMNS[key]
                values = tables.get(analysis, {}).get(key)
                return [empty] * count if values is None else values[first : first + count]
            if key == "op_label":
                ops, domains = view.column("op"), view.column("domain")
                if set(domains) <= _DEFAULT_DOMAINS:  # the default domain's labels are the ops
                    return ops
                return [op if d in _DEFAULT_DOMAINS else f"{d}:{op}" for op, d in zip(ops, domains)]
            if key in ("macs_total", "flops_total"):
                once, runs = view.column(key[: -len("_total")]), view.column("runs")
                if runs.count(1) == count and set(map(type, runs)) == {int}:
                    return once  # every row runs once: the same figures
                return [None if v is None else v * n for v, n in zip(once, runs)]
            return [default] * count

        view = cls(count, read, ROW_KEYS, lambda start, stop: cls.of(rows[start:stop], tables, first + start))
        return view

    @classmethod
    def from_dicts(cls, dicts: list[dict[str, Any]]) -> Rows:
        """Rows given as dicts (keys: the first one's)."""

        def read(key: str, default: Any) -> list[Any]:
            return list(map(dict.get, dicts, repeat(key), repeat(default)))

        return cls(
            len(dicts), read, tuple(dicts[0]) if dicts else (), lambda start, stop: cls.from_dicts(dicts[start:stop])
        )
