"""Plain-text report: a tabulate table plus totals, for terminals and logs."""

from __future__ import annotations

from tabulate import tabulate

from .common import (
    gate_tables,
    model_line,
    notices,
    plain_table,
    runtime_lines,
    summary,
    symbolic_lines,
    table,
    top_line,
)

__all__ = ["render_text"]


def render_text(d: dict, sort: str | None = None, top: int | None = None, by: str = "node") -> str:
    headers, cells = table(d, sort, top, by)
    width = max(len(label) for label, _ in summary(d))
    lines = [model_line(d), "", plain_table(cells, headers), ""]
    shown = top_line(d, top, by)
    if shown:
        lines.append(f"({shown})")
    lines.append("Totals")
    lines.extend(f"  {label:<{width}}  {value}" for label, value in summary(d))
    for title, headers, rows in gate_tables(d):
        lines += ["", title, tabulate(rows, headers=headers, tablefmt="simple", disable_numparse=True)]
    extra = symbolic_lines(d) + runtime_lines(d) + notices(d)
    if extra:
        lines.append("")
        lines.extend(extra)
    return "\n".join(lines) + "\n"
