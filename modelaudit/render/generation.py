"""--decode in text, markdown, json and csv: prefill and one decode step, one column per context;
the tables fitted to the terminal's width."""

from __future__ import annotations

import csv
import io
import json
import textwrap
from collections.abc import Callable
from typing import Any

from tabulate import tabulate

from modelaudit.encoding import writing
from modelaudit.figures import Figure

from .common import human, human_bytes, safe
from .table import abbreviate

__all__ = [
    "render_generation",
    "generation_metrics",
    "figure_json",
    "wrap",
    "fitted_table",
    "time_text",
    "cannot_run_lines",
]


def time_text(value) -> str:
    """A time bound in ms or µs (`≥` a lower bound, `?` unknown)."""
    from .roofline import fmt_ms

    if value is None:
        return "?"
    return value.text(fmt_ms) if isinstance(value, Figure) else fmt_ms(value)


def _rate(value) -> str:
    if value is None:
        return "?"
    return value.text(lambda v: f"{v:,.1f}") if isinstance(value, Figure) else f"{value:,.1f}"


# (label, where: a path of keys into a column, formatter)
_METRICS: list[tuple[str, tuple, Callable[[Any], str]]] = [
    ("prefill MACs", ("prefill", "totals", "macs"), human),
    ("prefill FLOPs", ("prefill", "totals", "flops"), human),
    ("prefill weight bytes read", ("prefill", "totals", "weight_bytes"), human_bytes),
    ("prefill KV bytes written", ("prefill", "totals", "kv_written_bytes"), human_bytes),
    ("decode MACs per step", ("decode_step", "totals", "macs"), human),
    ("decode FLOPs per step", ("decode_step", "totals", "flops"), human),
    ("decode weight bytes read", ("decode_step", "totals", "weight_bytes"), human_bytes),
    ("decode KV bytes read", ("decode_step", "totals", "kv_read_bytes"), human_bytes),
    ("decode KV bytes written", ("decode_step", "totals", "kv_written_bytes"), human_bytes),
    ("KV cache per token", ("kv_cache_bytes_per_token",), human_bytes),
    ("KV cache at context", ("kv_cache_bytes",), human_bytes),
]
_ROOFLINE: list[tuple[str, tuple, Callable[[Any], str]]] = [
    ("prefill time, as written", ("prefill", "roofline", "as_written", "time_ms"), time_text),
    ("prefill time, fused", ("prefill", "roofline", "fused", "time_ms"), time_text),
    ("decode step, as written", ("decode_step", "roofline", "as_written", "time_ms"), time_text),
    ("decode step, fused", ("decode_step", "roofline", "fused", "time_ms"), time_text),
    ("decode bound, as written", ("decode_step", "roofline", "as_written", "bound"), str),
    ("decode bound, fused", ("decode_step", "roofline", "fused", "bound"), str),
    ("tokens/s, as written", ("tokens_per_s", "as_written"), _rate),
    ("tokens/s, fused", ("tokens_per_s", "fused"), _rate),
]


def _get(col: dict, path: tuple):
    value: object = col
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def generation_metrics(g: dict) -> list[tuple[str, list]]:
    """(label, raw value per context) for the totals table."""
    metrics = _METRICS + (_ROOFLINE if g.get("hardware") else [])
    return [(label, [_get(col, path) for col in g["columns"]]) for label, path, _ in metrics]


def figure_json(value):
    """json.dumps' default: a Figure as {"value", "bound"}, a polynomial as {"text", "terms"}."""
    if isinstance(value, Figure):
        return value.as_dict()
    if hasattr(value, "to_json"):
        return value.to_json()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _csv_cell(value) -> object:
    if value is None:
        return ""
    if isinstance(value, Figure):
        return value.value if value.complete else value.text()  # never an unknown as an empty 0
    return value


def wrap(lines: list[str], width: int | None) -> list[str]:
    """Each line folded to `width`, its continuation indented (whole when width is None)."""
    if not width:
        return lines
    out: list[str] = []
    for line in lines:
        indent = " " * (len(line) - len(line.lstrip()) + 2)
        out += textwrap.wrap(line, width, subsequent_indent=indent, break_on_hyphens=False) or [""]
    return out


