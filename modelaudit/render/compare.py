"""compare in text, markdown and json."""

from __future__ import annotations

import json
import textwrap

from tabulate import tabulate

from modelaudit.encoding import code_span, writing
from modelaudit.figures import Figure, to_data

from .common import human, human_bytes, safe

__all__ = ["render_compare", "value_text", "versus", "incomplete"]


def value_text(value, kind: str) -> str:
    """A total as text: a Figure with its bound (`≥ 1.20 G`, `?`), a count as it is."""
    if value is None:
        return "—"  # a count the model lacks (no ai.onnx opset)
    return human_bytes(value) if kind == "bytes" else human(value) if kind == "count" else str(value)


def incomplete(c: dict) -> list[int]:
    """The models (by position) whose totals are partly or wholly unknown."""
    return [
        i
        for i in range(len(c["models"]))
        if any(isinstance(t["values"][i], Figure) and not t["values"][i].complete for t in c["totals"])
    ]


def versus(value, ratio, delta, kind: str) -> str:
    if ratio is None or delta is None:
        return ""
    sign = "+" if delta > 0 else "−" if delta < 0 else "±"
    size = value_text(abs(delta), kind)
    return f" (×{ratio:.2f}, {sign}{size})"


def _totals(c: dict, differences: bool = True) -> tuple[list[str], list[list[str]]]:
    headers = ["total"] + [safe(m["label"]) for m in c["models"]]
    rows = []
    for t in c["totals"]:
        cells = [t["label"]]
        for i, v in enumerate(t["values"]):
            against = versus(v, t["ratio"][i], t["delta"][i], t["kind"]) if i else ""
            if against and not differences:
                against = against.split(",")[0] + ")"  # the ratio alone: ` (×0.53)`
            cells.append(value_text(v, t["kind"]) + against)
        rows.append(cells)
    return headers, rows


def _grouped(c: dict, key: str, name: str, what: tuple[str, ...] = ("MACs", "params")) -> tuple[list, list]:
    """A row per family or block: each model's MACs, then each model's params (`what`: one of them
    alone, with the models' labels as the headers)."""
    labels = [safe(m["label"]) for m in c["models"]]
    headers = [name] + [f"{label} {w}" if len(what) > 1 else label for w in what for label in labels]
    rows = []
    for entry in c[key]:
        values = entry["values"]
        cells = [human(v[w.lower()]) if v else "—" for w in what for v in values]
        rows.append([safe(entry[key[:-1] if key == "blocks" else "family"])] + cells)
    return headers, rows


def _sections(c: dict, by: str, narrow: bool = False) -> list[tuple[str, tuple[list, list]]]:
    """(title, table) of each part; `narrow`: the totals without their differences and MACs and
    params in tables of their own, so that three models fit an 80-column terminal."""
    groups = []
    if by in ("op", "all"):
        groups.append(("families", "op family", "per op family"))
    if by in ("block", "all"):
        groups.append(("blocks", "block", f"per block (depth {c['depth']})"))
    if not narrow:
        return [("Totals (ratio and difference against the first model)", _totals(c))] + [
            (f"MACs and params {where}", _grouped(c, key, name)) for key, name, where in groups
        ]
    return [("Totals (ratio against the first model)", _totals(c, differences=False))] + [
        (f"{what} {where}", _grouped(c, key, name, (what,)))
        for key, name, where in groups
        for what in ("MACs", "params")
    ]


def _width(headers: list[str], rows: list[list[str]]) -> int:
    """The width of tabulate's "simple" table: each column as wide as its widest cell or its
    header padded by 2, two spaces between columns."""
    columns = zip(*([[h + "  " for h in headers]] + rows))
    return sum(max(map(len, column)) for column in columns) + 2 * (len(headers) - 1)


def _fit(sections: list, width: int) -> list:
    """The tables' model labels and first-column names cut in the middle (`mobilen…_v2`) until the
    widest table fits `width`, or they are 8 characters."""
    from .table import abbreviate

    for limit in range(40, 7, -1):
        if max(_width(h, r) for _, (h, r) in sections) <= width:
            break
        sections = [
            (
                title,
                ([abbreviate(x, limit) for x in headers], [[abbreviate(row[0], limit + 4)] + row[1:] for row in rows]),
            )
            for title, (headers, rows) in sections
        ]
    return sections


def render_compare(c: dict, fmt: str = "text", by: str = "op", width: int | None = None) -> str:
    """The comparison in `fmt`; model text in it encoded for that format (encoding.writing); text
    fitted to a terminal of `width` columns (None: whole)."""
    if fmt == "json":
        return json.dumps(to_data(c), indent=2) + "\n"
    with writing("markdown" if fmt == "markdown" else "text"):
        return _render(c, fmt, by, width if fmt == "text" else None)


def _render(c: dict, fmt: str, by: str, width: int | None) -> str:
    tablefmt = "github" if fmt == "markdown" else "simple"
    sections, fitted = _sections(c, by), None
    if width and max(_width(h, r) for _, (h, r) in sections) > width:
        sections = _fit(_sections(c, by, narrow=True), width)
        fitted = f"(fitted to {width} columns: differences left out, MACs and params apart; --wide shows all)"
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
    notes = [fitted] if fitted else []
    for m in (c["models"][i] for i in incomplete(c)):
        resolve = m.get("resolve")
        notes.append(
            f"{safe(m['label'])}: the totals marked ? (unknown) or ≥ (partly known) depend on unresolved sizes "
            "or uncounted ops" + (f"; {code_span(resolve) if fmt == 'markdown' else resolve}" if resolve else "")
        )
    for note in notes:  # wrapped at the terminal's width
        out += textwrap.wrap(note, width, subsequent_indent="  ", break_on_hyphens=False) if width else [note]
    return "\n".join(out).rstrip() + "\n"
