"""A self-contained HTML report: summary card, SVG bars per block, sortable layer table, findings.
No network, no CDN: styles and the small sorting script are inline."""

from __future__ import annotations

import html

from modelaudit.costs.blocks import by_block, by_family

from .common import human, human_bytes, notices, summary
from .roofline_chart import roofline_section

__all__ = ["render_html", "render_compare_html", "render_sweep_html"]

MAX_ROWS = 5_000  # a bigger table is cut (JSON has every row)
_PALETTE = ("#3b6ea8", "#e07b39", "#4c9a5b", "#9a4c8e", "#b8a03a", "#5b8fa8")

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px auto;max-width:1240px;color:#1d2330;padding:0 16px}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 8px;border-bottom:1px solid #d8dde6;padding-bottom:4px}
.sub{color:#5a6475;margin:0 0 16px;word-break:break-all}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(180px,1fr));gap:10px}
.card{border:1px solid #d8dde6;border-radius:8px;padding:10px 12px;background:#f7f9fc}
.card b{display:block;font-size:18px}.card span{color:#5a6475;font-size:12px}
table{border-collapse:collapse;width:100%;font-size:12.5px}
th,td{border-bottom:1px solid #e6e9ef;padding:4px 6px;text-align:left;white-space:nowrap}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
th{background:#eef2f7;position:sticky;top:0;cursor:pointer;user-select:none}
th.sorted-desc::after{content:" ▼"}th.sorted-asc::after{content:" ▲"}
td.name{white-space:normal;word-break:break-all;max-width:420px}
.finding{margin:4px 0}.sev-warning{color:#a15c00}.sev-error{color:#b00020}.sev-note{color:#5a6475}
svg text{font:11px system-ui,sans-serif;fill:#1d2330}
.legend span{display:inline-block;margin-right:14px}.legend i{display:inline-block;width:10px;height:10px;margin-right:4px}
@media print{th{position:static}body{margin:0;max-width:none}.noprint{display:none}a{color:inherit}}
"""

_SCRIPT = """
document.querySelectorAll('table.sortable').forEach(function(table){
  table.querySelectorAll('th').forEach(function(th, col){
    th.addEventListener('click', function(){
      var asc = !th.classList.contains('sorted-asc');
      table.querySelectorAll('th').forEach(function(h){h.classList.remove('sorted-asc','sorted-desc')});
      th.classList.add(asc ? 'sorted-asc' : 'sorted-desc');
      var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
      rows.sort(function(a, b){
        var x = a.cells[col].getAttribute('data-v'), y = b.cells[col].getAttribute('data-v');
        var nx = parseFloat(x), ny = parseFloat(y);
        var c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : (x || '').localeCompare(y || '');
        return asc ? c : -c;
      });
      rows.forEach(function(r){body.appendChild(r)});
    });
  });
});
if (location.hash === '#selftest') {
  var th = document.querySelector('table.sortable th[data-key="macs"]');
  if (th) { th.click(); th.click(); }
  var first = document.querySelector('table.sortable tbody tr');
  document.body.setAttribute('data-selftest', first ? first.getAttribute('data-name') : 'none');
}
"""


def _e(text) -> str:
    return html.escape(str(text), quote=True)


def _page(title: str, body: str) -> str:
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" '
            f'content="width=device-width, initial-scale=1"><title>{_e(title)}</title><style>{_CSS}</style></head>'
            f"<body>{body}<script>{_SCRIPT}</script></body></html>\n")


def _bars(groups: list[tuple[str, list[float]]], series: list[str], fmt) -> str:
    """Horizontal grouped bars as inline SVG: one group per label, one bar per series."""
    label_w, bar_h, gap, width = 180, 12, 8, 1000
    height = len(groups) * (bar_h * len(series) + gap) + 10
    peak = [max([g[1][i] or 0 for g in groups] + [1]) for i in range(len(series))]
    parts = [f'<svg class="chart" role="img" width="100%" viewBox="0 0 {width} {height}" '
             f'xmlns="http://www.w3.org/2000/svg">']
    y = 5
    for label, values in groups:
        parts.append(f'<text x="{label_w - 6}" y="{y + bar_h * len(series) / 2 + 4}" text-anchor="end">'
                     f"{_e(label[:28])}</text>")
        for i, value in enumerate(values):
            w = (width - label_w - 90) * (value or 0) / peak[i]
            parts.append(f'<rect class="bar" x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h - 2}" '
                         f'fill="{_PALETTE[i % len(_PALETTE)]}"><title>{_e(series[i])}: {_e(fmt[i](value))}</title></rect>'
                         f'<text x="{label_w + w + 4:.1f}" y="{y + bar_h - 3}">{_e(fmt[i](value))}</text>')
            y += bar_h
        y += gap
    parts.append("</svg>")
    legend = "".join(f'<span><i style="background:{_PALETTE[i % len(_PALETTE)]}"></i>{_e(s)}</span>'
                     for i, s in enumerate(series))
    return f'<div class="legend">{legend}</div>' + "".join(parts)


def _table(d: dict) -> str:
    total = d["totals"]["macs"] or 1
    cols = [("name", "name", False), ("op", "op", False), ("input", "input", False), ("output", "output", False),
            ("params", "params", True), ("macs", "MACs", True), ("flops", "FLOPs", True), ("bytes", "out bytes", True),
            ("share", "% MACs", True)]
    head = "".join(f'<th data-key="{k}"{" class=n" if num else ""}>{_e(t)}</th>' for k, t, num in cols)
    rows = []
    for r in d["rows"][:MAX_ROWS]:
        macs = r["macs_total"]
        cells = [("name", r["name"], r["name"]), ("op", r["op_label"], r["op_label"]),
                 ("", ", ".join(r["inputs"]), ", ".join(r["inputs"])), ("", ", ".join(r["outputs"]), ", ".join(r["outputs"])),
                 ("n", r["params"], human(r["params"])), ("n", -1 if macs is None else macs, human(macs)),
                 ("n", -1 if r["flops_total"] is None else r["flops_total"], human(r["flops_total"])),
                 ("n", -1 if r["output_bytes"] is None else r["output_bytes"], human_bytes(r["output_bytes"])),
                 ("n", 0 if macs is None else macs / total, "?" if macs is None else f"{100 * macs / total:.1f}%")]
        tds = "".join(f'<td class="{c}" data-v="{_e(v)}">{_e(shown)}</td>' if c else f'<td data-v="{_e(v)}">{_e(shown)}</td>'
                      for c, v, shown in cells)
        rows.append(f'<tr data-name="{_e(r["name"])}">{tds}</tr>')
    cut = f"<p>First {MAX_ROWS:,} of {len(d['rows']):,} nodes; the JSON report has them all.</p>" if len(d["rows"]) > MAX_ROWS else ""
    return f'{cut}<table class="sortable"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def render_html(d: dict, sort=None, top=None, by: str = "node") -> str:
    model = d["model"]
    cards = "".join(f'<div class="card"><b>{_e(value.split(" (")[0])}</b><span>{_e(label)}</span></div>'
                    for label, value in summary(d))
    blocks = by_block(d["rows"], 2)
    top_blocks = sorted(blocks.items(), key=lambda kv: -kv[1]["macs"])[:30]
    chart = _bars([(name, [g["macs"], g["params"]]) for name, g in top_blocks], ["MACs", "params"], [human, human])
    families = _bars([(f, [g["macs"], g["params"]]) for f, g in by_family(d["rows"]).items()],
                     ["MACs", "params"], [human, human])
    found = d.get("findings") or []

    def item(f: dict) -> str:
        return (f'<div class="finding sev-{_e(f["severity"])}"><b>{_e(f["code"])}</b> {_e(f["severity"])}: '
                f'{_e(f["target"])}: {_e(f["message"])}</div>')

    serious = [f for f in found if f["severity"] != "note"]
    notes_found = [f for f in found if f["severity"] == "note"]
    findings = "".join(item(f) for f in serious) or "<p>No warnings or errors.</p>"
    if notes_found:
        findings += (f"<details><summary>{len(notes_found)} note(s)</summary>"
                     + "".join(item(f) for f in notes_found) + "</details>")
    notes = "".join(f"<li>{_e(n)}</li>" for n in notices(d) if not n.startswith("MA"))
    body = (f"<h1>modelaudit: {_e(model['path'] or model['graph'] or 'model')}</h1>"
            f'<p class="sub">opsets {_e(", ".join(f"{k} {v}" for k, v in model["opsets"].items()))}; inputs '
            f'{_e(", ".join(i["name"] + " " + i["shape"] for i in model["inputs"]))}</p>'
            f'<div class="cards">{cards}</div>'
            f"<h2>MACs and params per block (depth 2, top {len(top_blocks)})</h2>{chart}"
            f"<h2>MACs and params per op family</h2>{families}"
            f"<h2>Findings</h2>{findings}" + (f"<ul>{notes}</ul>" if notes else "") + roofline_section(d) +
            f"<h2>Layers</h2><p class=\"noprint\">Click a column header to sort.</p>{_table(d)}")
    return _page(f"modelaudit: {model['path'] or model['graph']}", body)


def render_compare_html(c: dict, by: str = "op") -> str:
    labels = [m["label"] for m in c["models"]]
    head = "".join(f"<th>{_e(l)}</th>" for l in labels)
    rows = "".join(f"<tr><td>{_e(t['label'])}</td>" + "".join(
        f'<td class="n" data-v="{_e(v if v is not None else -1)}">{_e((human_bytes if t["kind"] == "bytes" else human if t["kind"] == "count" else str)(v) if v is not None else "?")}</td>'
        for v in t["values"]) + "</tr>" for t in c["totals"])
    totals = f'<table class="sortable"><thead><tr><th>total</th>{head}</tr></thead><tbody>{rows}</tbody></table>'
    fam = _bars([(f["family"], [(v or {}).get("macs", 0) for v in f["values"]]) for f in c["families"]],
                [f"{l} MACs" for l in labels], [human] * len(labels))
    blocks = _bars([(b["block"], [(v or {}).get("macs", 0) for v in b["values"]]) for b in c["blocks"][:40]],
                   [f"{l} MACs" for l in labels], [human] * len(labels))
    body = (f"<h1>modelaudit compare: {_e(' vs '.join(labels))}</h1><h2>Totals</h2>{totals}"
            f"<h2>MACs per op family</h2>{fam}<h2>MACs per block (depth {c['depth']})</h2>{blocks}")
    return _page("modelaudit compare", body)


def _line_chart(xs: list[int], series: list[tuple[str, list[int]]], fmt) -> str:
    """Lines over the swept values (x evenly spaced, as the values usually grow geometrically)."""
    width, height, left, bottom = 1000, 320, 90, 40
    top_value = max([v for _, values in series for v in values if v] + [1])
    parts = [f'<svg class="chart line" role="img" width="100%" viewBox="0 0 {width} {height}" '
             f'xmlns="http://www.w3.org/2000/svg">']
    step = (width - left - 20) / max(len(xs) - 1, 1)
    for i, x in enumerate(xs):
        parts.append(f'<text x="{left + i * step:.1f}" y="{height - 12}" text-anchor="middle">{_e(f"{x:,}")}</text>')
    for frac in (0, 0.5, 1):
        y = height - bottom - frac * (height - bottom - 20)
        parts.append(f'<text x="{left - 8}" y="{y + 4:.1f}" text-anchor="end">{_e(fmt(int(top_value * frac)))}</text>'
                     f'<line x1="{left}" x2="{width - 20}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e6e9ef"/>')
    for k, (label, values) in enumerate(series):
        points = " ".join(f"{left + i * step:.1f},{height - bottom - (v or 0) / top_value * (height - bottom - 20):.1f}"
                          for i, v in enumerate(values))
        parts.append(f'<polyline class="series" fill="none" stroke="{_PALETTE[k % len(_PALETTE)]}" stroke-width="2" '
                     f'points="{points}"><title>{_e(label)}</title></polyline>')
    parts.append("</svg>")
    legend = "".join(f'<span><i style="background:{_PALETTE[k % len(_PALETTE)]}"></i>{_e(label)}</span>'
                     for k, (label, _) in enumerate(series))
    return f'<div class="legend">{legend}</div>' + "".join(parts)


def render_sweep_html(s: dict) -> str:
    """--sweep as a page: totals and the top layers' MACs as lines over the swept values."""
    xs = s["values"]
    totals = _line_chart(xs, [("MACs", [c["macs"] for c in s["totals"]]), ("FLOPs", [c["flops"] for c in s["totals"]])],
                         human)
    memory = _line_chart(xs, [("peak activations", [c["peak_activation_bytes"] for c in s["totals"]]),
                              ("activation bytes", [c["activation_bytes"] for c in s["totals"]])], human_bytes)
    layers = _line_chart(xs, [(l["name"], l["macs"]) for l in s["top_layers"][:6]], human)
    head = "".join(f'<th class="n">{_e(s["dim"])}={_e(f"{v:,}")}</th>' for v in xs)
    rows = "".join(f"<tr><td>{_e(key)}</td>" + "".join(f'<td class="n" data-v="{_e(c[key])}">{_e(human(c[key]))}</td>'
                                                        for c in s["totals"]) + "</tr>"
                   for key in ("params", "macs", "flops"))
    body = (f"<h1>modelaudit sweep over {_e(s['dim'])}</h1>"
            f'<table class="sortable"><thead><tr><th>total</th>{head}</tr></thead><tbody>{rows}</tbody></table>'
            f"<h2>MACs and FLOPs</h2>{totals}<h2>Activation memory</h2>{memory}"
            f"<h2>MACs of the top layers</h2>{layers}")
    return _page(f"modelaudit sweep over {s['dim']}", body)
