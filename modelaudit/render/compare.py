"""compare in text, markdown and json."""

from __future__ import annotations

import json

from tabulate import tabulate

from modelaudit.encoding import code_span, writing

from .common import human, human_bytes, safe

__all__ = ["render_compare", "value_text", "versus"]


def value_text(value, kind: str) -> str:
    if value is None:
        return "unknown"
    return human_bytes(value) if kind == "bytes" else human(value) if kind == "count" else str(value)


def versus(value, ratio, delta, kind: str) -> str:
    if ratio is None or delta is None:
        return ""
    sign = "+" if delta > 0 else "−" if delta < 0 else "±"
    size = value_text(abs(delta), kind)
    return f" (×{ratio:.2f}, {sign}{size})"


def _totals(c: dict) -> tuple[list[str], list[list[str]]]:
    headers = ["total"] + [safe(m["label"]) for m in c["models"]]
    rows = []
    for t in c["totals"]:
        cells = [t["label"]]
        for i, v in enumerate(t["values"]):
            cells.append(value_text(v, t["kind"]) + (versus(v, t["ratio"][i], t["delta"][i], t["kind"]) if i else ""))
        rows.append(cells)
    return headers, rows


def _grouped(c: dict, key: str, name: str) -> tuple[list[str], list[list[str]]]:
    labels = [safe(m["label"]) for m in c["models"]]
    headers = [name] + [f"{label} MACs" for label in labels] + [f"{label} params" for label in labels]
    rows = []
    for entry in c[key]:
        values = entry["values"]
        macs = [("?" if v["unknown"] else human(v["macs"])) if v else "—" for v in values]
        params = [human(v["params"]) if v else "—" for v in values]
        rows.append([safe(entry[key[:-1] if key == "blocks" else "family"])] + macs + params)
    return headers, rows


def render_compare(c: dict, fmt: str = "text", by: str = "op") -> str:
    """The comparison in `fmt`; model text in it encoded for that format (encoding.writing)."""
    if fmt == "json":
        return json.dumps(c, indent=2) + "\n"
    with writing("markdown" if fmt == "markdown" else "text"):
        return _render(c, fmt, by)


def _render(c: dict, fmt: str, by: str) -> str:
    tablefmt = "github" if fmt == "markdown" else "simple"
    sections = [("Totals (ratio and difference against the first model)", _totals(c))]
    if by in ("op", "all"):
        sections.append(("MACs and params per op family", _grouped(c, "families", "op family")))
    if by in ("block", "all"):
        sections.append((f"MACs and params per block (depth {c['depth']})", _grouped(c, "blocks", "block")))
    out = []
    for title, (headers, rows) in sections:
        if fmt == "markdown":
            rows = [[str(cell).replace("|", "\\|") for cell in row] for row in rows]
            headers = [h.replace("|", "\\|") for h in headers]
        out += [
            f"### {title}" if fmt == "markdown" else title,
            "",
            tabulate(rows, headers=headers, tablefmt=tablefmt, disable_numparse=True),
            "",
        ]
    for m in c["models"]:
        if not m["complete"]:
            out.append(
                f"{safe(m['label'])}: the totals marked unknown depend on unresolved sizes or uncounted ops"
                + (f"; {code_span(m['resolve']) if fmt == 'markdown' else m['resolve']}" if m.get("resolve") else "")
            )
    return "\n".join(out).rstrip() + "\n"
