"""--symbolic: costs as exact polynomials of the dims left symbolic, found by auditing the model at
a grid of sizes and interpolating with exact rational arithmetic, then checked at further sizes.

Costs are polynomials of bounded degree in each dim (a MatMul over seq×seq is seq², a conv over
batch is linear), so interpolation at degree+1 points per dim recovers them exactly. A cost that is
not a polynomial (a shape computed by a division that floors) fails the check and is reported as
such, never with a wrong formula.
"""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

from modelaudit.costs.poly import Poly
from modelaudit.load.forked import WORTH_NODES
from modelaudit.shapes.annotations import bind_symbols, symbols_of

__all__ = ["Poly", "interpolate", "fit_grid", "DEGREE", "GRID", "CHECK", "MAX_AUDITS"]

DEGREE = 3  # per dim: attention is seq², a batch×seq² term is cubic in total but degree 2 per dim
GRID = (1, 2, 3, 4)  # DEGREE + 1 sample sizes per dim
CHECK = (7, 12)  # further sizes where every fitted polynomial must be exact
MAX_AUDITS = len(GRID) ** 6 + len(CHECK) ** 6  # six free dims; each more multiplies the audits by four


def _solve_vandermonde(xs: tuple[int, ...]) -> list[list[Fraction]]:
    """The inverse of V[i][j] = xs[i]**j, exactly."""
    n = len(xs)
    m = [[Fraction(x) ** j for j in range(n)] + [Fraction(int(i == k)) for k in range(n)] for i, x in enumerate(xs)]
    for col in range(n):
        pivot = next(r for r in range(col, n) if m[r][col] != 0)
        m[col], m[pivot] = m[pivot], m[col]
        inv = 1 / m[col][col]
        m[col] = [v * inv for v in m[col]]
        for r in range(n):
            if r != col and m[r][col] != 0:
                factor = m[r][col]
                m[r] = [a - factor * b for a, b in zip(m[r], m[col])]
    return [row[n:] for row in m]


