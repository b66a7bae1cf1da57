"""What every format shares: human numbers, safe text, row selection, the totals and notices."""

from __future__ import annotations

import re
import shlex
from collections import Counter

from modelaudit.costs.blocks import by_op, formula_rows
from modelaudit.costs.report import revive_document
from modelaudit.encoding import name, names
from modelaudit.figures import Figure
from modelaudit.units import exact, human, human_bytes

from .select import SORT_KEYS, select_rows, top_line
from .symbolic import symbolic_lines, symbolic_totals

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
    "finding_lines",
    "finding_texts",
    "model_line",
    "gate_tables",
    "symbolic_lines",
    "runtime_lines",
    "formula_rows",
]

# Model text enters every format through modelaudit.encoding: safe() is its name() (escaped for the
# format being written and cut in the middle), safe_column() its names() (a column checked at once in C).
safe, safe_column = name, names


def resolve_hint(d: dict) -> str:
    """Why some totals are unknown, and the flags that resolve them: `resolve with --dim batch=N`."""
    # an entry may name several flags (`--dim batch=N --dim seq=N`) that others name alone: each once
    flags = list(dict.fromkeys(f for u in d["unresolved"] for f in re.split(r" (?=--)", u["flag"])))
    parts = [f"resolve with {safe(' '.join(flags), 400)}"] if flags else []
    if d["uncounted"]:
        parts.append("no rule for " + ", ".join(f"{safe(u['op'])} ×{u['count']}" for u in d["uncounted"]))
    return "; ".join(parts)


def _shown(value: Figure, fmt, exact_too: bool = True) -> str:
    """`50.0 K (49,984)`, `≥ 8 (8)` for a floor, `?` when unknown."""
    number = value.lower if value.lower is not None else value.upper
    return fmt(value) + (f" ({exact(number)})" if exact_too and number is not None else "")


def _total(value: Figure, fmt, unknown: int, hint: str, exact_too: bool = True) -> str:
    """A total; an incomplete one is a lower bound (`≥`) and never a 0: with nothing known, `unknown`."""
    if value.complete:
        return _shown(value, fmt, exact_too)
    why = f"{unknown} node(s) unknown" if unknown else "partly unknown (see the warnings)"
    if value.lower is not None:
        return f"{_shown(value, fmt, exact_too)}, incomplete: {why}" + (f" ({hint})" if hint else "")
    return (f"unknown: {unknown} node(s) not costed" if unknown else f"unknown: {why}") + (f" ({hint})" if hint else "")


def summary(d: dict) -> list[tuple[str, str]]:
    """(label, value) lines of the totals; under --symbolic the costs are its formulas."""
    t, rows = revive_document(d)["totals"], d["rows"]
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
    peak = t["peak_activation_bytes"]
    lines = [
        ("params", _shown(t["params"], human)),
        ("non-trainable", _shown(t["non_trainable"], human)),
        ("weight bytes", human_bytes(t["weight_bytes"]) + (f" ({by_dtype})" if by_dtype else "")),
        ("MACs", _total(t["macs"], human, unknown, hint)),
        ("FLOPs", _total(t["flops"], human, unknown, hint)),
        (
            "activation bytes",
            _total(t["activation_bytes"], human_bytes, no_bytes, hint, False)
            + (" (sum of node outputs)" if t["activation_bytes"].complete else ""),
        ),
        (
            "peak activations",
            _total(peak, human_bytes, no_bytes, hint, False)
            + (" (estimated: each tensor freed after its last reader)" if peak.lower else ""),
        ),
        ("nodes", f"{t['nodes']} (" + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) + ")"),
    ]
    return symbolic_totals(d, lines) + _training_lines(d, hint)


def _training_lines(d: dict, hint: str) -> list[tuple[str, str]]:
    tr = revive_document(d).get("training")
    if not tr:
        return []
    unknown = tr.get("unknown_nodes", 0)  # unknown forward MACs: the sums are floors
    saved = tr["saved_activation_bytes"]
    lines = [
        ("backward MACs", _total(tr["backward_macs"], human, unknown, hint)),
        ("backward FLOPs", _total(tr["backward_flops"], human, unknown, hint)),
        ("saved for backward", human_bytes(saved) + " (activations kept for the backward pass)"),
        ("training MACs", _total(tr["training_macs"], human, unknown, hint, False) + " per step (forward + backward)"),
    ]
    per_sample = tr["training_macs_per_sample"]
    if per_sample is not None and per_sample.complete:
        lines.append(("per sample", f"{human(per_sample)} MACs (batch {tr['batch']})"))
    return lines


def finding_lines(d: dict) -> list[str]:
    """Findings of warning severity and worse, and how many notes `modelaudit lint` would add."""
    found = d.get("findings") or []
    lines = finding_texts([f for f in found if f["severity"] != "note"])
    notes: dict[str, int] = {}
    for f in found:
        if f["severity"] == "note":
            notes[f["code"]] = notes.get(f["code"], 0) + 1
    if notes:
        kinds = ", ".join(f"{code} ×{n}" for code, n in sorted(notes.items()))
        path = d["model"].get("path")
        model = shlex.quote(safe(path, 400)) if path else "MODEL"
        lines.append(
            f"{sum(notes.values())} note(s) ({kinds}); list them with `modelaudit lint {model} --min-severity note`"
        )
    return lines


