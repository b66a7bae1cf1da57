"""Roofline time bounds: per row, FLOPs per byte moved, compute- or memory-bound, and the least time
the chip needs, max(FLOPs / peak, bytes / bandwidth); per-node overhead against the whole; the same
for the graph as a fused runtime runs it (fusion.py)."""

from __future__ import annotations

from typing import Any

from modelaudit.costs.report import Report
from modelaudit.figures import Figure

from .hardware import HardwareSpec

__all__ = [
    "roofline",
    "fused_roofline",
    "as_json",
    "attach_hardware",
    "attach_roofline",
    "compare_profile",
    "generation_roofline",
    "step_roofline",
    "rate",
    "ACCOUNTINGS",
]


def _row_bound(row: dict, spec: HardwareSpec) -> dict:
    """One row's intensity, bound and time; rows that run no kernel get none."""
    if row.get("status") == "constant" or not row.get("runs", 1):
        return {}
    moved = [row.get("weight_bytes"), row.get("input_bytes"), row.get("output_bytes")]
    flops = row.get("flops")
    if flops is None or None in moved:
        return {"bound": "unknown"}
    moved_bytes = sum(m for m in moved if m is not None)
    if not flops and not moved_bytes:
        return {}  # a view (Reshape, Squeeze…) or a shape query: no kernel work
    peak, key = spec.flops_per_s(row.get("dtype", "float32"))
    compute_ms = 1e3 * flops / peak if peak else 0.0
    memory_ms = 1e3 * moved_bytes / spec.rate_for(moved_bytes)
    runs = row.get("runs", 1) or 1
    return {
        "intensity": flops / moved_bytes if moved_bytes else None,
        "bytes_moved": moved_bytes,
        "bound": "compute" if compute_ms >= memory_ms else "memory",
        "peak_dtype": key,
        "compute_ms": compute_ms * runs,
        "memory_ms": memory_ms * runs,
        "roofline_ms": max(compute_ms, memory_ms) * runs,
    }


def roofline(rows: list[dict], spec: HardwareSpec) -> tuple[list[dict], dict]:
    """(per-row bounds, totals) for rows carrying flops, weight/input/output bytes, dtype, runs and
    status. The totals' times are Figures: a row of unknown shape leaves the roofline a lower bound
    (`≥`), or unknown when nothing is known, never 0; the time bound is the largest of its bounds
    (the roofline, and the kernels' launch overhead)."""
    bounds = [_row_bound(r, spec) for r in rows]
    timed = [b for b in bounds if "roofline_ms" in b]
    unknown = sum(1 for b in bounds if b.get("bound") == "unknown")
    flops_by_dtype: dict[str, float] = {}
    for r, b in zip(rows, bounds):
        if "peak_dtype" in b:
            flops_by_dtype[b["peak_dtype"]] = flops_by_dtype.get(b["peak_dtype"], 0) + (r.get("flops") or 0)
    dtype = max(flops_by_dtype, key=flops_by_dtype.__getitem__) if flops_by_dtype else "fp32"
    peak, dtype = spec.flops_per_s(dtype)
    return bounds, _totals(timed, unknown, spec, peak, dtype)


def _totals(timed: list[dict], unknown: int, spec: HardwareSpec, peak: float, dtype: str) -> dict:
    def part(bound: str | None) -> Figure:
        ms = sum(b["roofline_ms"] for b in timed if bound is None or b["bound"] == bound)
        return Figure.exact(ms) if not unknown else Figure.at_least(ms)

    total = part(None)
    kernels = len(timed) + unknown  # a node of unknown shape launches its kernel all the same
    overhead = Figure.exact(kernels * spec.overhead_us / 1e3)
    compute, memory = part("compute"), part("memory")
    if unknown:
        verdict = "unknown"  # the rows not known may tip it either way
    elif overhead.value > total.value:  # type: ignore[operator]
        verdict = "overhead"
    else:
        verdict = "compute" if compute.value >= memory.value else "memory"  # type: ignore[operator]
    return {
        "roofline_ms": total,
        "compute_bound_ms": compute,
        "memory_bound_ms": memory,
        "kernels": kernels,
        "overhead_ms": overhead,
        "time_ms": Figure.largest(total, overhead),
        "bound": verdict,
        "dtype": dtype,
        "peak_flops_per_s": peak,
        "bytes_per_s": spec.bytes_per_s,
        "ridge_flops_per_byte": peak / spec.bytes_per_s,
        "unknown_rows": unknown,
    }


