"""--sweep in text, markdown, json and csv: one column per value of the swept dim."""

from __future__ import annotations

import csv
import io
import json

from tabulate import tabulate

from modelaudit.encoding import csv_cell, writing
from modelaudit.figures import Figure, to_data

from .common import human, human_bytes, safe
from .csv import figure_cell

__all__ = ["render_sweep", "render_compare_sweep"]

_LABELS = {
    "params": ("params", human),
    "macs": ("MACs", human),
    "flops": ("FLOPs", human),
    "activation_bytes": ("activation bytes", human_bytes),
    "peak_activation_bytes": ("peak activations", human_bytes),
}


def _cell(column: dict, key: str, fmt) -> str:
    """A total at one value: a lower bound `≥ x` when incomplete, `?` when nothing is known."""
    return fmt(column[key])


def _pipes(cells: list) -> list:
    """Markdown table cells with their `|` escaped."""
    return [str(c).replace("|", "\\|") for c in cells]


def _hint(s: dict) -> str | None:
    """What resolves the unknown totals (the dims the sweep leaves symbolic)."""
    flags = list(
        dict.fromkeys(
            f
            for c in s["totals"]
            if any(isinstance(v, Figure) and not v.complete for v in c.values())
            for f in c.get("resolve", [])
        )
    )
    if not flags:
        return None
    return (
        f"totals shown as ? (unknown) or ≥ (partly known) depend on sizes the sweep leaves open or on uncounted "
        f"ops: {safe(', '.join(flags), 400)}"
    )


def render_sweep(s: dict, fmt: str = "text") -> str:
    """The sweep in `fmt`; the model's text in it (dim, layer and op names) encoded for that format."""
    if fmt == "html":
        from .html_compare import render_sweep_html

        return render_sweep_html(s)
    if fmt == "json":
        return json.dumps(to_data(s), indent=2) + "\n"
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["metric"] + [csv_cell(f"{s['dim']}={v}") for v in s["values"]])
        for key in _LABELS:
            writer.writerow([key] + [figure_cell(c[key]) for c in s["totals"]])
        for layer in s["top_layers"]:
            writer.writerow([csv_cell(f"macs:{layer['name']}")] + ["" if m is None else m for m in layer["macs"]])
        return buf.getvalue()
    with writing("markdown" if fmt == "markdown" else "text"):
        return _sweep_tables(s, fmt)


def _sweep_tables(s: dict, fmt: str) -> str:
    heads = [f"{safe(s['dim'])}={v:,}" for v in s["values"]]
    tablefmt = "github" if fmt == "markdown" else "simple"
    totals = [[label] + [_cell(c, key, fmt_) for c in s["totals"]] for key, (label, fmt_) in _LABELS.items()]
    layers = [[safe(layer["name"]), safe(layer["op"])] + [human(m) for m in layer["macs"]] for layer in s["top_layers"]]
    if fmt == "markdown":  # a `|` in a name would end its cell
        heads, layers = _pipes(heads), [_pipes(row) for row in layers]
    title = "###" if fmt == "markdown" else ""
    hint = _hint(s)
    lines = [
        f"{title} Totals across {safe(s['dim'])}".strip(),
        "",
        tabulate(totals, headers=["total"] + heads, tablefmt=tablefmt, disable_numparse=True),
        "",
        *([hint, ""] if hint else []),
    ]
    unranked = s.get("unranked_layers", 0)
    if not layers:
        return (
            "\n".join(
                lines
                + [
                    "no layer's MACs are known at any swept value: no top layers to rank"
                    + (" (fix the open sizes as the line above says)" if hint else "")
                ]
            )
            + "\n"
        )
    lines += [
        f"{title} MACs of the top {len(layers)} layers (by MACs at {safe(s['dim'])}={s['values'][-1]:,}, "
        f"or the largest value where known)".strip(),
        "",
        tabulate(layers, headers=["layer", "op"] + heads, tablefmt=tablefmt, disable_numparse=True),
    ]
    if unranked:
        lines += [
            "",
            f"{unranked:,} layer{' whose MACs are' if unranked == 1 else 's whose MACs are'} unknown at "
            f"every swept value {'is' if unranked == 1 else 'are'} not ranked",
        ]
    return "\n".join(lines) + "\n"


def render_compare_sweep(sweeps: list[dict], labels: list[str], fmt: str = "text") -> str:
    """Each model's totals at each value of the swept dim, side by side."""
    if fmt == "json":
        document = {"models": [dict(s, label=label) for s, label in zip(sweeps, labels)]}
        return json.dumps(to_data(document), indent=2) + "\n"
    with writing("markdown" if fmt == "markdown" else "text"):
        return _compare_sweep(sweeps, labels, fmt)


def _compare_sweep(sweeps: list[dict], labels: list[str], fmt: str) -> str:
    dim, values = sweeps[0]["dim"], sweeps[0]["values"]
    heads = ["model", "total"] + [f"{safe(dim)}={v:,}" for v in values]
    rows = []
    for label, s in zip(labels, sweeps):
        for key in ("macs", "flops", "peak_activation_bytes"):
            name, fmt_ = _LABELS[key]
            rows.append([safe(label), name] + [_cell(c, key, fmt_) for c in s["totals"]])
    if fmt == "markdown":
        heads, rows = _pipes(heads), [_pipes(row) for row in rows]
    hints = [f"{safe(label)}: {hint}" for label, s in zip(labels, sweeps) if (hint := _hint(s))]
    return (
        tabulate(rows, headers=heads, tablefmt="github" if fmt == "markdown" else "simple", disable_numparse=True)
        + "\n"
        + "".join(f"\n{h}\n" if fmt != "markdown" else f"\n_{h}_\n" for h in hints)
    )
