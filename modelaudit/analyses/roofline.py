"""Roofline time bounds: per row, FLOPs per byte moved, compute- or memory-bound, and the least time
the chip needs, max(FLOPs / peak, bytes / bandwidth); per-node overhead against the whole."""

from __future__ import annotations

from typing import Any

from modelaudit.costs.report import Report

from .hardware import HardwareSpec

__all__ = ["roofline", "attach_roofline", "compare_profile", "generation_roofline"]


def _row_bound(row: dict, spec: HardwareSpec) -> dict:
    """One row's intensity, bound and time; rows that run no kernel get none."""
    if row.get("status") == "constant" or not row.get("runs", 1):
        return {}
    moved = [row.get("weight_bytes"), row.get("input_bytes"), row.get("output_bytes")]
    flops = row.get("flops")
    if flops is None or None in moved:
        return {"bound": "unknown"}
    moved_bytes = sum(m or 0 for m in moved)
    if not flops and not moved_bytes:
        return {}  # a view (Reshape, Squeeze…) or a shape query: no kernel work
    peak, key = spec.flops_per_s(row.get("dtype", "float32"))
    compute_ms = 1e3 * flops / peak if peak else 0.0
    memory_ms = 1e3 * moved_bytes / spec.bytes_per_s
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
    """(per-row bounds, totals) for rows carrying flops, weight/input/output bytes, dtype, runs and status."""
    bounds = [_row_bound(r, spec) for r in rows]
    timed = [b for b in bounds if "roofline_ms" in b]
    total = sum(b["roofline_ms"] for b in timed)
    flops_by_dtype: dict[str, float] = {}
    for r, b in zip(rows, bounds):
        if "peak_dtype" in b:
            flops_by_dtype[b["peak_dtype"]] = flops_by_dtype.get(b["peak_dtype"], 0) + (r.get("flops") or 0)
    dtype = max(flops_by_dtype, key=flops_by_dtype.__getitem__) if flops_by_dtype else "fp32"
    peak, dtype = spec.flops_per_s(dtype)
    kernels = len(timed)
    overhead_ms = kernels * spec.overhead_us / 1e3
    compute_ms = sum(b["roofline_ms"] for b in timed if b["bound"] == "compute")
    memory_ms = total - compute_ms
    if overhead_ms > total:
        verdict = "overhead"
    else:
        verdict = "compute" if compute_ms >= memory_ms else "memory"
    totals = {
        "roofline_ms": total,
        "compute_bound_ms": compute_ms,
        "memory_bound_ms": memory_ms,
        "kernels": kernels,
        "overhead_ms": overhead_ms,
        "with_overhead_ms": total + overhead_ms,
        "bound": verdict,
        "dtype": dtype,
        "peak_flops_per_s": peak,
        "bytes_per_s": spec.bytes_per_s,
        "ridge_flops_per_byte": peak / spec.bytes_per_s,
        "unknown_rows": sum(1 for b in bounds if b.get("bound") == "unknown"),
    }
    return bounds, totals


def attach_roofline(report: Report, traffic: list[dict], spec: HardwareSpec) -> None:
    """Each row's bytes read, intensity, bound and time (report.tables["roofline"]) and a `roofline`
    section; with a profile, measured against bound."""
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
    report.roofline = {"hardware": spec.as_dict(), "totals": totals}
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


def generation_roofline(g: dict, spec: HardwareSpec) -> None:
    """Each phase's time bound and a tokens-per-second bound for decoding, added to a --decode result."""
    for col in g["columns"]:
        for phase in ("prefill", "decode_per_token"):
            step = col[phase]
            if step is None:
                continue
            rows = [dict(r, runs=1 if r["runs"] else 0) for r in step["rows"]]  # flops are already × runs
            bounds, totals = roofline(rows, spec)
            for r, b in zip(step["rows"], bounds):
                r["roofline_ms"], r["bound"] = b.get("roofline_ms"), b.get("bound")
            step["roofline"] = totals
        decode = col["decode_per_token"]["roofline"]
        col["tokens_per_s"] = 1e3 * g["batch"] / decode["roofline_ms"] if decode["roofline_ms"] else None
        col["tokens_per_s_with_overhead"] = (
            1e3 * g["batch"] / decode["with_overhead_ms"] if decode["with_overhead_ms"] else None
        )
    last = g["columns"][-1]
    t = last["decode_per_token"]["roofline"]
    lines = [
        f"roofline on {spec.name}: {t['peak_flops_per_s'] / 1e12:.4g} TFLOP/s {t['dtype']}, "
        f"{spec.bytes_per_s / 1e9:.4g} GB/s, ridge {t['ridge_flops_per_byte']:.1f} FLOP/byte ({spec.source})"
    ]
    if last["tokens_per_s"]:
        lines.append(
            f"decoding at context {last['context']:,} is {t['bound']}-bound: at most "
            f"{last['tokens_per_s']:,.1f} tokens/s at batch {g['batch']} by the roofline "
            f"({t['roofline_ms']:.4g} ms per step: every weight and the KV cache read once per step)"
        )
    if t["overhead_ms"]:
        lines.append(
            f"per-node overhead adds {t['kernels']} kernels × {spec.overhead_us:g} µs = "
            f"{t['overhead_ms']:.4g} ms per step: {last['tokens_per_s_with_overhead']:,.1f} tokens/s, "
            "unless the runtime fuses its kernels or replays them as one graph"
        )
    g["tokens_per_s"], g["tokens_per_s_with_overhead"] = last["tokens_per_s"], last["tokens_per_s_with_overhead"]
    g["hardware"] = {"spec": spec.as_dict(), "lines": lines}
