"""A self-contained HTML report: summary cards, bars per block and op family, a layer table that
sorts and filters, findings. No network, no CDN: styles and script are inline."""

from __future__ import annotations

import math

from modelaudit.costs.blocks import block_names, by_block, by_family, families
from modelaudit.costs.report import revive_document
from modelaudit.encoding import MAX_NAME
from modelaudit.figures import rank

from .common import finding_lines, human, human_bytes, notices, runtime_lines, select_rows, summary, symbolic_lines
from .html_compare import render_compare_html, render_sweep_html
from .html_page import bar_chart, e, middle, page
from .roofline_chart import roofline_section

__all__ = ["render_html", "render_compare_html", "render_sweep_html", "MAX_ROWS"]

MAX_ROWS = 5_000  # a bigger table is cut (JSON has every row)
DEPTH = 2  # block depth of the chart and of the rows' `block=` filter


def _elements(shapes: list[str]) -> int | None:
    """Elements of the listed shapes together (what the shape columns sort by); None if a dim is unknown."""
    total = 0
    for shape in shapes:
        if shape == "scalar":
            total += 1
            continue
        dims = shape.split("x")
        if not all(d.isdigit() for d in dims):
            return None
        total += math.prod(int(d) for d in dims)
    return total


def _v(value) -> str:
    return "" if value is None else e(value)  # "" sorts last whichever the direction


def _share(part: int | None, whole: int | None) -> float | None:
    """part / whole; None when either is unknown (0 of a whole of 0)."""
    if part is None or whole is None:
        return None
    return part / whole if whole else 0.0


def _table(d: dict, sort: str | None, top: int | None) -> str:
    total = revive_document(d)["totals"]["macs"].known  # a share of an unknown total is unknown
    # (header, class: "n" right-aligned, "" left; sorted largest first on the first click?)
    cols = [
        ("#", "n", False),
        ("name", "", False),
        ("op", "", False),
        ("input", "", True),
        ("output", "", True),
        ("weights", "", True),
        ("params", "n", True),
        ("MACs", "n", True),
        ("FLOPs", "n", True),
        ("out bytes", "n", True),
        ("% MACs", "n", True),
        ("formula", "", False),
    ]
    head = "".join(f"<th{' class=n' if c else ''}{' data-desc' if desc else ''}>{e(t)}</th>" for t, c, desc in cols)
    every = d["rows"]
    blocks, family = block_names(every, DEPTH), families(every)
    numbered = every.with_column("position", list(range(len(every))))
    # --sort and --top pick the first order shown
    positions = select_rows(numbered, sort, top, symbolic=d.get("symbolic")).column("position")[:MAX_ROWS]
    out = []
    for position, r in zip(positions, every.take(positions).dicts()):
        block = blocks[position]
        macs = r["macs_total"]
        share = _share(macs, total)
        cells = [
            ("n", r["index"], r["index"]),
            ("name", r["name"], middle(r["name"], MAX_NAME)),  # whole in data-name, for the filter
            ("", r["op_label"], r["op_label"]),
            ("", _elements(r["inputs"]), ", ".join(r["inputs"])),
            ("", _elements(r["outputs"]), ", ".join(r["outputs"])),
            ("", _elements(r["weights"]), ", ".join(r["weights"])),
            ("n", r["params"], human(r["params"])),
            ("n", macs, human(macs)),
            ("n", r["flops_total"], human(r["flops_total"])),
            ("n", r["output_bytes"], human_bytes(r["output_bytes"])),
            ("n", share, "?" if share is None else f"{100 * share:.1f}%"),
            ("formula", r["formula"], r["formula"]),
        ]
        tds = "".join(f'<td{f" class={c}" if c else ""} data-v="{_v(v)}">{e(shown)}</td>' for c, v, shown in cells)
        out.append(
            f'<tr data-i="{position}" data-name="{e(r["name"])}" data-op="{e(r["op_label"])}" '
            f'data-block="{e(block)}" data-family="{e(family[position])}">{tds}</tr>'
        )
    cut = (
        f"<p>{len(positions):,} of {len(every):,} nodes shown; the JSON report has them all.</p>"
        if len(positions) < len(every)
        else ""
    )
    box = (
        '<div class="filter noprint"><input id="filter" type="search" placeholder="filter: name or op words, '
        'block=features/features.3, family=…" aria-label="filter the layers"><button id="clear">clear</button>'
        f'<span id="shown" class="hint">{len(positions)} of {len(positions)} layers shown</span></div>'
    )
    return (
        f'{box}{cut}<div class="scroll"><table id="layers" class="sortable"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(out)}</tbody></table></div>"
    )


