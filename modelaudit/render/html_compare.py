"""compare and --sweep as HTML pages: totals with ratios, bars on one scale per chart, sweep lines."""

from __future__ import annotations

from modelaudit.figures import Figure

from .common import human, human_bytes
from .compare import incomplete, value_text, versus
from .html_page import bar_chart, e, line_chart, page

__all__ = ["render_compare_html", "render_sweep_html"]

MAX_BLOCKS = 40  # in the block chart; the block table has them all


def _totals(c: dict) -> str:
    head = "".join(f'<th class="n" data-desc>{e(m["label"])}</th>' for m in c["models"])
    rows = []
    for n, t in enumerate(c["totals"]):
        cells = "".join(
            f'<td class="n" data-v="{_sort_value(v)}">{e(value_text(v, t["kind"]))}'
            + (f"<br><small>{e(versus(v, t['ratio'][i], t['delta'][i], t['kind']).strip(' ()'))}</small>" if i else "")
            + "</td>"
            for i, v in enumerate(t["values"])
        )
        rows.append(f'<tr data-i="{n}"><td data-v="{e(t["label"])}">{e(t["label"])}</td>{cells}</tr>')
    return (
        f'<table class="sortable"><thead><tr><th>total</th>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
        '<p class="hint">Under each value after the first: its ratio to the first model and the difference.</p>'
    )


def _sort_value(value) -> str:
    """What a table cell sorts by: an exact number; "" (sorted last) where it is not known exactly."""
    known = value.known if isinstance(value, Figure) else value
    return "" if known is None else e(known)


def _cell(v: dict | None, key: str) -> str:
    if v is None:  # the model has no such block
        return '<td class="missing" data-v="">—</td>'
    return f'<td class="n" data-v="{_sort_value(v[key])}">{e(human(v[key]))}</td>'


def _costs(v: dict | None) -> bool:
    """Whether a group costs anything (or something unknown): an all-zero row or bar says nothing."""
    return bool(v) and (v["macs"] != 0 or bool(v["params"]))


def _grouped(c: dict, key: str, name: str) -> str:
    labels = [m["label"] for m in c["models"]]
    head = "".join(f'<th class="n" data-desc>{e(label)} {what}</th>' for what in ("MACs", "params") for label in labels)
    rows = "".join(
        f'<tr data-i="{n}"><td data-v="{e(entry[name])}">{e(entry[name])}</td>'
        + "".join(_cell(v, "macs") for v in entry["values"])
        + "".join(_cell(v, "params") for v in entry["values"])
        + "</tr>"
        for n, entry in enumerate(g for g in c[key] if any(_costs(v) for v in g["values"]))
    )
    return (
        f'<div class="scroll"><table class="sortable"><thead><tr><th>{e(name)}</th>{head}</tr></thead>'
        f"<tbody>{rows}</tbody></table></div>"
    )


def _macs(values: list) -> list:
    return [None if v is None else v["macs"] for v in values]


def _charted(values: list) -> bool:
    """A MACs chart leaves out groups without MACs in any model (their params are in the table);
    a group whose MACs are unknown is charted, as unknown."""
    return any(v and v["macs"] != 0 for v in values)


def render_compare_html(c: dict, by: str = "all") -> str:
    """Every chart puts all models on one scale: a 279 M bar is half as long as a 550 M one. `by`:
    the breakdowns after the totals, per op family ("op"), per block ("block") or both ("all")."""
    labels = [m["label"] for m in c["models"]]
    series = [f"{label} MACs" for label in labels]
    partial = [c["models"][i]["label"] for i in incomplete(c)]
    warn = (
        f'<p class="sev-warning">Totals partly or wholly unknown (uncounted or unresolved nodes): '
        f"{e(', '.join(partial))}</p>"
        if partial
        else ""
    )
    body = f"<h1>modelaudit compare: {e(' vs '.join(labels))}</h1><h2>Totals</h2>{_totals(c)}{warn}"
    if by in ("op", "all"):
        fam = bar_chart(
            [(f["family"], _macs(f["values"])) for f in c["families"] if _charted(f["values"])],
            series,
            [human] * len(labels),
        )
        body += f"<h2>MACs per op family</h2>{fam}{_grouped(c, 'families', 'family')}"
    if by in ("block", "all"):
        blocks = bar_chart(
            [(b["block"], _macs(b["values"])) for b in c["blocks"] if _charted(b["values"])][:MAX_BLOCKS],
            series,
            [human] * len(labels),
        )
        body += (
            f"<h2>MACs per block (depth {c['depth']})</h2>"
            f'<p class="hint">"—": the model has no such block.</p>{blocks}{_grouped(c, "blocks", "block")}'
        )
    return page("modelaudit compare", body)


def _exact(s: dict, key: str) -> list:
    """A total at each swept value, for a line: a point only where it is known exactly (the table
    beside it gives the floors and the unknowns)."""
    return [c[key].known for c in s["totals"]]


def render_sweep_html(s: dict) -> str:
    """--sweep as a page: totals and the top layers' MACs as lines over the swept values."""
    xs = s["values"]
    totals = line_chart(xs, [("MACs", _exact(s, "macs")), ("FLOPs", _exact(s, "flops"))], human)
    memory = line_chart(
        xs,
        [
            ("peak activations", _exact(s, "peak_activation_bytes")),
            ("activation bytes", _exact(s, "activation_bytes")),
        ],
        human_bytes,
    )
    layers = line_chart(xs, [(layer["name"], layer["macs"]) for layer in s["top_layers"][:6]], human)
    head = "".join(f'<th class="n" data-desc>{e(s["dim"])}={e(f"{v:,}")}</th>' for v in xs)
    rows = "".join(
        f'<tr data-i="{n}"><td>{e(label)}</td>'
        + "".join(f'<td class="n" data-v="{_sort_value(c[key])}">{e(human(c[key]))}</td>' for c in s["totals"])
        + "</tr>"
        for n, (key, label) in enumerate((("params", "params"), ("macs", "MACs"), ("flops", "FLOPs")))
    )
    body = (
        f"<h1>modelaudit sweep over {e(s['dim'])}</h1>"
        f'<table class="sortable"><thead><tr><th>total</th>{head}</tr></thead><tbody>{rows}</tbody></table>'
        f"<h2>MACs and FLOPs</h2>{totals}<h2>Activation memory</h2>{memory}"
        f"<h2>MACs of the top layers</h2>{layers}"
    )
    return page(f"modelaudit sweep over {s['dim']}", body)