def fused_roofline(rows: list[dict], fused: list[dict], spec: HardwareSpec) -> dict:
    """The totals of the fused accounting: one bound per kernel, over its rows' FLOPs (× runs) and
    the bytes the kernel moves (fusion.py), at the dtype of the row that leads it."""
    kernels: dict[int, dict] = {}
    for r, f in zip(rows, fused):
        k = f["kernel"]
        if k is None:
            continue
        runs = r.get("runs", 1) or 0
        flops = None if r.get("flops") is None else r["flops"] * runs
        moved = None if f["bytes"] is None else f["bytes"] * runs
        group = kernels.setdefault(k, {"flops": 0, "input_bytes": 0, "dtype": rows[k].get("dtype", "float32")})
        group["flops"] = None if flops is None or group["flops"] is None else group["flops"] + flops
        group["input_bytes"] = None if moved is None or group["input_bytes"] is None else group["input_bytes"] + moved
    merged = [dict(g, weight_bytes=0, output_bytes=0, runs=1, status="counted") for g in kernels.values()]
    return roofline(merged, spec)[1]


def as_json(totals: dict) -> dict:
    """The totals with each Figure as its JSON form ({"value", "bound"})."""
    return {k: v.as_dict() if isinstance(v, Figure) else v for k, v in totals.items()}


def attach_hardware(mg, report: Report, spec: HardwareSpec) -> None:
    """--hardware on one audit: the bytes each row moves, as written and fused, and their bounds."""
    from .fusion import fused_traffic
    from .traffic import row_traffic

    traffic = row_traffic(mg, report)
    nested = {i for i, r in enumerate(report.rows) if r.scope}
    fused = fused_traffic(report.rows, traffic, mg.nbytes, set(mg.outputs), None, nested)
    attach_roofline(report, traffic, spec, fused)


def attach_roofline(report: Report, traffic: list[dict], spec: HardwareSpec, fused: list[dict] | None = None) -> None:
    """Each row's bytes read, intensity, bound and time (report.tables["roofline"]) and a `roofline`
    section (with `fused`, the fused accounting's totals beside); with a profile, measured against
    bound."""
    rows = [
        {
            "flops": r.flops,
            "runs": r.runs,
            "status": r.status,
            **{k: t[k] for k in ("weight_bytes", "input_bytes", "output_bytes", "dtype")},
        }
        for r, t in zip(report.rows, traffic)
    ]
    bounds, totals = roofline(rows, spec)
    table: dict[str, list[Any]] = {
        "weight_bytes_read": [t["weight_bytes"] for t in traffic],
        "input_bytes": [t["input_bytes"] for t in traffic],
    }
    for key in ("intensity", "bound", "roofline_ms"):
        table[key] = [b.get(key) for b in bounds]
    report.tables["roofline"] = table
    report.roofline = {"hardware": spec.as_dict(), "totals": as_json(totals)}
    if fused is not None:
        report.roofline["fused"] = as_json(fused_roofline(rows, fused, spec))
    if report.profile and "total_ms" in report.profile:
        times = report.tables.get("profile", {}).get("ms") or [None] * len(report.rows)
        report.roofline["profile"] = compare_profile(report, times, table, report.profile["total_ms"])


def compare_profile(report: Report, times: list, table: dict, total_ms: float, top: int = 5) -> dict:
    """Measured against bound, per row (`bound_ratio` in the roofline `table`); the layers furthest
    from their bound, among those that take at least 1% of the run (below that, timer resolution
    and dispatch dominate)."""
    bound_ms = table["roofline_ms"]
    pairs = [n for n, ms in enumerate(times) if ms is not None and bound_ms[n]]
    ratios: dict[int, float] = {n: times[n] / bound_ms[n] for n in pairs}
    table["bound_ratio"] = [ratios.get(n) for n in range(len(times))]
    big = [n for n in pairs if times[n] >= 0.01 * total_ms]
    furthest = sorted(big, key=lambda n: -ratios[n])[:top]
    measured = sum(times[n] for n in pairs)
    bound = sum(bound_ms[n] for n in pairs)
    return {
        "measured_ms": measured,
        "bound_ms": bound,
        "ratio": measured / bound if bound else None,
        "furthest": [
            {
                "name": report.rows[n].name,
                "op": report.rows[n].op_label,
                "ms": times[n],
                "roofline_ms": bound_ms[n],
                "ratio": ratios[n],
                "bound": table["bound"][n],
            }
            for n in furthest
        ],
    }


