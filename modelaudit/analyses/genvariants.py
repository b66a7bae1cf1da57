"""--decode with --sweep (one column per value of the batch or any dim, at one context) and with
--symbolic (each summed cost of a decode step as a polynomial in the batch and the cached length,
and of the prefill in the batch and the prompt length), from the same steps --decode audits."""

from __future__ import annotations

from dataclasses import replace

from modelaudit.errors import UsageError

from .generation import SUMMED, Run, assemble, column, phase

__all__ = ["decode_sweep", "decode_formulas"]


def decode_sweep(run: Run, context: int, dim: str, values: list[int], spec=None) -> dict:
    """One column per value of `dim` (the batch, or any other dim the model names), at `context`."""
    layout = run.layout
    if dim in (layout.past_dim, layout.seq_dim, *layout.sums):
        raise UsageError(
            f"--sweep {dim}: --decode sets the new-token and cached lengths itself",
            "sweep the context with --decode N1,N2,… instead",
        )
    columns = []
    for v in values:
        if dim == layout.batch_dim:
            at = replace(run, batch=v)
        else:
            at = replace(run, dims={**run.dims, dim: v})
        col = column(at, context, f"{dim}={v:,}")
        col["dims"] = at.dims
        columns.append(col)
    result = assemble(run, columns, spec, search=False)
    result["sweep"] = {"dim": dim, "values": list(values), "context": context}
    return result


def decode_formulas(run: Run) -> dict:
    """Each summed cost of a decode step as a polynomial in the batch and the cached length, and of
    the prefill in the batch and the new-token length: fitted on a grid of audits, checked at more
    (analyses/symbolic.py's fit_grid); None where a cost is not a polynomial (or unknown)."""
    from .symbolic import fit_grid

    layout = run.layout
    out = {}
    for name, length, seq_of, past_of in (
        ("decode_step", layout.past_dim, lambda n: 1, lambda n: n),
        ("prefill", layout.seq_dim, lambda n: n, lambda n: 0),
    ):
        if length is None:
            continue
        variables = tuple(v for v in (layout.batch_dim, length) if v)

        def evaluate(values: dict, seq_of=seq_of, past_of=past_of, length=length) -> list:
            at = replace(run, batch=values.get(layout.batch_dim, run.batch)) if layout.batch_dim else run
            n = values[length]
            step = phase(at, seq_of(n), past_of(n), f"formula at {values}")
            return [_known(step["totals"][k]) for k in SUMMED] + [step["kv_cache_bytes_per_token"]]

        fits, _ = fit_grid(variables, evaluate)
        polys = dict(zip([*SUMMED, "kv_cache_bytes_per_token"], fits))
        out[name] = {"variables": list(variables), "formulas": polys}
    return out


def _known(figure) -> int | None:
    return figure.value if figure.complete else None
