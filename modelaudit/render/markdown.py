"""GitHub-flavoured Markdown report, fit for a pull-request comment or a job summary."""

from __future__ import annotations

from modelaudit.encoding import code_span, guard, writing

from .common import (
    gate_tables,
    model_line,
    notices,
    runtime_lines,
    summary,
    symbolic_lines,
    top_line,
)
from .grid import plain_columns, plain_table
from .roofline import roofline_lines
from .table import table_columns

__all__ = ["render_markdown"]


def _cell(value) -> str:
    return str(value).replace("|", "\\|")


def _cells(column: list) -> list[str]:
    """_cell() of each value; a column without a `|` anywhere is its texts as they are."""
    texts = column if set(map(type, column)) <= {str} else list(map(str, column))
    return texts if "|" not in "".join(texts) else [t.replace("|", "\\|") for t in texts]


def _indent(block: str) -> str:
    """A nested block's indentation, which Markdown would strip from a table cell."""
    name = block.lstrip(" ")
    return "&nbsp;" * (len(block) - len(name)) + name


def render_markdown(
    d: dict,
    sort: str | None = None,
    top: int | None = None,
    by: str = "node",
    columns: list[str] | None = None,
    depth: int | None = None,
    width: int | None = None,
) -> str:
    """The same table as text's, whole (`width` is for terminals). Model text in it is inert
    Markdown (encoding.markdown: in a code span when it could be markup)."""
    title = code_span(model_line(d))  # a code span: its names need only text's escapes
    with writing("markdown"):
        return _markdown(d, title, sort, top, by, columns, depth)


def _markdown(d: dict, title: str, sort, top, by: str, columns, depth) -> str:
    headers, values, keys = table_columns(d, sort, top, by, columns, depth)  # a list per column
    rows = len(values[0]) if values else 0
    values = [_cells(list(map(_indent, column)) if k == "block" else column) for column, k in zip(values, keys)]
    lines = [f"## modelaudit: {title}", "", "| total | value |", "|---|---|"]
    lines.extend(f"| {label} | {_cell(value)} |" for label, value in summary(d))
    lines = [guard("\n".join(lines)), "", plain_columns(values, headers, "github", rows), ""]  # cells are names()
    shown = top_line(d, top, by, depth, sort)
    if shown:
        lines.append(f"_{shown}_\n")
    for title, gate_headers, gates in gate_tables(d):
        lines += [
            f"### {_cell(title)}",
            "",
            plain_table([list(map(_cell, c)) for c in gates], gate_headers, "github"),
            "",
        ]
    lines.extend(f"- {_cell(n)}" for n in symbolic_lines(d) + runtime_lines(d) + roofline_lines(d) + notices(d))
    return "\n".join(lines[:3] + [guard("\n".join(lines[3:]))]).rstrip() + "\n"