def step_roofline(step: dict, spec: HardwareSpec) -> dict:
    """One generation step's totals in both accountings; its rows gain their as-written bound."""
    rows = [dict(r, runs=1 if r["runs"] else 0) for r in step["rows"]]  # flops are already × runs
    bounds, written = roofline(rows, spec)
    for r, b in zip(step["rows"], bounds):
        r["roofline_ms"], r["bound"] = b.get("roofline_ms"), b.get("bound")
    fused = fused_roofline(rows, [{"kernel": r["kernel"], "bytes": r["fused_bytes"]} for r in rows], spec)
    step["roofline"] = {"as_written": written, "fused": fused}
    return step["roofline"]


ACCOUNTINGS = ("as_written", "fused")


def rate(time_ms: Figure, tokens: int) -> Figure:
    """Tokens per second from a time bound: the smallest rate the bound allows is an upper bound."""
    if time_ms.lower == 0:
        return Figure.unknown()
    return time_ms.map(lambda ms: 1e3 * tokens / ms, decreasing=True)


def generation_roofline(g: dict, spec: HardwareSpec) -> None:
    """Each phase's time bounds (as written and fused) and a tokens-per-second bound for decoding
    (batch / the decode step's time bound), added to a --decode result."""
    for col in g["columns"]:
        for name in ("prefill", "decode_step"):
            if col[name] is not None:
                step_roofline(col[name], spec)
        decode = col["decode_step"]["roofline"]
        col["tokens_per_s"] = {a: rate(decode[a]["time_ms"], col.get("batch", g["batch"])) for a in ACCOUNTINGS}
    g["tokens_per_s"] = g["columns"][-1]["tokens_per_s"]
    g["hardware"] = {"spec": spec.as_dict(), "lines": decode_lines(g, spec)}


def decode_lines(g: dict, spec: HardwareSpec) -> list[str]:
    """What the decode columns' bounds say, in words: the chip, each accounting at the largest
    context, and what the per-kernel overhead takes."""
    last = g["columns"][-1]
    t = last["decode_step"]["roofline"]
    w, f = t["as_written"], t["fused"]
    kind = "attainable" if w["dtype"] in spec.attainable_tflops else "datasheet"
    lines = [
        f"roofline on {spec.name}: {w['peak_flops_per_s'] / 1e12:.4g} TFLOP/s {w['dtype']} ({kind}), "
        f"{spec.bytes_per_s / 1e9:,.4g} GB/s, ridge {w['ridge_flops_per_byte']:.1f} FLOP/byte"
    ]
    for label, totals, what in (
        ("as written", w, "every node of the graph reads its inputs and writes its outputs"),
        ("fused", f, "views, elementwise ops and attention fused; the cache read once, appended in place"),
    ):
        tokens = last["tokens_per_s"]["as_written" if totals is w else "fused"]
        lines.append(
            f"decode at {last.get('label', 'context ' + format(last['context'], ','))}, {label} ({what}): "
            f"{_ms(totals['time_ms'])} a step, {_verdict(totals)}: {tokens.text(lambda v: f'{v:,.1f}')} tokens/s "
            f"at batch {last.get('batch', g['batch'])}"
        )
    return lines


def _ms(value: Figure) -> str:
    return value.text(lambda ms: f"{ms:.3g} ms" if ms >= 0.1 else f"{ms * 1e3:.3g} µs")


def _verdict(totals: dict) -> str:
    """Which bound decides the time, and the overhead's share when the kernels' launches do."""
    overhead = f"{totals['kernels']} kernels × launch = {_ms(totals['overhead_ms'])}"
    if totals["bound"] == "overhead":
        return f"bound by per-kernel overhead ({overhead}; the roofline alone {_ms(totals['roofline_ms'])})"
    if totals["bound"] == "unknown":
        return f"bound unknown ({totals['unknown_rows']} row(s) of unknown shape; {overhead})"
    return f"{totals['bound']}-bound ({overhead})"
