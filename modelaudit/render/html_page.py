"""The pieces every HTML page shares: inline styles and script, escaping, SVG bar and line charts."""

from __future__ import annotations

import math

from modelaudit.encoding import cut, html
from modelaudit.figures import Figure

__all__ = ["e", "page", "bar_chart", "line_chart", "middle", "PALETTE"]

PALETTE = ("#3b6ea8", "#e07b39", "#4c9a5b", "#9a4c8e", "#b8a03a", "#5b8fa8")

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px auto;max-width:1320px;color:#1d2330;padding:0 16px}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 8px;border-bottom:1px solid #d8dde6;padding-bottom:4px}
.sub{color:#5a6475;margin:0 0 16px;word-break:break-all}.hint{color:#5a6475;font-size:12.5px;margin:4px 0}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(180px,1fr));gap:10px}
.card{border:1px solid #d8dde6;border-radius:8px;padding:10px 12px;background:#f7f9fc}
.card b{display:block;font-size:18px}.card span{color:#5a6475;font-size:12px}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:12.5px}
th,td{border-bottom:1px solid #e6e9ef;padding:4px 6px;text-align:left;white-space:nowrap;vertical-align:top}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
th{background:#eef2f7;position:sticky;top:0;cursor:pointer;user-select:none}
th.sorted-desc::after{content:" ▼"}th.sorted-asc::after{content:" ▲"}
td.name{white-space:normal;overflow-wrap:anywhere;min-width:220px;max-width:420px}
td.formula{white-space:normal;overflow-wrap:anywhere;min-width:110px;max-width:300px;color:#5a6475;font-family:ui-monospace,monospace;font-size:11.5px}
td.missing{color:#8a93a3;text-align:center}
.filter{display:flex;gap:8px;align-items:center;margin:6px 0 8px}
.filter input{font:inherit;padding:4px 8px;width:340px;border:1px solid #c3cad6;border-radius:6px}
.filter button{font:inherit;padding:3px 10px;border:1px solid #c3cad6;border-radius:6px;background:#f7f9fc;cursor:pointer}
.finding{margin:4px 0}.sev-warning{color:#a15c00}.sev-error{color:#b00020}.sev-note{color:#5a6475}
svg text{font:11px system-ui,sans-serif;fill:#1d2330}svg text.head{font-weight:600}
svg g.pick{cursor:pointer}svg g.pick:hover rect.hit{fill:#eef2f7}
.legend span{display:inline-block;margin-right:14px}.legend i{display:inline-block;width:10px;height:10px;margin-right:4px}
@media print{th{position:static}body{margin:0;max-width:none}.noprint{display:none}a{color:inherit}}
"""

# Sorting: columns marked data-desc (costs, shapes) largest first on the first click, smallest
# first on the second, file order on the third (other columns ascending first); unknown values
# ("" in data-v) always last. Filtering: words match the name and op; `block=…`, `family=…` and
# `op=…` match a row's attribute exactly; a chart bar's click fills the box with its block or family.
_SCRIPT = """
(function(){
function sortable(table){
  var heads = table.tHead.rows[0].cells, state = {col: -1, step: 0};
  Array.prototype.forEach.call(heads, function(th, col){
    th.addEventListener('click', function(){
      state.step = state.col === col ? (state.step + 1) % 3 : 1; state.col = col;
      Array.prototype.forEach.call(heads, function(h){h.classList.remove('sorted-asc','sorted-desc')});
      var desc = th.hasAttribute('data-desc') === (state.step === 1);
      if (state.step) th.classList.add(desc ? 'sorted-desc' : 'sorted-asc');
      var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
      rows.sort(function(a, b){
        if (!state.step) return a.getAttribute('data-i') - b.getAttribute('data-i');
        var x = a.cells[col].getAttribute('data-v'), y = b.cells[col].getAttribute('data-v');
        if ((x === '' || x === null) !== (y === '' || y === null)) return (x === '' || x === null) ? 1 : -1;
        var nx = Number(x), ny = Number(y), c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
        return (desc ? -c : c) || a.getAttribute('data-i') - b.getAttribute('data-i');
      });
      rows.forEach(function(r){body.appendChild(r)});
    });
  });
}
document.querySelectorAll('table.sortable').forEach(sortable);
var box = document.getElementById('filter'), table = document.getElementById('layers');
function apply(){
  var words = box.value.toLowerCase().split(/\\s+/).filter(Boolean), shown = 0, rows = table.tBodies[0].rows;
  Array.prototype.forEach.call(rows, function(r){
    var text = (r.getAttribute('data-name') + ' ' + r.getAttribute('data-op')).toLowerCase();
    var ok = words.every(function(w){
      var m = /^(block|family|op)=(.+)$/.exec(w);
      return m ? (r.getAttribute('data-' + m[1]) || '').toLowerCase() === m[2] : text.indexOf(w) >= 0;
    });
    r.hidden = !ok; if (ok) shown++;
  });
  document.getElementById('shown').textContent = shown + ' of ' + rows.length + ' layers shown';
}
if (box && table) {
  box.addEventListener('input', apply);
  document.getElementById('clear').addEventListener('click', function(){box.value = ''; apply();});
  document.querySelectorAll('g.pick').forEach(function(g){
    g.addEventListener('click', function(){
      box.value = g.getAttribute('data-filter'); apply();
      table.scrollIntoView({block: 'start'});
    });
  });
}
})();
"""


# the fill of what is unknown (a bar's unknown part), defined once a page
_HATCH = (
    '<svg width="0" height="0" style="position:absolute" aria-hidden="true"><defs><pattern id="ma-hatch" '
    'patternUnits="userSpaceOnUse" width="6" height="6" patternTransform="rotate(45)">'
    '<rect width="2" height="6" fill="#8a93a3"/></pattern></defs></svg>'
)


def e(text) -> str:
    """Text for the page: model text's escapes and HTML's own (encoding.html)."""
    return html(text)


def middle(text: str, limit: int) -> str:
    """Cut in the middle (the start and the op name at the end both matter)."""
    return cut(str(text), limit)


def page(title: str, body: str) -> str:
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" '
        f'content="width=device-width, initial-scale=1"><title>{e(title)}</title><style>{_CSS}</style></head>'
        f"<body>{_HATCH}{body}<script>{_SCRIPT}</script></body></html>\n"
    )


def _legend(series: list[str]) -> str:
    return (
        '<div class="legend">'
        + "".join(
            f'<span><i style="background:{PALETTE[i % len(PALETTE)]}"></i>{e(s)}</span>' for i, s in enumerate(series)
        )
        + "</div>"
    )


def bar_chart(
    groups: list[tuple[str, list]], series: list[str], fmt: list, shared: bool = True, filters: list[str] | None = None
) -> str:
    """Horizontal bars as inline SVG, one group per label. `shared`: every series on one scale
    (the same metric for several models); otherwise one panel per series, each on its own scale
    (MACs beside params). A None value is a block the model lacks: "—", no bar. A Figure that is
    not exact is drawn as what it is: a floor as a bar to the floor with a hatched end (`≥ 1.20 M`),
    an unknown value as a hatched stub marked `?`, never as a bar of 0. `filters`: what a click on
    the group puts in the layer table's filter box."""
    label_w, bar_h, gap, width, text_w = 200, 16, 10, 1000, 78
    panels = [list(range(len(series)))] if shared else [[i] for i in range(len(series))]
    panel_w = (width - label_w) / len(panels)
    per_group = max(len(p) for p in panels)
    head = 0 if shared else 18
    height = head + len(groups) * (bar_h * per_group + gap) + 6
    peaks = [max([v for _, values in groups for i in p if (v := _floor(values[i]))] + [1]) for p in panels]
    parts = [
        f'<svg class="chart" role="img" width="100%" viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">'
    ]
    if not shared:
        parts += [
            f'<text class="head" x="{label_w + k * panel_w:.1f}" y="12">{e(series[p[0]])}</text>'
            for k, p in enumerate(panels)
        ]
    y = head
    for g, (label, values) in enumerate(groups):
        row_h = bar_h * per_group
        pick = filters[g] if filters else None
        parts.append(f'<g class="pick" data-filter="{e(pick)}">' if pick else "<g>")
        parts.append(
            f'<rect class="hit" x="0" y="{y - gap / 2}" width="{width}" height="{row_h + gap}" fill="transparent"/>'
            f'<text x="{label_w - 8}" y="{y + row_h / 2 + 4}" text-anchor="end"><title>{e(label)}</title>'
            f"{e(middle(label, 30))}</text>"
        )
        for k, panel in enumerate(panels):
            x0 = label_w + k * panel_w
            for j, i in enumerate(panel):
                value, by = values[i], y + j * bar_h
                if value is None:
                    parts.append(f'<text x="{x0 + 4:.1f}" y="{by + bar_h - 4}">—</text>')
                    continue
                w = (panel_w - text_w) * (_floor(value) or 0) / peaks[k]
                shown = e(fmt[i](value))
                title = f"<title>{e(label)}: {e(series[i])} {shown}</title>"
                if w:
                    parts.append(
                        f'<rect class="bar" x="{x0:.1f}" y="{by + 1}" width="{w:.1f}" height="{bar_h - 3}" '
                        f'fill="{PALETTE[i % len(PALETTE)]}">{title}</rect>'
                    )
                if isinstance(value, Figure) and not value.complete:  # the part nobody knows: hatched
                    parts.append(
                        f'<rect class="bar unknown" x="{x0 + w:.1f}" y="{by + 1}" width="{HATCHED}" '
                        f'height="{bar_h - 3}" fill="url(#ma-hatch)" stroke="{PALETTE[i % len(PALETTE)]}">{title}</rect>'
                    )
                    w += HATCHED
                parts.append(f'<text x="{x0 + w + 4:.1f}" y="{by + bar_h - 4}">{shown}</text>')
        parts.append("</g>")
        y += row_h + gap
    parts.append("</svg>")
    return (_legend(series) if shared else "") + "".join(parts)


HATCHED = 18  # px: the hatched end of a bar whose value is a floor, or the whole of an unknown one


def _floor(value) -> float | None:
    """What a bar is drawn to: a number, or what a Figure is at least (None when unknown)."""
    return value.lower if isinstance(value, Figure) else value


def _spread(steps: list[float]) -> float:
    mean = sum(steps) / len(steps)
    return math.sqrt(sum((s - mean) ** 2 for s in steps) / len(steps)) / mean if mean else 0.0


def log_axis(xs: list[int]) -> bool:
    """A log x-axis when the values grow geometrically (128, 512, 2048): their steps are more even
    in log than in linear space."""
    if len(xs) < 3 or min(xs) <= 0:
        return False
    linear = [b - a for a, b in zip(xs, xs[1:])]
    logs = [math.log(b) - math.log(a) for a, b in zip(xs, xs[1:])]
    return min(linear) > 0 and _spread(logs) < _spread(linear)


def line_chart(xs: list[int], series: list[tuple[str, list]], fmt) -> str:
    """Lines over the swept values, x on a log axis when they grow geometrically."""
    width, height, left, right, bottom = 1000, 320, 90, 30, 44
    top_value = max([v for _, values in series for v in values if v] + [1])
    log = log_axis(xs)
    pos = [math.log(x) for x in xs] if log else [float(x) for x in xs]
    lo, span = min(pos), (max(pos) - min(pos)) or 1.0

    def px(i: int) -> float:
        return left + (pos[i] - lo) / span * (width - left - right) if len(xs) > 1 else left

    parts = [
        f'<svg class="chart line" role="img" width="100%" viewBox="0 0 {width} {height}" '
        f'xmlns="http://www.w3.org/2000/svg" data-x-axis="{"log" if log else "linear"}">'
    ]
    for i, x in enumerate(xs):
        parts.append(f'<text x="{px(i):.1f}" y="{height - 26}" text-anchor="middle">{e(f"{x:,}")}</text>')
    parts.append(
        f'<text x="{width - right}" y="{height - 6}" text-anchor="end">{"log scale" if log else "linear scale"}</text>'
    )
    for frac in (0, 0.5, 1):
        y = height - bottom - frac * (height - bottom - 20)
        parts.append(
            f'<text x="{left - 8}" y="{y + 4:.1f}" text-anchor="end">{e(fmt(int(top_value * frac)))}</text>'
            f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e6e9ef"/>'
        )
    for k, (label, values) in enumerate(series):
        points = " ".join(
            f"{px(i):.1f},{height - bottom - v / top_value * (height - bottom - 20):.1f}"
            for i, v in enumerate(values)
            if v is not None
        )
        parts.append(
            f'<polyline class="series" fill="none" stroke="{PALETTE[k % len(PALETTE)]}" stroke-width="2" '
            f'points="{points}"><title>{e(label)}</title></polyline>'
        )
    parts.append("</svg>")
    return _legend([label for label, _ in series]) + "".join(parts)