def interpolate(variables: tuple[str, ...], grid: tuple[int, ...], values: dict[tuple[int, ...], list]) -> list:
    """Coefficients {powers: Fraction} of each quantity, from its values on the full grid
    (values[point] is a list of quantities; None where unknown)."""
    inverse = _solve_vandermonde(grid)
    # the same exact arithmetic in integers: D·V⁻¹ is integral, and a coefficient is an integer when
    # D divides its numerator (Fractions per row and quantity cost more than the audits: docs/performance.md)
    scale = math.lcm(*(a.denominator for row in inverse for a in row))
    integral = [[int(a * scale) for a in row] for row in inverse]
    width = len(next(iter(values.values())))

    zeros = [0] * len(grid)
    solved: dict[tuple, list] = {}  # a model's repeated layers repeat their samples: each solved once

    def solve(ys: list) -> list:
        key = tuple(ys)
        done = solved.get(key)
        if done is None:
            done = solved[key] = _solve(ys)
        return done

    def _solve(ys: list) -> list:
        first = ys[0]
        if all(y == first for y in ys):  # a constant (most often 0): the polynomial is that constant
            return [first] + zeros[1:]
        if all(y.__class__ is int for y in ys):
            out = []
            for row in integral:
                numerator = sum(a * y for a, y in zip(row, ys))
                out.append(numerator // scale if numerator % scale == 0 else Fraction(numerator, scale))
            return out
        ys = [Fraction(y) for y in ys]
        return [sum(a * y for a, y in zip(row, ys)) for row in inverse]

    def recurse(prefix: tuple[int, ...]) -> list:  # a dict of coefficients per quantity, None where unknown
        depth = len(prefix)
        if depth == len(variables) - 1:  # the last variable: straight from the samples, no {(): v} per value
            columns = zip(*(values[prefix + (x,)] for x in grid))
            return [
                None if None in ys else {(power,): c for power, c in enumerate(solve(ys)) if c}
                for ys in map(list, columns)
            ]
        subs = [recurse(prefix + (x,)) for x in grid]
        out: list = []
        for q in range(width):
            if any(s[q] is None for s in subs):
                out.append(None)
                continue
            keys = set().union(*(s[q] for s in subs))
            coeffs: dict = {}
            for key in keys:
                for power, c in enumerate(solve([s[q].get(key, 0) for s in subs])):
                    if c:
                        coeffs[(power,) + key] = c
            out.append(coeffs)
        return out

    results = recurse(())
    return results


def to_poly(variables: tuple[str, ...], coeffs: dict | None) -> Poly | None:
    """A Poly when every coefficient is an integer; None otherwise (not a polynomial)."""
    if coeffs is None or any(c.denominator != 1 for c in coeffs.values()):
        return None
    terms = tuple(sorted(((k, int(c)) for k, c in coeffs.items() if c), key=lambda t: (-sum(t[0]), t[0])))
    return Poly(variables, terms)


def fit_grid(variables: tuple[str, ...], evaluate) -> tuple[list, dict]:
    """Evaluates `evaluate(values) -> list[int | None]` on the grid, fits every quantity, and checks
    each fit at the CHECK sizes. Returns (polys with None where not polynomial, the samples)."""
    samples = {}
    for point in itertools.product(GRID, repeat=len(variables)):
        samples[point] = evaluate(dict(zip(variables, point)))
    fits = [to_poly(variables, c) for c in interpolate(variables, GRID, samples)]
    for point in itertools.product(CHECK, repeat=len(variables)):
        values = dict(zip(variables, point))
        actual = evaluate(values)
        samples[point] = actual
        fits = [None if p is None or a is None or p(values) != a else p for p, a in zip(fits, actual)]
    return fits, samples


_TOTALS = ("macs", "flops", "activation_bytes", "peak_activation_bytes")
DOMINANCE_SIZES = (128, 8192)


def symbolic_dims(model, fixed_inputs: dict, fixed_dims: dict) -> tuple[str, ...]:
    """Named dims of the graph inputs that no --input or --dim fixes; a dim written as an expression
    (`past_sequence_length + sequence_length`) contributes its symbols."""
    init = {t.name for t in model.graph.initializer}
    bound = bind_symbols(model.graph, fixed_inputs, fixed_dims, init)
    names: list[str] = []
    for vi in model.graph.input:
        if vi.name in init or vi.name in fixed_inputs:
            continue
        for d in vi.type.tensor_type.shape.dim:
            if d.HasField("dim_param"):
                names += [s for s in symbols_of(d.dim_param) if s not in bound and s not in names]
    return tuple(names)


def analyse(source, inputs: dict | None = None, dims: dict | None = None, fork: bool = False) -> dict:
    """Totals and per-row costs as polynomials of the model's free symbolic dims. `source` is a
    path, a ModelProto, or a ModelGraph already loaded with these inputs and dims, whose parse and
    links every grid point reuses (only shape inference and the rules run again). With `fork`, a
    forked child audits half of the grid (load/forked.py; the command line's choice)."""
    from modelaudit.costs.analyze import analyze
    from modelaudit.errors import ModelAuditError, ResourceLimitError, UsageError
    from modelaudit.graph.model import ModelGraph, load

    inputs, dims = dict(inputs or {}), dict(dims or {})
    base = source if isinstance(source, ModelGraph) else load(source, inputs=inputs, dims=dims)
    model = base.model
    variables = symbolic_dims(model, inputs, dims)
    if not variables:
        raise UsageError(
            "--symbolic: the model has no symbolic input dim left to vary",
            "its input shapes are all fixed (or anonymous: name them, or use --input)",
        )
    audits = len(GRID) ** len(variables) + len(CHECK) ** len(variables)
    if audits > MAX_AUDITS:
        raise ResourceLimitError(
            f"--symbolic: {len(variables)} symbolic dims make a grid of {audits:,} audits (at most {MAX_AUDITS:,})",
            "fix some of them with --dim NAME=N",
        )
    names: list[str] = []
    graph_at = _grid_graphs(base, variables, inputs, dims)
    steps: list[int] = []  # how many steps the peak-memory walk has (the same at every size)

    def evaluate(values: dict) -> list:
        try:
            report = analyze(graph_at(values))
        except ResourceLimitError:
            raise  # --time-limit or a memory bound: the command stops, it is not this point's failure
        except ModelAuditError:
            return [None] * (len(_TOTALS) + 3 * len(names) + sum(steps)) if names else [None] * len(_TOTALS)
        t = report.totals
        out = [t.macs.known, t.flops.known, t.activation_bytes.known, t.peak_activation_bytes.known]
        if not names:
            names.extend(r.name for r in report.rows)
            steps.append(len(report.live_bytes or []))
        for r in report.rows:
            out += [r.macs_total, r.flops_total, r.output_bytes]
        live = report.live_bytes or []
        return out + (live if len(live) == steps[0] else [None] * steps[0])

    if fork and len(base.views) >= WORTH_NODES:
        evaluate = _in_two_processes(variables, evaluate)
    fits, samples = fit_grid(variables, evaluate)
    totals = {k: fits[i] for i, k in enumerate(_TOTALS)}
    rows = []
    for i, name in enumerate(names):
        macs, flops, nbytes = fits[len(_TOTALS) + 3 * i : len(_TOTALS) + 3 * i + 3]
        rows.append({"name": name, "macs": macs, "flops": flops, "output_bytes": nbytes})
    from .peak import checked_peak

    totals["peak_activation_bytes"], peak_ranges = checked_peak(
        variables, fits[len(_TOTALS) + 3 * len(names) :], samples, lambda values: evaluate(values)[3]
    )
    return {
        "variables": list(variables),
        "totals": totals,
        "rows": rows,
        "peak_ranges": peak_ranges,
        "dominance": _dominance(variables, totals.get("macs"), rows),
    }


def _in_two_processes(variables: tuple[str, ...], evaluate):
    """`evaluate` with the grid's and the checks' values audited beforehand, half of them by the
    forked helper: each point is a whole audit, independent of the others. The first point is
    audited here (it learns the rows' names); where the helper fails, this process audits its half."""
    from modelaudit.load.forked import Helper

    points = [*itertools.product(GRID, repeat=len(variables)), *itertools.product(CHECK, repeat=len(variables))]
    done = {points[0]: evaluate(dict(zip(variables, points[0])))}
    theirs, ours = points[2::2], points[1::2]

    def audit(points: list) -> list:
        return [evaluate(dict(zip(variables, p))) for p in points]

    helper = Helper.start(lambda told: audit(theirs), worth=bool(theirs))
    try:
        done.update(zip(ours, audit(ours)))
        done.update(zip(theirs, helper.last(lambda: audit(theirs))))
    finally:
        helper.close()

    def cached(values: dict) -> list:
        point = tuple(values[v] for v in variables)
        return done[point] if point in done else evaluate(values)

    return cached


def _grid_graphs(base, variables: tuple[str, ...], inputs: dict, dims: dict):
    """values -> the ModelGraph at those dims. Where the loaded model's shapes are all integers and
    the variables themselves (the usual batch and seq), each grid point's shapes are those shapes
    with the values put in: no shape inference per point, only the rules. That is first proven at
    the largest check point against onnx's own inference there; anything else (a dim onnx names
    `unk__3`, a shape left unknown, a disagreement) runs the full inference at every point."""
    from dataclasses import replace

    from modelaudit.errors import ResourceLimitError
    from modelaudit.graph.model import with_dims

    def inferred(values: dict):
        return with_dims(base, inputs, {**dims, **values})

    tensors = base.tensors
    names = set(variables)
    for info in tensors.values():
        if info.shape is None or any(d is None or (d.__class__ is not int and d not in names) for d in info.shape):
            return inferred

    def substituted(values: dict):
        cache: dict = {}
        out = {}
        for key, info in tensors.items():
            shape = info.shape
            if all(d.__class__ is int for d in shape):
                out[key] = info
                continue
            new = cache.get(shape)
            if new is None:
                new = cache[shape] = tuple(d if d.__class__ is int else values[d] for d in shape)
            out[key] = info._replace(shape=new)
        return replace(base, tensors=out, _nbytes={})

    probe = {v: CHECK[-1] for v in variables}
    try:
        agrees = inferred(probe).tensors == substituted(probe).tensors
    except (ResourceLimitError, MemoryError):
        raise  # a bound of the command, not an answer about this size
    except Exception:  # the full inference refuses that size: let every point say so itself
        agrees = False
    return substituted if agrees else inferred


def _dominance(variables: tuple[str, ...], total: Poly | None, rows: list[dict]) -> list[str]:
    """Which terms dominate at which size: the rows super-linear in a dim, at a small and a large size."""
    if total is None:
        return []
    lines = []
    for var in variables:
        if total.degree_in(var) < 2:
            continue
        steep = [r for r in rows if r["macs"] is not None and r["macs"].degree_in(var) >= 2]
        ops = sorted({r["name"].rsplit("/", 1)[-1].split("_")[0] for r in steep})
        shares = []
        for size in DOMINANCE_SIZES:
            values = {v: (size if v == var else 1) for v in variables}
            whole = total(values)
            part = sum(r["macs"](values) for r in steep)
            shares.append(f"{100 * part / whole:.1f}% at {var}={size:,}" if whole else "")
        lines.append(
            f"nodes whose MACs grow as {var}² or faster ({len(steep)}: {', '.join(ops[:4])}"
            f"{'…' if len(ops) > 4 else ''}) are {' and '.join(shares)} of all MACs"
            + (" (other dims at 1)" if len(variables) > 1 else "")
        )
        i = total.variables.index(var)
        linear = sum(c for p, c in total.terms if p[i] == 1)  # the other dims at 1
        square = sum(c for p, c in total.terms if p[i] == 2)
        if linear > 0 and square > 0:
            at = -(-linear // square)  # the least size where square·n² ≥ linear·n
            lines.append(
                f"the {var}² terms overtake the {var} terms at {var} = {at:,}"
                + (" (other dims at 1)" if len(variables) > 1 else "")
            )
    return lines


def to_dict(analysis: dict) -> dict:
    """JSON-ready: every polynomial as text and structured terms, None where not polynomial."""

    def poly(p):
        return p.to_json() if p is not None else {"text": None, "not_polynomial": True}

    totals = {k: poly(v) for k, v in analysis["totals"].items()}
    if analysis.get("peak_ranges"):
        totals["peak_activation_bytes"]["ranges"] = {
            var: [{"from": start, "to": end, "text": str(p)} for start, end, p in spans]
            for var, spans in analysis["peak_ranges"].items()
        }
    return {
        "variables": analysis["variables"],
        "totals": totals,
        "rows": [
            {
                "name": r["name"],
                "macs": poly(r["macs"]),
                "flops": poly(r["flops"]),
                "output_bytes": poly(r["output_bytes"]),
            }
            for r in analysis["rows"]
        ],
        "dominance": analysis["dominance"],
    }
