"""--symbolic's peak activations: a maximum over the steps of the schedule of the bytes live at each,
so a maximum of polynomials (one per step), never one polynomial; shown as `max(…)` and, per
variable, as the ranges where each term is the largest."""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from .symbolic import Poly

__all__ = ["MaxPoly", "peak_formula", "ranges", "checked_peak"]


@dataclass(frozen=True)
class MaxPoly:
    """max(P₁, P₂, …): none of the polynomials is below another for every size."""

    polys: tuple[Poly, ...]

    def __call__(self, values: dict[str, int]) -> int:
        return max(p(values) for p in self.polys)

    @property
    def variables(self) -> tuple[str, ...]:
        return self.polys[0].variables

    def __str__(self) -> str:
        return str(self.polys[0]) if len(self.polys) == 1 else "max(" + ", ".join(map(str, self.polys)) + ")"

    def to_json(self) -> dict:
        return {"text": str(self), "max_of": [p.to_json() for p in self.polys]}


def _below(p: Poly, q: Poly) -> bool:
    """p ≤ q at every size ≥ 1: every coefficient of q − p is at least 0 (sizes are positive)."""
    diff = dict(q.terms)
    for powers, c in p.terms:
        diff[powers] = diff.get(powers, 0) - c
    return all(c >= 0 for c in diff.values())


def peak_formula(steps: list[Poly | None]) -> MaxPoly | None:
    """The maximum of the per-step live bytes, without the steps that another step bounds
    everywhere; None when a step is not a polynomial."""
    polys = [p for p in steps if p is not None]
    if not steps or len(polys) < len(steps):
        return None
    unique = list(dict.fromkeys(polys))
    kept = [
        p
        for i, p in enumerate(unique)
        if not any(_below(p, q) and (not _below(q, p) or j < i) for j, q in enumerate(unique) if j != i)
    ]
    dropped = True
    while dropped and len(kept) > 2:  # a step two others bound together, at every size: no term of the max
        dropped = False
        for p in kept:
            rest = [q for q in kept if q is not p]
            if any(_below_mix(p, q, r) for i, q in enumerate(rest) for r in rest[i + 1 :]):
                kept.remove(p)
                dropped = True
                break
    kept.sort(key=lambda p: (p.degree, str(p)))
    return MaxPoly(tuple(kept))


def _below_mix(p: Poly, q: Poly, r: Poly) -> bool:
    """p ≤ max(q, r) at every size ≥ 1, shown by a mix λ·q + (1 − λ)·r (0 ≤ λ ≤ 1) whose
    coefficients are each at least p's: then p ≤ λ·q + (1 − λ)·r ≤ max(q, r). Each monomial bounds λ
    from one side; the bounds meet when such a λ exists (exact, in fractions)."""
    a, b, c = dict(q.terms), dict(r.terms), dict(p.terms)
    low, high = Fraction(0), Fraction(1)
    for powers in set(a) | set(b) | set(c):
        slope, need = a.get(powers, 0) - b.get(powers, 0), c.get(powers, 0) - b.get(powers, 0)
        if slope > 0:  # λ·slope ≥ need
            low = max(low, Fraction(need, slope))
        elif slope < 0:
            high = min(high, Fraction(need, slope))
        elif need > 0:  # q and r alike here, and both below p
            return False
    return low <= high


def _univariate(p: Poly, var: str) -> list[int]:
    """p's coefficients in `var` (lowest power first), the other variables at 1."""
    i = p.variables.index(var)
    coeffs = [0] * (max((t[0][i] for t in p.terms), default=0) + 1)
    for powers, c in p.terms:
        coeffs[powers[i]] += c
    return coeffs


def _value(coeffs: list[int], x: int) -> int:
    return sum(c * x**k for k, c in enumerate(coeffs))


def _crossings(a: list[int], b: list[int]) -> list[int]:
    """Integers at and just around the positive real roots of a − b, where their order can change."""
    import numpy as np

    diff = [x - y for x, y in zip(a + [0] * (len(b) - len(a)), b + [0] * (len(a) - len(b)))]
    while diff and diff[-1] == 0:
        diff.pop()
    if len(diff) < 2:
        return []
    near = set()
    for root in np.roots(diff[::-1]):
        if abs(root.imag) < 1e-6 * max(1.0, abs(root.real)) and root.real > 1:
            base = math.floor(root.real)
            near.update(x for x in (base - 1, base, base + 1, base + 2) if x >= 1)  # exact checks fix rounding
    return sorted(near)


def ranges(peak: MaxPoly, var: str) -> list[tuple[int, int | None, Poly]]:
    """(from, to or None, the largest polynomial) over the sizes of `var` with the other variables
    at 1: where the peak changes from one step's bytes to another's."""
    polys = peak.polys
    coeffs = [_univariate(p, var) for p in polys]
    points = {1}
    for i in range(len(polys)):
        for j in range(i + 1, len(polys)):
            points.update(_crossings(coeffs[i], coeffs[j]))
    out: list[list] = []
    for x in sorted(points):
        # the largest at x; on a tie, the one that is largest just after (it keeps the range)
        best = max(range(len(polys)), key=lambda k: (_value(coeffs[k], x), _value(coeffs[k], x + 1)))
        if out and out[-1][2] == best:
            continue
        if out:
            out[-1][1] = x - 1
        out.append([x, None, best])
    return [(start, end, polys[k]) for start, end, k in out]


def checked_peak(variables: tuple[str, ...], step_fits: list, samples: dict, audit_peak) -> tuple:
    """The peak formula (a Poly, or a MaxPoly of several) and, per variable, its ranges (when it is a
    maximum of several), checked against the audited peak at every sampled size and on both sides of
    each change of range (the other variables at 1). (None, {}) when a step is not a polynomial or a check fails."""
    peak = peak_formula(step_fits)
    if peak is None:
        return None, {}
    for point, values in samples.items():
        if values[3] is None or peak(dict(zip(variables, point))) != values[3]:
            return None, {}
    spans = {var: ranges(peak, var) for var in variables} if len(peak.polys) > 1 else {}
    for var, found in spans.items():
        for start, _, _ in found[1:]:
            for size in (start - 1, start):
                values = {v: size if v == var else 1 for v in variables}
                if audit_peak(values) != peak(values):
                    return None, {}
    single = peak.polys[0] if len(peak.polys) == 1 else peak  # one polynomial: written as one, with its terms
    return single, {var: found for var, found in spans.items() if len(found) > 1}
