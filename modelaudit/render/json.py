"""JSON report: exact numbers, the documented schema (docs/json-schema.md)."""

from __future__ import annotations

import json

from .common import by_op, formula_rows, select_rows

__all__ = ["render_json", "render_jsonl", "write_json"]


COMPACT_FROM = 2_000  # rows; a larger report is written without indentation
MAX_NAME = 10_000  # a name longer than this is cut (with "…"); escapes come from ensure_ascii
CHUNK = 1_000  # rows encoded at a time when streaming: the document never sits whole in memory


def _short(text):
    return text if not isinstance(text, str) or len(text) <= MAX_NAME else text[: MAX_NAME - 1] + "…"


def _row(r: dict) -> dict:
    """The row itself unless a name needs cutting (a copy of each of 50,000 rows costs a second)."""
    name, scope, formula = r["name"], r["scope"], r["formula"]
    if len(name) <= MAX_NAME and len(scope) <= MAX_NAME and (not isinstance(formula, str) or len(formula) <= MAX_NAME):
        return r
    return r | {"name": _short(name), "scope": _short(scope), "formula": _short(formula)}


def _document(d: dict, sort: str | None, top: int | None, by: str, depth: int | None = None) -> dict:
    """The report's dict as the JSON formats write it; `depth` adds `blocks`, the scope tree with
    subtotals (as the tables show it)."""
    out = dict(d)
    out["rows"] = [_row(r) for r in select_rows(d["rows"], sort, top)]
    grouped = formula_rows(d)  # under --symbolic each group also sums its nodes' polynomials
    out["by_op"] = by_op(grouped)
    out["view"] = {"sort": sort, "top": top, "by": by, "depth": depth}
    if depth is not None:
        from modelaudit.costs.blocks import scope_tree

        out["blocks"] = scope_tree(grouped, depth)
    return out


def render_json(d: dict, sort: str | None = None, top: int | None = None, by: str = "node",
                depth: int | None = None, **_terminal) -> str:
    out = _document(d, sort, top, by, depth)
    if len(out["rows"]) > COMPACT_FROM:  # json's C encoder runs only without indentation: 10× faster
        return json.dumps(out, ensure_ascii=True, separators=(",", ":")) + "\n"
    return json.dumps(out, indent=2, ensure_ascii=True) + "\n"


def render_jsonl(d: dict, sort: str | None = None, top: int | None = None, by: str = "node",
                 depth: int | None = None, **_terminal) -> str:
    """The JSON document on one line (strings escape their newlines): one report per line."""
    return json.dumps(_document(d, sort, top, by, depth), ensure_ascii=True, separators=(",", ":")) + "\n"


def write_json(d: dict, stream, sort: str | None = None, top: int | None = None, by: str = "node",
               one_line: bool = False, depth: int | None = None) -> None:
    """render_json's (or with `one_line` render_jsonl's) text, written to `stream` as it is
    encoded: a large report's rows go out a chunk at a time (json.dump would use the pure-Python
    encoder, json.dumps one huge string)."""
    out = _document(d, sort, top, by, depth)
    if len(out["rows"]) <= COMPACT_FROM and not one_line:
        stream.write(json.dumps(out, indent=2, ensure_ascii=True) + "\n")
        return
    dumps = json.JSONEncoder(ensure_ascii=True, separators=(",", ":")).encode
    for i, (key, value) in enumerate(out.items()):
        stream.write(("{" if i == 0 else ",") + dumps(key) + ":")
        if key != "rows":
            stream.write(dumps(value))
            continue
        rows = value
        stream.write("[")
        for start in range(0, len(rows), CHUNK):
            stream.write(("," if start else "") + dumps(rows[start:start + CHUNK])[1:-1])
        stream.write("]")
    stream.write("}\n")