def fitted_table(rows: list[list[str]], headers: list[str], tablefmt: str, width: int | None) -> list[str]:
    """The table, or (when wider than `width`) its value columns split into tables that fit, each
    with the label column."""
    text = tabulate(rows, headers=headers, tablefmt=tablefmt, disable_numparse=True)
    if not width or max(map(len, text.splitlines())) <= width or len(headers) <= 2:
        return [text]
    label = max(len(headers[0]), *(len(r[0]) for r in rows)) + 2
    per = max(len(headers[i]) for i in range(1, len(headers))) + 2
    count = max(1, (width - label) // per)
    out: list[str] = []
    for start in range(1, len(headers), count):
        part = [0, *range(start, min(start + count, len(headers)))]
        out += [
            tabulate(
                [[r[i] for i in part] for r in rows],
                headers=[headers[i] for i in part],
                tablefmt=tablefmt,
                disable_numparse=True,
            ),
            "",
        ]
    return out[:-1]


def render_generation(g: dict, fmt: str = "text", top: int = 10, width: int | None = None) -> str:
    if fmt == "json":
        return json.dumps({"generation": g}, indent=2, default=figure_json) + "\n"
    heads = [c.get("label", f"context {c['context']:,}") for c in g["columns"]]
    metrics = generation_metrics(g)
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["metric"] + heads)
        for label, values in metrics:
            writer.writerow([label] + [_csv_cell(v) for v in values])
        return buf.getvalue()
    with writing("markdown" if fmt == "markdown" else "text"):
        return _tables(g, fmt, metrics, heads, top, width)


def _tables(g: dict, fmt: str, metrics: list, heads: list[str], top: int, width: int | None) -> str:
    formats = {label: f for label, _, f in _METRICS + _ROOFLINE}
    tablefmt = "github" if fmt == "markdown" else "simple"
    title = "### " if fmt == "markdown" else ""
    rows = [[label] + [("?" if v is None else formats[label](v)) for v in values] for label, values in metrics]
    lay = g["layout"]
    lines = wrap(
        [
            f"{title}Generation with a KV cache: {_batch(g)}; new tokens: {safe(lay['seq_dim'] or 'fixed')}, "
            f"cached: {safe(lay['past_dim'])} ({len(lay['caches'])} cache inputs)" + _pricing(g)
        ],
        width,
    )
    lines += ["", *fitted_table(rows, ["per step"] + heads, tablefmt, width), ""]
    broken = cannot_run_lines([c[p] for c in g["columns"] for p in ("prefill", "decode_step")])
    if broken:
        lines += [*wrap(broken, width), ""]
    elif _incomplete(g):
        lines += wrap(["some rows have unknown shapes: their totals are lower bounds (≥) or unknown (?)"], width)
        lines.append("")
    last = g["columns"][-1].get("label", f"context {g['contexts'][-1]:,}")
    lines += [f"{title}Top {top} layers by decode MACs at {last}", ""]
    lines += [_layer_table(g, top, tablefmt, width)]
    if g.get("hardware"):
        lines += ["", *wrap(g["hardware"].get("lines") or [], width)]
    if g.get("memory"):
        from .memory import memory_lines

        lines += ["", *wrap(memory_lines(g["memory"]), width)]
    if not lay["seq_dim"]:
        lines += ["", "the model takes a fixed number of new tokens: no prefill is costed"]
    if g.get("formulas"):
        lines += ["", *wrap(formula_lines(g["formulas"]), width)]
    return "\n".join(lines) + "\n"


_FORMULA_LABELS = {
    "macs": "MACs",
    "flops": "FLOPs",
    "weight_bytes": "weight bytes read",
    "kv_read_bytes": "KV bytes read",
    "kv_written_bytes": "KV bytes written",
    "input_bytes": "activation bytes read",
    "output_bytes": "bytes written",
    "fused_bytes": "bytes moved, fused",
    "kv_cache_bytes_per_token": "KV cache per token",
}


