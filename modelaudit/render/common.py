"""What every format shares: human numbers, safe text, row selection, the totals and notices."""

from __future__ import annotations

import re
from collections import Counter

from modelaudit.costs.blocks import by_op, formula_rows
from modelaudit.costs.rows import Rows
from modelaudit.encoding import name, names
from modelaudit.units import exact, human, human_bytes

__all__ = [
    "human",
    "human_bytes",
    "exact",
    "safe",
    "safe_column",
    "select_rows",
    "by_op",
    "SORT_KEYS",
    "top_line",
    "summary",
    "notices",
    "model_line",
    "gate_tables",
    "symbolic_lines",
    "runtime_lines",
    "formula_rows",
]

# Model text enters every format through modelaudit.encoding: safe() is its name() (escaped for the
# format being written and cut in the middle), safe_column() its names() (a column checked at once in C).
safe, safe_column = name, names


SORT_KEYS = {
    "order": None,
    "name": "name",
    "op": "op_label",
    "params": "params",
    "macs": "macs_total",
    "flops": "flops_total",
    "bytes": "output_bytes",
}


OP_SORT_KEYS = {"order": None, "name": "op", "op": "op", "params": "params", "macs": "macs", "flops": "flops"}
BLOCK_SORT_KEYS = OP_SORT_KEYS | {"name": "block", "op": "block"}


def select_rows(rows: Rows, sort: str | None = None, top: int | None = None, by: str = "node") -> Rows:
    """The rows in file-walk order, or sorted (numbers descending, unknowns last), cut to `top`.
    Rows of `by_op` (by="op") and blocks (by="block") sort by their own keys."""
    if top is not None and sort is None:
        sort = "macs"
    key = {"op": OP_SORT_KEYS, "block": BLOCK_SORT_KEYS}.get(by, SORT_KEYS).get(sort or "order")
    positions = list(range(len(rows)))
    if key in ("name", "op_label", "op", "block"):
        positions.sort(key=rows.column(key).__getitem__)
    elif key:
        values = rows.column(key)
        positions.sort(key=lambda i: (values[i] is None, -(values[i] or 0)))
    return rows.take(positions[:top] if top is not None else positions) if key or top is not None else rows


def top_line(d: dict, top: int | None, by: str, depth: int | None = None) -> str | None:
    """ "top 3 of 7 op types shown…" when --top cut the table; counted in the table's own rows."""
    if top is None:  # nothing was cut: no need to build the tree or the op groups again to count them
        return None
    if depth is not None:
        from modelaudit.costs.blocks import by_block

        total, what = len(by_block(d["rows"], depth)), "blocks"
    elif by == "op":
        total, what = len(by_op(d["rows"])), "op types"
    else:
        total, what = len(d["rows"]), "nodes"
    if top >= total:
        return None
    return f"top {top} of {total} {what} shown; totals are for the whole model"


def resolve_hint(d: dict) -> str:
    """Why some totals are unknown, and the flags that resolve them: `resolve with --dim batch=N`."""
    # an entry may name several flags (`--dim batch=N --dim seq=N`) that others name alone: each once
    flags = list(dict.fromkeys(f for u in d["unresolved"] for f in re.split(r" (?=--)", u["flag"])))
    parts = [f"resolve with {safe(' '.join(flags), 400)}"] if flags else []
    if d["uncounted"]:
        parts.append("no rule for " + ", ".join(f"{safe(u['op'])} ×{u['count']}" for u in d["uncounted"]))
    return "; ".join(parts)


def _total(value: int, complete: bool, fmt, unknown: int, hint: str, exact_too: bool = True) -> str:
    """A total; an incomplete one is a lower bound (`≥`) and never a 0: with nothing known, `unknown`."""
    shown = f"{fmt(value)}" + (f" ({exact(value)})" if exact_too else "")
    if complete:
        return shown
    if value:
        return f"≥ {shown}, incomplete: {unknown} node(s) unknown" + (f" ({hint})" if hint else "")
    return f"unknown: {unknown} node(s) not costed" + (f" ({hint})" if hint else "")


_SYMBOLIC = {
    "MACs": ("macs", ""),
    "FLOPs": ("flops", ""),
    "activation bytes": ("activation_bytes", " bytes"),
    "peak activations": ("peak_activation_bytes", " bytes"),
}


