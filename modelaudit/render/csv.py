"""CSV report: one line per node (or per op with --by op), exact numbers, empty when unknown."""

from __future__ import annotations

import csv
import io

from modelaudit.costs.blocks import scope_tree
from modelaudit.costs.rows import Rows
from modelaudit.encoding import csv_cell
from modelaudit.figures import Figure

from .common import by_op, formula_rows, select_rows

__all__ = ["render_csv", "figure_cell", "NODE_FIELDS", "OP_FIELDS", "BLOCK_FIELDS"]

NODE_FIELDS = [
    "index",
    "name",
    "op",
    "domain",
    "module",
    "scope",
    "inputs",
    "weights",
    "outputs",
    "params",
    "non_trainable",
    "macs",
    "flops",
    "runs",
    "macs_total",
    "flops_total",
    "output_bytes",
    "backward_macs",
    "backward_flops",
    "ms",
    "intensity",
    "bound",
    "roofline_ms",
    "status",
    "formula",
]
OP_FIELDS = ["op", "count", "params", "non_trainable", "macs", "flops"]
BLOCK_FIELDS = ["path", "level", "block", "nodes", "params", "macs", "flops", "unknown"]
_FORMULAS = ("macs", "flops", "output_bytes")  # --symbolic: <field>_formula columns


def _value(value):
    """A cell: exact numbers, empty when unknown, shapes joined, names escaped and never a formula."""
    if value is None:
        return ""
    if value.__class__ is Figure:  # a group's sum: the number, `>=n` for a floor, empty when unknown
        return figure_cell(value)
    if isinstance(value, list):
        value = "; ".join(value)  # shapes: their dim names come from the model, escaped as names are
    if isinstance(value, str):
        return csv_cell(value)  # escaped, cut at MAX_FIELD, never a spreadsheet formula
    return value


def figure_cell(value: Figure):
    """A Figure as a CSV cell: the exact number, `>=n` where only a floor is known, `<=n` a ceiling,
    empty when unknown (never a bare bound, never 0)."""
    if value.complete:
        return value.value
    if value.lower is not None:
        return f">={value.lower}"
    return "" if value.upper is None else f"<={value.upper}"


def _cells(values: list) -> list:
    """_value() of each value of a column: whole numbers as they are, text once per distinct value."""
    kinds = set(map(type, values))
    if kinds <= {int}:
        return values
    if kinds <= {int, type(None)}:
        return ["" if v is None else v for v in values]
    if kinds <= {str, list, type(None)}:  # lists of shapes as tuples: one key per distinct list
        keys = [tuple(v) if v.__class__ is list else v for v in values]
        texts = {k: _value(list(k) if k.__class__ is tuple else k) for k in set(keys)}
        return list(map(texts.__getitem__, keys))
    return list(map(_value, values))


def render_csv(
    d: dict, sort: str | None = None, top: int | None = None, by: str = "node", depth: int | None = None, **_terminal
) -> str:
    """One line per node, per op type (`by="op"`) or per block (`depth`: every scope down to it,
    with subtotals; `unknown` counts the nodes whose MACs are not in the sums). Written column by
    column."""
    if depth is not None:
        blocks, fields, by = scope_tree(formula_rows(d), depth), BLOCK_FIELDS, "block"
        fields = (
            fields
            + ["backward_macs"] * bool(d.get("training"))
            + ["ms", "untimed"] * bool((d.get("profile") or {}).get("total_ms"))
        )
        if sort is not None or top is not None:
            blocks = [r for r in blocks if r["leaf"]]
        rows = Rows.from_dicts(blocks)
    else:
        rows, fields = (Rows.from_dicts(by_op(formula_rows(d))), OP_FIELDS) if by == "op" else (d["rows"], NODE_FIELDS)
    rows = select_rows(rows, sort, top, by=by, symbolic=d.get("symbolic"))
    values = [_cells(rows.column(f)) for f in fields]
    if d.get("symbolic"):  # each row's or group's polynomials beside its fixed-size (unknown) figures
        fields = fields + [f"{k}_formula" for k in _FORMULAS]
        if by == "node":
            formulas = {r["name"]: r for r in d["symbolic"]["rows"]}
            values += [
                _cells([((formulas.get(name) or {}).get(k) or {}).get("text") for name in rows.column("name")])
                for k in _FORMULAS
            ]
        else:
            values += [_cells([f[k]["text"] for f in rows.column("formulas")]) for k in _FORMULAS]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(fields)
    writer.writerows(zip(*values))
    if d.get("findings") and by == "node":  # findings as rows of the same table: op = code, status = finding
        for f in d["findings"]:
            line = {
                "name": f["target"],
                "op": f["code"],
                "status": f"finding {f['severity']}",
                "formula": f["message"],
                "output_bytes": f["wasted_bytes"],
            }
            writer.writerow([_value(line.get(field)) for field in fields])
    return buf.getvalue()
