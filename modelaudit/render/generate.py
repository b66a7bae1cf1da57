"""--generate in text, markdown, json and csv: the prefill, the decode steps and the whole generation;
with --hardware, its time bounds in both accountings and the memory fit."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from typing import Any

from tabulate import tabulate

from modelaudit.encoding import writing

from .common import human, human_bytes, safe
from .generation import _csv_cell, _pricing, cannot_run_lines, figure_json, fitted_table, time_text, wrap

__all__ = ["render_generate"]

_COSTS: list[tuple[str, str, Callable[[Any], str]]] = [
    ("MACs", "macs", human),
    ("FLOPs", "flops", human),
    ("weight bytes read", "weight_bytes", human_bytes),
    ("KV bytes read", "kv_read_bytes", human_bytes),
    ("KV bytes written", "kv_written_bytes", human_bytes),
    ("bytes moved, fused", "fused_bytes", human_bytes),
]


def _rate(value) -> str:
    return "?" if value is None else value.text(lambda v: f"{v:,.1f}")


_TIMES: list[tuple[str, str, Callable[[Any], str]]] = [
    ("time to first token", "ttft_ms", time_text),
    ("time per output token", "tpot_ms", time_text),
    ("end to end", "e2e_ms", time_text),
    ("tokens/s (all output / end to end)", "tokens_per_s", _rate),
    ("decode tokens/s (batch / per token)", "decode_tokens_per_s", _rate),
    ("prefill bound by", "bound_prefill", str),
    ("decode bound by (last step)", "bound_decode", str),
]


def _cost_rows(g: dict) -> list[tuple[str, list, Callable[[Any], str]]]:
    decode = g["decode_totals"]
    first = [g["encoder"]] if g.get("encoder") else []
    return [
        (label, [*(e["totals"][k] for e in first), g["prefill"]["totals"][k], decode.get(k), g["totals"][k]], fmt)
        for label, k, fmt in _COSTS
    ]


def _time_rows(g: dict) -> list[tuple[str, list, Callable[[Any], str]]]:
    r = g["roofline"]
    rows = ([("encoder time (in the first token's)", "encoder_ms", time_text)] if g.get("encoder") else []) + _TIMES
    if g.get("encoder"):
        rows = [("first step bound by", k, f) if k == "bound_prefill" else (label, k, f) for label, k, f in rows]
    return [(label, [r["as_written"].get(k), r["fused"].get(k)], fmt) for label, k, fmt in rows]


def render_generate(g: dict, fmt: str = "text", width: int | None = None) -> str:
    if fmt == "json":
        return json.dumps({"generation": g}, indent=2, default=figure_json) + "\n"
    steps = g["decode_steps"]
    encdec = bool(g.get("encoder"))
    cost_heads = ["", *(["encoder", "first step"] if encdec else ["prefill"]), f"decode ({steps:,} steps)", "whole"]
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["metric", *(["encoder", "first step"] if encdec else ["prefill"]), "decode", "whole"])
        for label, values, _ in _cost_rows(g):
            writer.writerow([label] + [_csv_cell(v) for v in values])
        if g.get("roofline"):
            writer.writerow(["time bound", "as written", "fused"])
            for label, values, _ in _time_rows(g):
                writer.writerow([label] + [_csv_cell(v) for v in values])
        return buf.getvalue()
    with writing("markdown" if fmt == "markdown" else "text"):
        return _text(g, fmt, width, cost_heads, encdec)


def _text(g: dict, fmt: str, width: int | None, cost_heads: list[str], encdec: bool) -> str:
    tablefmt = "github" if fmt == "markdown" else "simple"
    title = "### " if fmt == "markdown" else ""
    lay = g["layout"]
    what = "source position(s)" if encdec else "prompt token(s)"
    lines = wrap(
        [
            f"{title}Generation of {g['new_tokens']:,} token(s) after {g['prompt']:,} {what}: batch {g['batch']}"
            f"; cached: {safe(lay['past_dim'])} ({len(lay['caches'])} cache inputs"
            + (f", {len(lay['cross'])} of them the cross-attention cache" if lay.get("cross") else "")
            + ")"
            + _pricing(g),
            f"convention: {g['convention']}",
        ],
        width,
    )
    cells = [[label] + [("?" if v is None else f(v)) for v in values] for label, values, f in _cost_rows(g)]
    lines += ["", *fitted_table(cells, cost_heads, tablefmt, width)]
    broken = cannot_run_lines([g.get("encoder"), g["prefill"], g["decode_first"], g["decode_last"]])
    if broken:
        lines += ["", *wrap(broken, width)]
    if g.get("roofline"):
        cells = [[label] + [("?" if v is None else f(v)) for v in values] for label, values, f in _time_rows(g)]
        lines += [
            "",
            tabulate(cells, headers=["time bound", "as written", "fused"], tablefmt=tablefmt, disable_numparse=True),
        ]
        lines += ["", *wrap(_notes(g), width)]
    if g.get("memory"):
        from .memory import memory_lines

        lines += ["", *wrap(memory_lines(g["memory"]), width)]
    return "\n".join(lines) + "\n"


def _notes(g: dict) -> list[str]:
    r, hw = g["roofline"], g["hardware"]
    return [
        f"on {hw['name']}: {hw['rate']}; each step's time bound is the largest of its roofline and its kernels' "
        f"launch overhead ({r['as_written']['kernels']} kernels as written, {r['fused']['kernels']} fused, × "
        f"{hw['overhead_us']:g} µs)",
        "as written: every node of the graph reads its inputs and writes its outputs; fused: views, elementwise "
        "ops and attention run in their producers' kernels, the cache is read once and appended in place",
    ]