def summary(d: dict) -> list[tuple[str, str]]:
    """(label, value) lines of the totals; under --symbolic the costs are its formulas."""
    t, rows = d["totals"], d["rows"]
    statuses = rows.column("status")
    counts = Counter(statuses)
    unknown = counts.get("uncounted", 0) + counts.get("unresolved", 0) + counts.get("error", 0)
    no_bytes = sum(
        1
        for out, status, runs in zip(rows.column("output_bytes"), statuses, rows.column("runs"))
        if out is None and status != "constant" and runs
    )
    hint = resolve_hint(d)
    by_dtype = ", ".join(f"{k} {human_bytes(v)}" for k, v in t["weight_bytes_by_dtype"].items())
    floor = "" if t.get("params_complete", True) else "≥ "  # an op without a rule reads unclassed constants
    lines = [
        ("params", f"{floor}{human(t['params'])} ({exact(t['params'])})"),
        ("non-trainable", f"{floor}{human(t['non_trainable'])} ({exact(t['non_trainable'])})"),
        ("weight bytes", f"{floor}{human_bytes(t['weight_bytes'])}" + (f" ({by_dtype})" if by_dtype else "")),
        ("MACs", _total(t["macs"], t["macs_complete"], human, unknown, hint)),
        ("FLOPs", _total(t["flops"], t["macs_complete"], human, unknown, hint)),
        (
            "activation bytes",
            _total(t["activation_bytes"], not no_bytes, human_bytes, no_bytes, hint, False)
            + (" (sum of node outputs)" if not no_bytes else ""),
        ),
        (
            "peak activations",
            _total(t["peak_activation_bytes"], t["peak_activation_complete"], human_bytes, no_bytes, hint, False)
            + (" (estimated: each tensor freed after its last reader)" if t["peak_activation_bytes"] else ""),
        ),
        ("nodes", f"{t['nodes']} (" + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) + ")"),
    ]
    sym = d.get("symbolic")
    if sym:
        lines = [
            (label, _formula(sym["totals"][_SYMBOLIC[label][0]], _SYMBOLIC[label][1]) if label in _SYMBOLIC else value)
            for label, value in lines
        ]
    return lines + _training_lines(d, hint)


def _formula(poly: dict, unit: str) -> str:
    if poly.get("text") is None:
        return "not a polynomial (a shape is computed by a division that floors, or is unknown)"
    return safe(poly["text"], 400) + unit  # a polynomial in the model's dim names


def _training_lines(d: dict, hint: str) -> list[tuple[str, str]]:
    tr = d.get("training")
    if not tr:
        return []
    complete, unknown = tr.get("complete", True), tr.get("unknown_nodes", 0)  # unknown forward MACs: floors

    def total(value: int, fmt=human, exact_too=True) -> str:
        return _total(value, complete, fmt, unknown, hint, exact_too)

    saved = human_bytes(tr["saved_activation_bytes"])
    lines = [
        ("backward MACs", total(tr["backward_macs"])),
        ("backward FLOPs", total(tr["backward_flops"])),
        (
            "saved for backward",
            ("" if tr.get("saved_complete", True) else "≥ ") + saved + " (activations kept for the backward pass)",
        ),
        ("training MACs", total(tr["training_macs"], exact_too=False) + " per step (forward + backward)"),
    ]
    if tr["training_macs_per_sample"] is not None and complete:
        lines.append(("per sample", f"{human(tr['training_macs_per_sample'])} MACs (batch {tr['batch']})"))
    return lines


def finding_lines(d: dict) -> list[str]:
    """Findings of warning severity and worse, and how many notes `modelaudit lint` would add."""
    found = d.get("findings") or []
    shown = [f for f in found if f["severity"] != "note"]
    lines = [f"{f['code']} {f['severity']}: {safe(f['target'])}: {safe(f['message'], 400)}" for f in shown]
    notes: dict[str, int] = {}
    for f in found:
        if f["severity"] == "note":
            notes[f["code"]] = notes.get(f["code"], 0) + 1
    if notes:
        kinds = ", ".join(f"{code} ×{n}" for code, n in sorted(notes.items()))
        lines.append(f"{sum(notes.values())} note(s) ({kinds}): `modelaudit lint --min-severity note` lists them")
    return lines


def notices(d: dict) -> list[str]:
    """Uncounted ops, unresolved dims with the flag that resolves them, and warnings."""
    lines = finding_lines(d)
    if d["uncounted"]:
        ops = ", ".join(f"{safe(u['op'])} ×{u['count']}" for u in d["uncounted"])
        lines.append(f"uncounted ops (no rule; their MACs and FLOPs are unknown, not zero): {ops}")
    variables = set((d.get("symbolic") or {}).get("variables", ()))  # under --symbolic: not unresolved
    for u in d["unresolved"]:
        if u["dim"] not in variables:
            lines.append(
                f"unresolved dim {safe(u['dim'])} in {u['nodes']} node(s): resolve with {safe(u['flag'], 400)}"
            )
    lines.extend(f"warning: {safe(w, 400)}" for w in d["warnings"])
    return lines


