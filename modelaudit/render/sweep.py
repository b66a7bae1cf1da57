"""--sweep in text, markdown, json and csv: one column per value of the swept dim."""

from __future__ import annotations

import csv
import io
import json

from tabulate import tabulate

from .common import human, human_bytes, safe

__all__ = ["render_sweep", "render_compare_sweep"]

_LABELS = {"params": ("params", human), "macs": ("MACs", human), "flops": ("FLOPs", human),
           "activation_bytes": ("activation bytes", human_bytes), "peak_activation_bytes": ("peak activations", human_bytes)}


def render_sweep(s: dict, fmt: str = "text") -> str:
    if fmt == "html":
        from .html import render_sweep_html

        return render_sweep_html(s)
    if fmt == "json":
        return json.dumps(s, indent=2) + "\n"
    heads = [f"{s['dim']}={v:,}" for v in s["values"]]
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["metric"] + heads)
        for key in _LABELS:
            writer.writerow([key] + [c[key] for c in s["totals"]])
        for layer in s["top_layers"]:
            writer.writerow([f"macs:{layer['name']}"] + ["" if m is None else m for m in layer["macs"]])
        return buf.getvalue()
    tablefmt = "github" if fmt == "markdown" else "simple"
    totals = [[label] + [("≥ " if key in ("macs", "flops") and not c["complete"] else "") + fmt_(c[key])
                         for c in s["totals"]] for key, (label, fmt_) in _LABELS.items()]
    layers = [[safe(l["name"]), l["op"]] + [human(m) for m in l["macs"]] for l in s["top_layers"]]
    title = "###" if fmt == "markdown" else ""
    return "\n".join([f"{title} Totals across {s['dim']}".strip(), "",
                      tabulate(totals, headers=["total"] + heads, tablefmt=tablefmt, disable_numparse=True), "",
                      f"{title} MACs of the top {len(layers)} layers (by MACs at {s['dim']}={s['values'][-1]:,})".strip(), "",
                      tabulate(layers, headers=["layer", "op"] + heads, tablefmt=tablefmt, disable_numparse=True)]) + "\n"


def render_compare_sweep(sweeps: list[dict], labels: list[str], fmt: str = "text") -> str:
    """Each model's totals at each value of the swept dim, side by side."""
    if fmt == "json":
        return json.dumps({"models": [dict(s, label=l) for s, l in zip(sweeps, labels)]}, indent=2) + "\n"
    dim, values = sweeps[0]["dim"], sweeps[0]["values"]
    heads = ["model", "total"] + [f"{dim}={v:,}" for v in values]
    rows = []
    for label, s in zip(labels, sweeps):
        for key in ("macs", "flops", "peak_activation_bytes"):
            name, fmt_ = _LABELS[key]
            rows.append([safe(label), name] + [fmt_(c[key]) for c in s["totals"]])
    return tabulate(rows, headers=heads, tablefmt="github" if fmt == "markdown" else "simple",
                    disable_numparse=True) + "\n"