def formula_lines(formulas: dict) -> list[str]:
    """--decode --symbolic: each cost of a step as a polynomial (or why it is none)."""
    lines = []
    for name, label in (("decode_step", "a decode step"), ("prefill", "the prefill")):
        part = formulas.get(name)
        if not part:
            continue
        lines.append(f"{label} as exact polynomials of {', '.join(part['variables'])}:")
        for key, poly in part["formulas"].items():
            text = "not a polynomial (or unknown): see the columns" if poly is None else str(poly)
            lines.append(f"  {_FORMULA_LABELS.get(key, key)} = {text}")
    return lines


def cannot_run_lines(steps: list) -> list[str]:
    """A line for each step whose shapes no run can have, saying why; its figures are unknown."""
    out = []
    for step in steps:
        if step and step.get("cannot_run"):
            what = f"prefill of {step['sequence']:,}" if not step["past"] else f"decode step at {step['past']:,}"
            out.append(
                f"the {what} cannot run this export, so its figures are unknown: {safe(step['cannot_run'], 300)} "
                "(traced with one new token? re-export with a dynamic sequence length, traced at two or more)"
            )
    return out


def _batch(g: dict) -> str:
    sweep = g.get("sweep")
    if sweep and sweep["dim"] == g["layout"]["batch_dim"]:
        values = ", ".join(f"{v:,}" for v in sweep["values"])
        return f"batch {values}, one column each (a decode step is one new token of each sequence)"
    b = g["batch"]
    return "batch 1" if b == 1 else f"batch {b} (a decode step is one new token for each of the {b} sequences)"


def _pricing(g: dict) -> str:
    p = g.get("pricing") or {}
    parts = [
        f"weights as {p['weight_dtype']}" if p.get("weight_dtype") else "",
        f"KV cache as {p['kv_dtype']}" if p.get("kv_dtype") else "",
    ]
    parts = [x for x in parts if x]
    return f"; priced with {' and '.join(parts)}" if parts else ""


def _incomplete(g: dict) -> bool:
    return any(
        not v.complete
        for c in g["columns"]
        for p in ("prefill", "decode_step")
        if c[p]
        for v in c[p]["totals"].values()
        if isinstance(v, Figure)
    )


def _layer_table(g: dict, top: int, tablefmt: str, width: int | None) -> str:
    """The top layers by decode MACs: each context's prefill and decode columns; narrowed to fit
    `width` by dropping the prefill columns, then the domain of op names, then cutting names."""
    last = g["columns"][-1]["decode_step"]["rows"]
    order = sorted(range(len(last)), key=lambda i: -(last[i]["macs"] or 0))[:top]
    phases = [(c, p) for c in g["columns"] for p in ("prefill", "decode_step")]
    for choice in (phases, [x for x in phases if x[1] == "decode_step"], [phases[-1]]):
        for short_ops in (False, True):
            headers = ["layer", "op"] + [f"{'prefill' if p == 'prefill' else 'decode'} {_short(c)}" for c, p in choice]
            cells = [_layer_cells(last[i], i, choice, short_ops) for i in order]
            if tablefmt == "github":  # a `|` in a name would end its cell
                cells = [[c.replace("|", "\\|") for c in row[:2]] + row[2:] for row in cells]
            text = tabulate(cells, headers=headers, tablefmt=tablefmt, disable_numparse=True)
            over = max(map(len, text.splitlines())) - (width or 10**9)
            names = max((len(c[0]) for c in cells), default=0)
            if over <= 0 or names - over >= 16 or (choice == [phases[-1]] and short_ops):
                if over > 0:
                    for c in cells:
                        c[0] = abbreviate(c[0], max(16, names - over))
                    text = tabulate(cells, headers=headers, tablefmt=tablefmt, disable_numparse=True)
                return text
    return text


def _short(col: dict) -> str:
    """A column's label without 'context ': '1,024', or 'batch_size=8'."""
    return col.get("label", f"context {col['context']:,}").removeprefix("context ")


def _layer_cells(row: dict, i: int, choice: list, short_ops: bool) -> list[str]:
    op = row["op"].rsplit(":", 1)[-1] if short_ops else row["op"]
    cells = [safe(row["name"]), safe(op)]
    for col, phase in choice:
        rows = (col[phase] or {}).get("rows") or []
        cells.append(human(rows[i]["macs"]) if i < len(rows) else "—")
    return cells
