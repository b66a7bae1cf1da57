"""A generation's decode steps, summed without auditing each: step k (k = 0 … count − 1) has
first + k tokens cached, and every per-row cost of a decoder's step is affine in that length (a
matmul over the weights does not change, attention grows by one position a step). The steps are
audited at the first, the last and the middle cached length; a row whose three values lie on a line
is summed in closed form, Σ = count·(first + last)/2. Where one does not, every step is audited (up
to `max_steps`), else that row's cost is unknown. Time bounds are summed step by step from the same
lines, each step's the largest of its roofline and its kernels' launch overhead."""

from __future__ import annotations

import numpy as np

from modelaudit.figures import Figure, figure_sum

from .generation import SUMMED, Run, phase
from .roofline import ACCOUNTINGS, _row_bound, rate, step_roofline

__all__ = ["StepSeries"]

_CHUNK = 4096  # steps evaluated at once


class StepSeries:
    def __init__(self, run: Run, first_past: int, count: int, max_steps: int):
        self.count, self.first_past = count, first_past
        self.first = self.last = self.mid = None
        self.every: list[dict] | None = None
        if not count:
            self.per_token = None
            return
        self.first = phase(run, 1, first_past, f"decode with {first_past:,} cached")
        self.per_token = self.first["kv_cache_bytes_per_token"]
        if count >= 2:
            self.last = phase(run, 1, first_past + count - 1, f"decode with {first_past + count - 1:,} cached")
        else:
            self.last = self.first
        self.middle = (count - 1) // 2
        if count >= 3:
            self.mid = phase(run, 1, first_past + self.middle, f"decode with {first_past + self.middle:,} cached")
        self.affine = self._affine()
        if not self.affine and count <= max_steps:
            self.every = [phase(run, 1, first_past + k, f"decode with {first_past + k:,} cached") for k in range(count)]

    def _affine(self) -> bool:
        if self.mid is None:
            return True
        n1, m = self.count - 1, self.middle
        for a, b, c in zip(self.first["rows"], self.mid["rows"], self.last["rows"]):  # type: ignore[index]
            for key in (*SUMMED, "input_bytes"):
                x, y, z = a[key], b[key], c[key]
                if None not in (x, y, z) and (y - x) * n1 != (z - x) * m:
                    return False
        return True

    def _row_sum(self, i: int, key: str) -> int | None:
        if self.every is not None:
            values = [step["rows"][i][key] for step in self.every]
            return None if None in values else sum(values)
        if not self.affine:
            return None
        x, z = self.first["rows"][i][key], self.last["rows"][i][key]  # type: ignore[index]
        return None if x is None or z is None else self.count * (x + z) // 2

    def totals(self) -> dict[str, Figure]:
        """Each summed quantity over every decode step (empty without a step)."""
        if not self.count:
            return {}
        rows = self.first["rows"]  # type: ignore[index]
        out = {key: figure_sum(self._row_sum(i, key) for i, r in enumerate(rows) if r["runs"]) for key in SUMMED}
        incomplete = [
            s for s in (self.first, self.mid, self.last) if s is not None and not s["totals"]["macs"].complete
        ]
        if incomplete:
            out["macs"] = out["macs"] + Figure.unknown()
            out["flops"] = out["flops"] + Figure.unknown()
        return out

    def roofline(self, prefill: dict, spec, batch: int) -> dict:
        """Time to first token (the prefill's bound), time per output token (the decode steps' mean),
        the end-to-end bound and tokens/s (the output tokens over it; and batch over the time per
        output token), in both accountings."""
        first = step_roofline(prefill, spec)
        out = {}
        for acc in ACCOUNTINGS:
            decode, bound = self._decode_ms(spec, acc)
            ttft = first[acc]["time_ms"]
            e2e = ttft + decode
            tpot = decode * (1 / self.count) if self.count else None
            out[acc] = {
                "ttft_ms": ttft,
                "tpot_ms": tpot,
                "decode_ms": decode,
                "e2e_ms": e2e,
                "tokens_per_s": rate(e2e, batch * (self.count + 1)),
                "decode_tokens_per_s": None if tpot is None else rate(tpot, batch),
                "bound_prefill": first[acc]["bound"],
                "bound_decode": bound,
                "kernels": first[acc]["kernels"],
            }
        return out

    def _decode_ms(self, spec, acc: str) -> tuple[Figure, str | None]:
        """Σ over the steps of max(roofline, overhead), the roofline of each row (or fused kernel)
        at that step max(FLOPs / peak, bytes / bandwidth); and what bounds the last step."""
        if not self.count:
            return Figure.exact(0), None
        if self.every is not None:
            times = [step_roofline(s, spec)[acc]["time_ms"] for s in self.every]
            return sum(times, Figure.exact(0)), self.every[-1]["roofline"][acc]["bound"]
        bound = step_roofline(self.last, spec)[acc]["bound"]  # type: ignore[arg-type]
        step_roofline(self.first, spec)  # type: ignore[arg-type]
        if not self.affine:
            return Figure.unknown(), bound
        (c0, c1, m0, m1), unknown, overhead_ms = _time_lines(self.first, self.last, spec, acc)  # type: ignore[arg-type]
        total = 0.0
        for start in range(0, self.count, _CHUNK):
            k = np.arange(start, min(start + _CHUNK, self.count), dtype=np.float64)[:, None]
            step = np.maximum(c0 + c1 * k, m0 + m1 * k).sum(axis=1) if c0.size else np.zeros(k.shape[0])
            total += float(np.maximum(step, overhead_ms).sum())
        return (Figure.at_least(total) if unknown else Figure.exact(total)), bound


