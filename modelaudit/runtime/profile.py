"""--profile: onnxruntime's per-node kernel times joined to the report's rows, with their spread.

Each kernel onnxruntime timed is traced to the model's node it stands for (runtime/attribution.py:
with graph optimizations its names are the optimized graph's); a row's time in one run is its
kernels' times summed, and its `ms` the median (p50) over the measured runs, `ms_p90` the 90th
percentile (nearest rank). The whole run's time has both too. Kernel time no row could take is
reported with the reason."""

from __future__ import annotations

import math
import statistics

from modelaudit.costs.report import Report

from .attribution import attribute

__all__ = ["attach_profile", "p90"]

UNMATCHED_LISTED = 5  # the dearest kernels no row took, each with its reason


def p90(values: list[float]) -> float:
    """The 90th percentile by nearest rank: the smallest value at least 90% of the values reach."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]


def _split_runs(events: list[dict], warmup: int) -> tuple[list[float], list[dict[str, float]]]:
    """Run durations (ms) and per-run node times (ms, summed per node), warm-up runs dropped."""
    runs = sorted((e for e in events if e["kind"] == "run"), key=lambda e: e["ts"])
    nodes = sorted((e for e in events if e["kind"] == "node"), key=lambda e: e["ts"])
    per_run: list[dict[str, float]] = [{} for _ in runs]
    position = 0
    for event in nodes:
        while position < len(runs) and event["ts"] > runs[position]["ts"] + runs[position]["dur"]:
            position += 1
        if position == len(runs):
            break
        times = per_run[position]
        times[event["name"]] = times.get(event["name"], 0.0) + event["dur"] / 1000.0
    return [r["dur"] / 1000.0 for r in runs][warmup:], per_run[warmup:]


def _per_row(per_run: list[dict[str, float]], nodes: dict[str, int]) -> dict[int, list[float]]:
    """Each node index's time in every run: its kernels' times summed (0 in a run that had none)."""
    rows: dict[int, list[float]] = {}
    for i, run in enumerate(per_run):
        for kernel, ms in run.items():
            index = nodes.get(kernel)
            if index is not None:
                times = rows.setdefault(index, [0.0] * len(per_run))
                times[i] += ms
    return rows


def _providers(events: list[dict]) -> dict[str, int]:
    """How many kernels each execution provider ran (one run's worth: distinct kernel names)."""
    seen: dict[str, str] = {e["name"]: e.get("provider") or "" for e in events if e["kind"] == "node"}
    counts: dict[str, int] = {}
    for provider in seen.values():
        counts[provider or "unknown"] = counts.get(provider or "unknown", 0) + 1
    return counts


def attach_profile(report: Report, result, names: dict[str, int], request, mg) -> None:
    """Each row's p50 time (`ms`), its rate, and the profile section (`mg`: the model that ran)."""
    totals, per_run = _split_runs(result.profile_events, request.warmup)
    if not totals:
        report.profile = {"skipped": "onnxruntime recorded no runs"}
        return
    kernels = {n for run in per_run for n in run}
    traced = attribute(kernels, names, mg, result.optimized)
    medians = {k: statistics.median(run.get(k, 0.0) for run in per_run) for k in kernels}
    by_index = _per_row(per_run, traced.nodes)
    spread: dict[int, tuple[float, float]] = {i: (statistics.median(t), p90(t)) for i, t in by_index.items()}
    times: list[float | None] = [None] * len(report.rows)  # report.tables["profile"], by row number
    rates: list[float | None] = [None] * len(report.rows)
    for number, row in enumerate(report.rows):
        if row.scope or row.index not in spread:
            continue
        ms = times[number] = spread[row.index][0]
        if row.macs and ms > 0:
            rates[number] = row.macs / (ms / 1000.0) / 1e9
    report.tables["profile"] = {"ms": times, "gmacs_per_s": rates}
    nodes_ms = sum(medians.values())
    unmatched = sorted(traced.why, key=lambda k: -medians[k])
    unmatched_ms = sum(medians[k] for k in unmatched)
    total_ms = statistics.median(totals)
    modules = report.columns().column("module")
    timed = [(r, m, spread[r.index]) for r, m in zip(report.rows, modules) if not r.scope and r.index in spread]
    slowest = sorted(timed, key=lambda row_module_spread: -row_module_spread[2][0])[:10]
    ops = {e["name"]: e["op"] for e in result.profile_events if e["kind"] == "node"}
    report.profile = {
        "runs": len(totals),
        "warmup": request.warmup,
        "threads": request.threads,
        "optimization": request.optimization,
        "provider": result.provider,
        "kernels_by_provider": _providers(result.profile_events),
        "total_ms": total_ms,
        "total_p90_ms": p90(totals),
        "nodes_ms": nodes_ms,
        "unmatched_ms": unmatched_ms,
        # the profile's own column beside `ms` (each row's p50): a top-level row's index -> its p90
        "p90_ms_by_index": {i: high for i, (_, high) in sorted(spread.items())},
        "unmatched": [
            {"kernel": k, "op": ops.get(k, ""), "ms": medians[k], "why": traced.why[k]}
            for k in unmatched[:UNMATCHED_LISTED]
        ],
        "slowest": [
            {
                "name": r.name,
                "module": module,
                "op": r.op,
                "ms": ms,
                "p90_ms": high,
                "share": ms / total_ms if total_ms else 0.0,
                "macs": r.macs,
            }
            for r, module, (ms, high) in slowest
        ],
    }
