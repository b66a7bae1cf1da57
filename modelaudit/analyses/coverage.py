"""Which ops modelaudit knows: the coverage table of `modelaudit ops`, checked against onnx.defs."""

from __future__ import annotations

import csv
import io
import json
import textwrap
from functools import cache

from onnx import defs
from tabulate import tabulate

from modelaudit.costs.rules import formula_table, is_classified

__all__ = ["onnx_ops", "unclassified", "render_ops", "COLUMNS"]

COLUMNS = ["op", "domain", "category", "macs", "flops", "since"]


@cache
def onnx_ops(domain: str = "") -> tuple[str, ...]:
    """Every op onnx.defs lists for a domain, at any version up to the installed opset."""
    want = "" if domain == "ai.onnx" else domain
    return tuple(
        sorted(
            {s.name for s in defs.get_all_schemas_with_history() if ("" if s.domain == "ai.onnx" else s.domain) == want}
        )
    )


def unclassified(domain: str = "") -> list[str]:
    """Ops onnx.defs knows that have no rule, zero-cost or not-modelled classification."""
    return [op for op in onnx_ops(domain) if not is_classified(op, domain)]


def render_ops(fmt: str = "text", domain: str | None = None, missing: bool = False, width: int | None = None) -> str:
    """The coverage table; as text on a terminal of `width` columns too narrow for it, an entry per
    op with its formulas wrapped below it."""
    if missing:
        ops = unclassified(domain or "")
        if fmt == "json":
            return json.dumps({"domain": domain or "ai.onnx", "unclassified": ops}, indent=2) + "\n"
        return "\n".join(ops) + "\n" if ops else f"every {domain or 'ai.onnx'} op in onnx.defs is classified\n"
    rows = [r for r in formula_table() if domain is None or r["domain"] == domain]
    if fmt == "json":
        return json.dumps(rows, indent=2) + "\n"
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return buf.getvalue()
    default = onnx_ops("")
    covered = sum(1 for op in default if is_classified(op, ""))
    table = tabulate(
        [[r[c] for c in COLUMNS] for r in rows],
        headers=COLUMNS,
        tablefmt="github" if fmt == "markdown" else "simple",
        disable_numparse=True,
    )
    summary = (
        f"ai.onnx coverage: {covered} of the {len(default)} ops onnx.defs lists "
        f"(onnx opset {defs.onnx_opset_version()}) have a rule or a classification"
    )
    if fmt == "text" and width and max(map(len, table.splitlines())) > width:
        table = _entries(rows, width) + f"\n\n(fitted to {width} columns: an entry per op; --wide shows the table)"
        summary = "\n".join(textwrap.wrap(summary, width))
    return f"{table}\n\n{summary}\n"


def _entries(rows: list[dict], width: int) -> str:
    """An entry per op: its name, domain, category and opset on one line, its MAC and FLOP
    formulas wrapped below it."""
    lines: list[str] = []
    for r in rows:
        lines += textwrap.wrap(f"{r['op']}  ({r['domain']}, {r['category']}, since opset {r['since']})", width)
        for label, formula in (("MACs ", r["macs"]), ("FLOPs", r["flops"])):
            lines += textwrap.wrap(
                formula, width, initial_indent=f"  {label}  ", subsequent_indent=" " * 9, break_on_hyphens=False
            )
    return "\n".join(lines)
