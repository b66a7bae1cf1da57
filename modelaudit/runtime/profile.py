"""--profile: onnxruntime's per-node kernel times (median over runs) joined to the report's rows."""

from __future__ import annotations

import statistics

from modelaudit.costs.report import Report

__all__ = ["attach_profile"]


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


def attach_profile(report: Report, result, names: dict[str, int], request) -> None:
    totals, per_run = _split_runs(result.profile_events, request.warmup)
    if not totals:
        report.profile = {"skipped": "onnxruntime recorded no runs"}
        return
    medians: dict[str, float] = {}
    for name in {n for run in per_run for n in run}:
        medians[name] = statistics.median(run.get(name, 0.0) for run in per_run)
    total_ms = statistics.median(totals)
    by_index = {names[n]: ms for n, ms in medians.items() if n in names}
    times: list[float | None] = [None] * len(report.rows)
    rates: list[float | None] = [None] * len(report.rows)
    for number, row in enumerate(report.rows):
        if row.scope or row.index not in by_index:
            continue
        ms = times[number] = by_index[row.index]
        if row.macs and ms > 0:
            rates[number] = row.macs / (ms / 1000.0) / 1e9
    report.tables["profile"] = {"ms": times, "gmacs_per_s": rates}
    unmatched = sum(ms for n, ms in medians.items() if n not in names)
    timed = {number: ms for number, ms in enumerate(times) if ms is not None}
    slowest = sorted(timed, key=lambda number: -timed[number])[:10]
    report.profile = {
        "runs": len(totals),
        "warmup": request.warmup,
        "threads": request.threads,
        "optimization": request.optimization,
        "total_ms": total_ms,
        "nodes_ms": sum(medians.values()),
        "unmatched_ms": unmatched,
        "slowest": [
            {
                "name": report.rows[number].name,
                "op": report.rows[number].op,
                "ms": timed[number],
                "share": timed[number] / total_ms if total_ms else 0.0,
                "macs": report.rows[number].macs,
            }
            for number in slowest
        ],
    }
