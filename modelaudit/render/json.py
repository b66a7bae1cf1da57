"""JSON report: exact numbers, the documented schema (docs/json-schema.md)."""

from __future__ import annotations

import json

from .common import by_op, select_rows

__all__ = ["render_json"]


COMPACT_FROM = 2_000  # rows; a larger report is written without indentation
MAX_NAME = 10_000  # a name longer than this is cut (with "…"); escapes come from ensure_ascii


def _short(text):
    return text if not isinstance(text, str) or len(text) <= MAX_NAME else text[: MAX_NAME - 1] + "…"


def render_json(d: dict, sort: str | None = None, top: int | None = None, by: str = "node",
                depth: int | None = None, **_terminal) -> str:
    """The report's dict; `depth` adds `blocks`, the scope tree with subtotals (as the tables show it)."""
    out = dict(d)
    out["rows"] = [r | {"name": _short(r["name"]), "scope": _short(r["scope"]), "formula": _short(r["formula"])}
                   for r in select_rows(d["rows"], sort, top)]
    out["by_op"] = by_op(d["rows"])
    out["view"] = {"sort": sort, "top": top, "by": by, "depth": depth}
    if depth is not None:
        from modelaudit.costs.blocks import scope_tree

        out["blocks"] = scope_tree(d["rows"], depth)
    if len(out["rows"]) > COMPACT_FROM:  # json's C encoder runs only without indentation: 10× faster
        return json.dumps(out, ensure_ascii=True, separators=(",", ":")) + "\n"
    return json.dumps(out, indent=2, ensure_ascii=True) + "\n"