GROUPED_FROM = 3  # findings of one code and message on this many targets or more are one line


def finding_texts(found: list[dict]) -> list[str]:
    """A line per finding (`MA002 warning: w: unused initializer…`); the findings that say the same
    of many targets (an Identity node after every layer of a TorchScript export) in one line that
    counts them and names the first few."""
    groups: dict[tuple, list[str]] = {}
    for f in found:
        groups.setdefault((f["code"], f["severity"], f["message"]), []).append(f["target"])
    lines = []
    for (code, severity, message), targets in groups.items():
        if len(targets) < GROUPED_FROM:
            lines += [f"{code} {severity}: {safe(t)}: {safe(message, 400)}" for t in targets]
            continue
        named = ", ".join(safe(t) for t in targets[:3]) + (f", … {len(targets) - 3} more" if len(targets) > 3 else "")
        lines.append(f"{code} {severity}: {len(targets)} nodes ({named}): {safe(message, 400)}")
    return lines


def notices(d: dict) -> list[str]:
    """Uncounted ops, unresolved dims with the flag that resolves them, and warnings."""
    lines = finding_lines(d)
    if d["uncounted"]:
        ops = ", ".join(f"{safe(u['op'])} ×{u['count']}" for u in d["uncounted"])
        lines.append(f"uncounted ops (no rule; their MACs and FLOPs are unknown, not zero): {ops}")
    lines += unresolved_lines(d)
    lines.extend(f"warning: {safe(w, 400)}" for w in d["warnings"])
    return lines


def unresolved_lines(d: dict) -> list[str]:
    """A line per unresolved dim and the flag that resolves it; the dims computed by expressions
    (`floor(height/2 - 1/2) + 1`, 200 characters in a detector's export, a dozen of them) in one
    line that says the shortest once."""
    variables = set((d.get("symbolic") or {}).get("variables", ()))  # under --symbolic: not unresolved
    named = [u for u in d["unresolved"] if u["dim"] not in variables]
    computed = [u for u in named if _computed(u["dim"])]
    if len(computed) < 2:
        computed = []
    lines = [
        f"unresolved dim {safe(u['dim'])} in {u['nodes']} node(s): resolve with {safe(u['flag'], 400)}"
        for u in named
        if u not in computed
    ]
    if computed:
        dims = {u["dim"] for u in computed}
        nodes = sum(1 for row_dims in d["rows"].column("unresolved") if not dims.isdisjoint(row_dims))
        flags = " ".join(dict.fromkeys(f for u in computed for f in re.split(r" (?=--)", u["flag"])))
        shortest = min(dims, key=lambda dim: (len(dim), dim))
        lines.append(
            f"unresolved: {len(dims)} dims computed from input dims (e.g. {safe(shortest, 400)}) "
            f"in {nodes} node(s): resolve with {safe(flags, 400)}"
        )
    return lines


def _computed(dim: str) -> bool:
    """A dim written as an expression (not a name, a number or `?`)."""
    return not (dim.isidentifier() or dim.isdigit() or dim == "?")


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
        lines += profile_lines(p)
    return lines


def _named(node: dict) -> str:
    """A node's name, with its module where the name does not say it (dynamo's `node_Conv_892`)."""
    module = node.get("module") or ""
    if not module or module.rpartition("/")[2] in node["name"]:
        return safe(node["name"])
    return f"{safe(node['name'])} [{safe(module)}]"


def profile_lines(p: dict) -> list[str]:
    """--profile's run: its time (p50 and p90), the kernels' and what of it no row could take."""
    runs = f"{p['runs']} runs after {p['warmup']} warm-up"
    provider = p.get("provider", "CPUExecutionProvider")
    lines = [
        f"profile: {runs}: {p['total_ms']:.3f} ms per run (p50), {p.get('total_p90_ms', p['total_ms']):.3f} ms (p90); "
        f"node kernels {p['nodes_ms']:.3f} ms; {p['threads']} thread(s) on {provider}, "
        f"graph optimizations {p['optimization']}",
        "  slowest: "
        + "; ".join(
            f"{_named(s)} {s['ms']:.3f} ms (p90 {s.get('p90_ms', s['ms']):.3f}, {100 * s['share']:.1f}%)"
            for s in p["slowest"][:5]
        ),
    ]
    unmatched = p.get("unmatched_ms", 0.0)
    share = unmatched / p["nodes_ms"] if p["nodes_ms"] else 0.0
    line = f"  kernel time on no row: {unmatched:.3f} ms ({100 * share:.1f}% of the kernels')"
    listed = p.get("unmatched") or []
    if listed:
        first = listed[0]
        line += f"; the most, {safe(first['kernel'])} ({safe(first['op'])}) {first['ms']:.3f} ms: {first['why']}"
    return lines + [line]
