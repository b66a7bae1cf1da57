"""--decode in text, markdown, json and csv: prefill and one decode step, one column per context."""

from __future__ import annotations

import csv
import io
import json

from tabulate import tabulate

from modelaudit.encoding import writing

from .common import human, human_bytes, safe

__all__ = ["render_generation", "generation_metrics"]


def _ms(value) -> str:
    from .roofline import fmt_ms

    return "?" if value is None else fmt_ms(value)


def _rate(value) -> str:
    return "?" if value is None else f"{value:,.1f}"


# (label, phase or None for the column itself, key, formatter)
_METRICS = [
    ("prefill MACs", "prefill", "macs", human),
    ("prefill FLOPs", "prefill", "flops", human),
    ("prefill weight bytes read", "prefill", "weight_bytes", human_bytes),
    ("prefill KV bytes written", "prefill", "kv_written_bytes", human_bytes),
    ("decode MACs per token", "decode_per_token", "macs", human),
    ("decode FLOPs per token", "decode_per_token", "flops", human),
    ("decode weight bytes read", "decode_per_token", "weight_bytes", human_bytes),
    ("decode KV bytes read", "decode_per_token", "kv_read_bytes", human_bytes),
    ("decode KV bytes written", "decode_per_token", "kv_written_bytes", human_bytes),
    ("KV cache per token", None, "kv_cache_bytes_per_token", human_bytes),
    ("KV cache at context", None, "kv_cache_bytes", human_bytes),
]
_ROOFLINE = [
    ("prefill time bound", "prefill", "roofline_ms", _ms),
    ("decode time bound", "decode_per_token", "roofline_ms", _ms),
    ("decode bound by", "decode_per_token", "bound", str),
    ("tokens/s bound", None, "tokens_per_s", _rate),
]


def generation_metrics(g: dict) -> list[tuple[str, list]]:
    """(label, raw value per context) for the totals table."""
    metrics = _METRICS + (_ROOFLINE if g.get("hardware") else [])
    out = []
    for label, phase, key, _ in metrics:
        values = []
        for col in g["columns"]:
            source = col if phase is None else (col[phase] or {}).get("totals", {})
            if phase and key in ("roofline_ms", "bound"):
                source = (col[phase] or {}).get("roofline") or {}
            values.append(source.get(key))
        out.append((label, values))
    return out


def render_generation(g: dict, fmt: str = "text", top: int = 10) -> str:
    if fmt == "json":
        return json.dumps({"generation": g}, indent=2) + "\n"
    heads = [f"context {c:,}" for c in g["contexts"]]
    metrics = generation_metrics(g)
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["metric"] + heads)
        for label, values in metrics:
            writer.writerow([label] + ["" if v is None else v for v in values])
        return buf.getvalue()
    with writing("markdown" if fmt == "markdown" else "text"):
        return _tables(g, fmt, metrics, heads, top)


def _tables(g: dict, fmt: str, metrics: list, heads: list[str], top: int) -> str:
    formats = {label: f for label, _, _, f in _METRICS + _ROOFLINE}
    tablefmt = "github" if fmt == "markdown" else "simple"
    title = "### " if fmt == "markdown" else ""
    rows = [[label] + [("?" if v is None else formats[label](v)) for v in values] for label, values in metrics]
    lay = g["layout"]
    lines = [
        f"{title}Generation with a KV cache: batch {g['batch']}; new tokens: {safe(lay['seq_dim'] or 'fixed')}, "
        f"cached: {safe(lay['past_dim'])} ({len(lay['caches'])} cache inputs)",
        "",
        tabulate(rows, headers=["per step"] + heads, tablefmt=tablefmt, disable_numparse=True),
        "",
    ]
    if any(
        not (c[p] or {"totals": {"complete": True}})["totals"]["complete"]
        for c in g["columns"]
        for p in ("prefill", "decode_per_token")
    ):
        lines += ["incomplete: some rows have unknown shapes; the totals are lower bounds (≥)", ""]
    lines += [
        f"{title}Top {top} layers by decode MACs at context {g['contexts'][-1]:,}",
        "",
        tabulate(
            [[str(c).replace("|", "\\|") for c in row] for row in _layer_rows(g, top)]
            if fmt == "markdown"  # a `|` in a name would end its cell
            else _layer_rows(g, top),
            headers=["layer", "op"] + [f"{p} {c:,}" for c in g["contexts"] for p in ("prefill", "decode")],
            tablefmt=tablefmt,
            disable_numparse=True,
        ),
    ]
    if g.get("hardware"):
        lines += ["", *(g["hardware"].get("lines") or [])]
    if not lay["seq_dim"]:
        lines += ["", "the model takes a fixed number of new tokens: no prefill is costed"]
    return "\n".join(lines) + "\n"


def _layer_rows(g: dict, top: int) -> list[list]:
    last = g["columns"][-1]["decode_per_token"]["rows"]
    order = sorted(range(len(last)), key=lambda i: -(last[i]["macs"] or 0))[:top]
    out = []
    for i in order:
        cells = [safe(last[i]["name"]), safe(last[i]["op"])]
        for col in g["columns"]:
            for phase in ("prefill", "decode_per_token"):
                rows = (col[phase] or {}).get("rows") or []
                cells.append(human(rows[i]["macs"]) if i < len(rows) else "—")
        out.append(cells)
    return out