def _time_lines(first: dict, last: dict, spec, acc: str):
    """Per timed row (or fused kernel): compute and memory ms at the first step and their slope per
    step; how many are of unknown size; the launch overhead of one step."""
    count = last["past"] - first["past"]
    ends = [_units(s, spec, acc) for s in (first, last)]
    keys = set(ends[0][0]) | set(ends[1][0])
    c0, c1, m0, m1 = [], [], [], []
    for key in keys:
        a, b = ends[0][0].get(key), ends[1][0].get(key)
        if a is None or b is None:
            continue
        c0.append(a[0])
        m0.append(a[1])
        c1.append((b[0] - a[0]) / count if count else 0.0)
        m1.append((b[1] - a[1]) / count if count else 0.0)
    unknown = max(ends[0][1], ends[1][1])
    arrays = tuple(np.array(v, dtype=np.float64) for v in (c0, c1, m0, m1))
    return arrays, unknown, ends[1][2]


def _units(step: dict, spec, acc: str) -> tuple[dict, int, float]:
    """{row or kernel: (compute ms, memory ms)}, the count of unknown ones, the overhead ms."""
    rows = [dict(r, runs=1 if r["runs"] else 0) for r in step["rows"]]
    if acc == "fused":
        groups: dict[int, dict] = {}
        for r in rows:
            k = r["kernel"]
            if k is None:
                continue
            g = groups.setdefault(k, {"flops": 0, "input_bytes": 0, "dtype": rows[k]["dtype"]})
            g["flops"] = None if r["flops"] is None or g["flops"] is None else g["flops"] + r["flops"]
            moved = r["fused_bytes"]
            g["input_bytes"] = None if moved is None or g["input_bytes"] is None else g["input_bytes"] + moved
        rows = [dict(g, weight_bytes=0, output_bytes=0, runs=1, status="counted") for g in groups.values()]
    bounds = [_row_bound(r, spec) for r in rows]
    units = {i: (b["compute_ms"], b["memory_ms"]) for i, b in enumerate(bounds) if "roofline_ms" in b}
    unknown = sum(1 for b in bounds if b.get("bound") == "unknown")
    return units, unknown, (len(units) + unknown) * spec.overhead_us / 1e3
