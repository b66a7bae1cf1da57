"""Plain-text report: a table fitted to the terminal, plus totals, for terminals and logs."""

from __future__ import annotations

import re
import textwrap

from modelaudit.encoding import guard

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
from .table import fit_columns, table_columns

__all__ = ["render_text"]


def render_text(
    d: dict,
    sort: str | None = None,
    top: int | None = None,
    by: str = "node",
    columns: list[str] | None = None,
    depth: int | None = None,
    width: int | None = None,
) -> str:
    """`width` fits the table to a terminal of that many columns; None prints it whole."""
    headers, values, keys = table_columns(d, sort, top, by, columns, depth)  # a list per column
    rows = len(values[0]) if values else 0
    fitted = None
    if width is not None:  # under --symbolic the FLOPs and out-bytes formulas are what the reader came for: hidden last
        headers, values, fitted = fit_columns(
            headers, values, keys, width, droppable=not columns, last=("flops", "bytes") if d.get("symbolic") else ()
        )
    totals = summary(d)
    label_width = max(len(label) for label, _ in totals)
    lines = [model_line(d), "", plain_columns(values, headers, rows=rows), ""]
    lines += [f"({line})" for line in (top_line(d, top, by, depth, sort),) if line]
    if fitted and width:
        lines += textwrap.wrap(f"({fitted})", width)
    lines.append("Totals")
    lines.extend(_wrap(f"  {label:<{label_width}}  {value}", width, label_width + 4) for label, value in totals)
    for title, gate_headers, gates in gate_tables(d):
        lines += ["", title, plain_table(gates, gate_headers)]
    extra = symbolic_lines(d) + runtime_lines(d) + roofline_lines(d) + notices(d)
    if extra:
        lines.append("")
        lines.extend(_wrap(line, width, len(line) - len(line.lstrip()) + 2) for line in extra)
    lines[0] = _wrap(lines[0], width, 2)
    # the table's cells are names() or our figures; the lines around it are pieced together: guarded
    return "\n".join([guard(lines[0]), lines[1], lines[2], guard("\n".join(lines[3:]))]) + "\n"


def _wrap(line: str, width: int | None, indent: int) -> str:
    """A prose line cut at `width` (the table's terminal), its continuation lines indented; a command
    in backticks that fits on a line of its own is not cut (it is pasted into a shell)."""
    if not width or len(line) <= width:
        return line
    room = width - min(indent, width // 2)
    whole = re.sub(r"`[^`]*`", lambda m: m.group().replace(" ", "\0") if len(m.group()) <= room else m.group(), line)
    return "\n".join(
        textwrap.wrap(
            whole,
            width,
            subsequent_indent=" " * min(indent, width // 2),
            break_on_hyphens=False,
            break_long_words=False,
        )
    ).replace("\0", " ")
