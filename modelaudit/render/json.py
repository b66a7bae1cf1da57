"""JSON report: exact numbers, the documented schema (docs/json-schema.md)."""

from __future__ import annotations

import json

from .common import by_op, select_rows

__all__ = ["render_json"]


MAX_NAME = 10_000  # a name longer than this is cut (with "…"); escapes come from ensure_ascii


def _short(text):
    return text if not isinstance(text, str) or len(text) <= MAX_NAME else text[: MAX_NAME - 1] + "…"


def render_json(d: dict, sort: str | None = None, top: int | None = None, by: str = "node") -> str:
    out = dict(d)
    out["rows"] = [r | {"name": _short(r["name"]), "scope": _short(r["scope"]), "formula": _short(r["formula"])}
                   for r in select_rows(d["rows"], sort, top)]
    out["by_op"] = by_op(d["rows"])
    out["view"] = {"sort": sort, "top": top, "by": by}
    return json.dumps(out, indent=2, ensure_ascii=True) + "\n"
