"""GitHub-flavoured Markdown report, fit for a pull-request comment or a job summary."""

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

__all__ = ["render_markdown"]


def _cell(value) -> str:
    return str(value).replace("|", "\\|")


def render_markdown(d: dict, sort: str | None = None, top: int | None = None, by: str = "node") -> str:
    headers, cells = table(d, sort, top, by)
    cells = [[_cell(c) for c in row] for row in cells]
    lines = [f"## modelaudit: `{_cell(model_line(d))}`", "", "| total | value |", "|---|---|"]
    lines.extend(f"| {label} | {_cell(value)} |" for label, value in summary(d))
    lines += ["", plain_table(cells, headers, "github"), ""]
    shown = top_line(d, top, by)
    if shown:
        lines.append(f"_{shown}_\n")
    for title, headers, rows in gate_tables(d):
        rows = [[_cell(c) for c in row] for row in rows]
        lines += [f"### {_cell(title)}", "", tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True), ""]
    lines.extend(f"- {_cell(n)}" for n in symbolic_lines(d) + runtime_lines(d) + notices(d))
    return "\n".join(lines).rstrip() + "\n"
