"""JSON report: exact numbers, the documented schema (docs/json-schema.md)."""

from __future__ import annotations

import json

from .common import by_op, select_rows

__all__ = ["render_json"]


def render_json(d: dict, sort: str | None = None, top: int | None = None, by: str = "node") -> str:
    out = dict(d)
    out["rows"] = select_rows(d["rows"], sort, top)
    out["by_op"] = by_op(d["rows"])
    out["view"] = {"sort": sort, "top": top, "by": by}
    return json.dumps(out, indent=2, ensure_ascii=True) + "\n"
