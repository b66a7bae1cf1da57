"""Does it fit: the weights, the KV cache at batch × context and the peak of the other activations,
against the chip's memory; the largest batch that fits at that context, and the longest context at
that batch, each checked by auditing the model there."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

from modelaudit.figures import Figure
from modelaudit.shapes.dimexpr import MAX_DIM

from .generation import Run, phase

__all__ = ["memory_fit", "step_need"]


def step_need(step: dict) -> Figure:
    """A step's memory besides the weights: its KV cache once the step has appended its tokens, and
    the peak of its other activations."""
    per_token = step["kv_cache_bytes_per_token"]
    kv = Figure.unknown() if per_token is None else Figure.exact(per_token * (step["past"] + step["sequence"]))
    return kv + step["activation_peak_bytes"]


def _need(steps: list[dict]) -> Figure:
    needs = [step_need(s) for s in steps if s is not None]
    return Figure.exact(steps[0]["weights_bytes"]) + Figure.largest(*needs)


def _steps(run: Run, context: int, batch: int) -> list[dict]:
    """The prefill of `context` tokens and the decode step at `context`, at another batch."""
    other = replace(run, batch=batch)
    decode = phase(other, 1, context, f"decode at context {context:,}, batch {batch:,}")
    if not run.layout.seq_dim:
        return [decode]
    return [
        phase(other, context, 0, f"prefill of {context:,}, batch {batch:,}", decode["kv_cache_bytes_per_token"]),
        decode,
    ]


def memory_fit(
    run: Run, capacity: int | None, context: int, steps: list[dict], steps_at=None, search: bool = True
) -> dict:
    """The memory a generation at `context` holds at once, against `capacity` bytes (None: unknown),
    with the largest batch and the longest context that fit. `steps_at(context, batch)` audits the
    steps whose memory counts there (by default --decode's: the prefill of the context and the
    decode step at it)."""
    steps_at = steps_at or (lambda c, b: _steps(run, c, b))
    need = _need(steps)
    weights = steps[0]["weights_bytes"]
    # the step that holds most: its cache and its activations are the parts shown
    top = max(steps, key=lambda s: step_need(s).lower or 0)
    per_token = top["kv_cache_bytes_per_token"]
    result: dict = {
        "capacity_bytes": capacity,
        "weights_bytes": weights,
        "kv_cache_bytes": None if per_token is None else per_token * (top["past"] + top["sequence"]),
        "activation_peak_bytes": top["activation_peak_bytes"],
        "step": "prefill" if top["past"] == 0 else "decode",
        "need_bytes": need,
        # each step's own: a runtime that chunks the prefill, or computes its last position's logits
        # only, holds the decode step's
        "step_need_bytes": {("prefill" if s["past"] == 0 else "decode"): _need([s]) for s in steps},
        "context": context,
        "batch": run.batch,
    }
    if capacity is None:
        result["fits"] = None
        return result
    result["fits"] = True if need.provably_at_most(capacity) else (False if need.provably_above(capacity) else None)
    if search and need.complete and weights < capacity:
        fits = lambda c, b: _fits(steps_at(c, b), capacity)  # noqa: E731
        result["largest_batch"] = _largest_batch(run.batch, capacity, context, need.value, weights, fits)  # type: ignore[arg-type]
        result["longest_context"] = _longest_context(run.batch, capacity, context, steps_at, fits)
    return result


def _fits(steps: list[dict], capacity: int) -> bool | None:
    need = _need(steps)
    return True if need.provably_at_most(capacity) else (False if need.provably_above(capacity) else None)


def _largest_batch(batch: int, capacity: int, context: int, need: int, weights: int, fits) -> int | None:
    """Everything but the weights grows with the batch (each activation and the cache carry it): the
    estimate from the batch given, then checked by auditing at it and around it."""
    per_batch = Fraction(need - weights, batch)
    if per_batch <= 0:
        return None
    guess = int((capacity - weights) / per_batch)
    if guess < 1:
        return 0 if fits(context, 1) is False else _settle(lambda b: fits(context, b), 1, 1, MAX_DIM - 1)
    return _settle(lambda b: fits(context, b), guess, 1, MAX_DIM - 1)


def _longest_context(batch: int, capacity: int, context: int, steps_at, fits) -> int | None:
    """The longest context at this batch: the need measured at three contexts, fitted (the cache is
    linear in the context, the activations at most quadratic), solved, then checked by auditing."""
    points = [context, 2 * context, 4 * context]
    values = []
    for c in points:
        need = _need(steps_at(c, batch))
        if not need.complete:
            return None
        values.append(Fraction(need.value))  # type: ignore[arg-type]
    guess = _solve(points, values, capacity)
    if guess is None:
        return None
    return _settle(lambda c: fits(c, batch), max(guess, 1), 1, MAX_DIM - 2)


def _solve(xs: list[int], ys: list[Fraction], capacity: int) -> int | None:
    """The largest x with the quadratic through (xs, ys) at most capacity, x ≥ 1."""
    (x0, x1, x2), (y0, y1, y2) = xs, ys

    def q(x: int) -> Fraction:
        return (
            y0 * Fraction((x - x1) * (x - x2), (x0 - x1) * (x0 - x2))
            + y1 * Fraction((x - x0) * (x - x2), (x1 - x0) * (x1 - x2))
            + y2 * Fraction((x - x0) * (x - x1), (x2 - x0) * (x2 - x1))
        )

    if q(1) > capacity:
        return 0
    lo, hi = 1, 2
    while hi < MAX_DIM - 2 and q(hi) <= capacity:
        lo, hi = hi, min(2 * hi, MAX_DIM - 2)
    if q(hi) <= capacity:
        return hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if q(mid) <= capacity else (lo, mid)
    return lo


def _settle(fits, guess: int, low: int, high: int) -> int | None:
    """The largest n in [low, high] with fits(n) (0 when not even `low` fits), from a guess: checked
    there and next to it, the bracket widened fourfold a step while it misses, then bisected."""
    ok = fits(guess)
    if ok is None:
        return None
    lo, hi = (guess, None) if ok else (None, guess)
    step = 1
    while lo is None or hi is None:
        if hi is None:
            if lo == high:
                return high
            probe = min(lo + step, high)  # type: ignore[operator]
        else:
            if hi == low:
                return 0
            probe = max(hi - step, low)
        answer = fits(probe)
        if answer is None:
            return None
        lo, hi = (probe, hi) if answer else (lo, probe)
        step *= 4
    while hi - lo > 1:
        mid = (lo + hi) // 2
        answer = fits(mid)
        if answer is None:
            return None
        lo, hi = (mid, hi) if answer else (lo, mid)
    return lo