def model_line(d: dict) -> str:
    m = d["model"]
    ins = ", ".join(f"{safe(i['name'])} {safe(i['shape'])} {i['dtype']}" for i in m["inputs"])
    opsets = ", ".join(f"{safe(k)} {v}" for k, v in m["opsets"].items())
    return f"{safe(m['path'] or m['graph'] or 'model', 400)}  (opset {opsets}; inputs: {ins or 'none'})"


def gate_tables(d: dict) -> list[tuple[str, list[str], list[list]]]:
    """Per-gate params of each recurrent row, in the course's notation (LSTM's c gate is g)."""
    tables: list[tuple[str, list[str], list[list]]] = []
    rows = d["rows"]
    details_of = rows.column("details")
    if not any(details_of):  # the usual report: no row has details
        return tables
    for row_name, op, details in zip(rows.column("name"), rows.column("op"), details_of):
        gates = details.get("gates") if details else None
        if not gates:
            continue
        headers = ["gate", "ONNX gate (rows of W, R)", "W_x", "W_h", "b (Wb+Rb)", "peephole", "params"]
        cells = [
            [
                f"{g['gate']} ({g['role']})",
                f"{g['onnx_gate']} [{g['rows']}]",
                f"W_x{g['gate']} {g['W_x_shape']} = {g['W_x']:,}",
                f"W_h{g['gate']} {g['W_h_shape']} = {g['W_h']:,}",
                f"{g['b']:,}",
                f"{g['peephole']:,}",
                f"{g['params']:,}",
            ]
            for g in gates
        ]
        tables.append((f"{safe(row_name)} ({op}) params per gate", headers, cells))
    return tables


def symbolic_lines(d: dict) -> list[str]:
    """The --symbolic section: what the formulas are, and which terms dominate where."""
    sym = d.get("symbolic")
    if not sym:
        return []
    lines = [
        f"symbolic: the totals above and each row's MACs, FLOPs and out bytes are exact in "
        f"{', '.join(map(safe, sym['variables']))}, fitted on a grid of sizes and checked at others"
    ]
    for var, spans in (sym["totals"]["peak_activation_bytes"].get("ranges") or {}).items():
        var = safe(var)  # a dim name of the model's, as the polynomials' terms are
        parts = [
            f"{safe(span['text'], 400)} for "
            + (
                f"{var} ≥ {span['from']:,}"
                if span["to"] is None
                else f"{var} ≤ {span['to']:,}"
                if span["from"] == 1
                else f"{span['from']:,} ≤ {var} ≤ {span['to']:,}"
            )
            for span in spans
        ]
        lines.append(
            f"  peak activations by {var}"
            + (" (other dims at 1)" if len(sym["variables"]) > 1 else "")
            + ": "
            + "; ".join(parts)
            + " (bytes; checked by audits on both sides of each change)"
        )
    lines += [f"  {safe(line, 400)}" for line in sym["dominance"]]
    return lines


def runtime_lines(d: dict) -> list[str]:
    """The verification and profile sections, as lines."""
    lines = []
    rt = d.get("runtime") or {}
    if "skipped" in rt:
        return [f"runtime: skipped: {safe(rt['skipped'], 400)}"]
    if rt:
        lines.append(
            f"runtime: onnxruntime {rt['onnxruntime']}, {rt['provider']}, {rt['threads']} thread(s); inputs "
            + ", ".join(f"{safe(k)} {v}" for k, v in rt["inputs"].items())
            + f" ({rt['input_source']})"
        )
    v = d.get("verification")
    if v:
        if not v["mismatches"]:
            lines.append(
                f"verification: all {v['verified']} statically known tensor shapes verified by onnxruntime"
                + (
                    f"; {v['runtime_shaped']} more took their shapes from the run (runtime-shaped)"
                    if v["runtime_shaped"]
                    else ""
                )
            )
        else:
            lines.append(
                f"verification: {v['verified']} of {v['verified'] + len(v['mismatches'])} statically known "
                f"tensor shapes verified; {len(v['mismatches'])} MISMATCH(ES):"
            )
            lines.extend(
                f"  tensor {safe(m['tensor'])} (node {safe(m['node'])}): static {m['static']}, runtime {m['runtime']}"
                for m in v["mismatches"]
            )
        lines.extend(f"  If {safe(b['node'])}: the {b['branch']} ran" for b in v["if_branches"])
    p = d.get("profile")
    if p and "total_ms" in p:
        lines.append(
            f"profile: median of {p['runs']} runs after {p['warmup']} warm-up: {p['total_ms']:.3f} ms per run; "
            f"node kernels {p['nodes_ms']:.3f} ms; {p['threads']} thread(s), graph optimizations {p['optimization']}"
        )
        lines.append(
            "  slowest: "
            + "; ".join(f"{safe(s['name'])} {s['ms']:.3f} ms ({100 * s['share']:.1f}%)" for s in p["slowest"][:5])
        )
    return lines