def _finding(f: dict) -> str:
    return (
        f'<div class="finding sev-{e(f["severity"])}"><b>{e(f["code"])}</b> {e(f["severity"])}: '
        f"{e(f['target'])}: {e(f['message'])}</div>"
    )


def _run_section(d: dict) -> str:
    """--symbolic's formulas and --verify/--profile's run, as the text report states them."""
    lines = symbolic_lines(d) + runtime_lines(d)
    return ("<h2>Formulas and run</h2>" + "".join(f"<div>{e(line)}</div>" for line in lines)) if lines else ""


def render_html(d: dict, sort=None, top=None, by: str = "node") -> str:
    model = d["model"]
    cards = "".join(
        f'<div class="card"><b>{e(value.split(" (")[0])}</b><span>{e(label)}</span></div>'
        for label, value in summary(d)
    )
    # a block or family with no MACs, no params and nothing unknown would be an empty bar
    # a block whose MACs are unknown is charted as unknown (hatched, "?"), before those of no MACs
    blocks = [(n, g) for n, g in by_block(d["rows"], DEPTH).items() if g["macs"] != 0 or g["params"]]
    top_blocks = sorted(blocks, key=lambda kv: rank(kv[1]["macs"]))[:30]
    chart = bar_chart(
        [(name, [g["macs"], g["params"]]) for name, g in top_blocks],
        ["MACs", "params"],
        [human, human],
        shared=False,
        filters=[f"block={name}" for name, _ in top_blocks],
    )
    fams = [(f, g) for f, g in by_family(d["rows"]).items() if g["macs"] != 0 or g["params"]]
    families = bar_chart(
        [(f, [g["macs"], g["params"]]) for f, g in fams],
        ["MACs", "params"],
        [human, human],
        shared=False,
        filters=[f"family={f}" for f, _ in fams],
    )
    found = d.get("findings") or []
    findings = "".join(_finding(f) for f in found if f["severity"] != "note") or "<p>No warnings or errors.</p>"
    note_items = [_finding(f) for f in found if f["severity"] == "note"]
    note_items += [f"<div>{e(n)}</div>" for n in notices(d)[len(finding_lines(d)) :]]  # findings are listed above
    notes = (
        f"<details><summary>{len(note_items)} note(s)</summary>{''.join(note_items)}</details>" if note_items else ""
    )
    body = (
        f"<h1>modelaudit: {e(model['path'] or model['graph'] or 'model')}</h1>"
        f'<p class="sub">opsets {e(", ".join(f"{k} {v}" for k, v in model["opsets"].items()))}; inputs '
        f"{e(', '.join(i['name'] + ' ' + i['shape'] for i in model['inputs']))}</p>"
        f'<div class="cards">{cards}</div>'
        f"<h2>MACs and params per block (depth {DEPTH}, top {len(top_blocks)})</h2>"
        f'<p class="hint noprint">Each column has its own scale. Click a block to list its layers.</p>{chart}'
        f"<h2>MACs and params per op family</h2>{families}"
        f"<h2>Findings</h2>{findings}{_run_section(d)}{roofline_section(d)}"
        f'<h2>Layers</h2><p class="hint noprint">Click a header to sort (numbers: largest first, then smallest '
        f"first, then file order); shapes sort by element count.</p>{_table(d, sort, top)}"
        f"<h2>Notes</h2>{notes or '<p>None.</p>'}"
    )
    return page(f"modelaudit: {model['path'] or model['graph']}", body)
