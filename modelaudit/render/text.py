"""Plain-text report: a table fitted to the terminal, plus totals, for terminals and logs."""

from __future__ import annotations

import textwrap

from tabulate import tabulate

from .common import (
    gate_tables,
    model_line,
    notices,
    plain_table,
    runtime_lines,
    summary,
    symbolic_lines,
    top_line,
)
from .roofline import roofline_lines
from .table import fit, table

__all__ = ["render_text"]


def render_text(d: dict, sort: str | None = None, top: int | None = None, by: str = "node",
                columns: list[str] | None = None, depth: int | None = None, width: int | None = None) -> str:
    """`width` fits the table to a terminal of that many columns; None prints it whole."""
    headers, cells, keys = table(d, sort, top, by, columns, depth)
    # under --symbolic the FLOPs and out-bytes formulas are what the reader came for: hidden last
    headers, cells, fitted = fit(headers, cells, keys, width, droppable=not columns,
                                 last=("flops", "bytes") if d.get("symbolic") else ())
    label_width = max(len(label) for label, _ in summary(d))
    lines = [model_line(d), "", plain_table(cells, headers), ""]
    lines += [f"({line})" for line in (top_line(d, top, by, depth),) if line]
    if fitted:
        lines += textwrap.wrap(f"({fitted})", width)
    lines.append("Totals")
    lines.extend(f"  {label:<{label_width}}  {value}" for label, value in summary(d))
    for title, headers, rows in gate_tables(d):
        lines += ["", title, tabulate(rows, headers=headers, tablefmt="simple", disable_numparse=True)]
    extra = symbolic_lines(d) + runtime_lines(d) + roofline_lines(d) + notices(d)
    if extra:
        lines.append("")
        lines.extend(extra)
    return "\n".join(lines) + "\n"
