"""--sweep DIM=v1,v2,…: the same model audited at each value of a dim, one column per value."""

from __future__ import annotations

from modelaudit.errors import ModelAuditError, UsageError

__all__ = ["parse_sweep", "check_sweep_dims", "sweep", "SWEEP_TOTALS"]

SWEEP_TOTALS = ("params", "macs", "flops", "activation_bytes", "peak_activation_bytes")


def parse_sweep(spec: str) -> tuple[str, list[int]]:
    """`seq=128,512,2048` -> ("seq", [128, 512, 2048])."""
    name, sep, values = spec.partition("=")
    try:
        numbers = [int(v) for v in values.split(",") if v.strip()]
    except ValueError:
        numbers = []
    if not sep or not name or not numbers or any(n <= 0 for n in numbers):
        raise UsageError(
            f"--sweep {spec!r}: expected DIM=V1,V2,… with positive integers, e.g. --sweep seq=128,512,2048"
        )
    return name, numbers


def check_sweep_dims(dim: str, dims: dict | None) -> None:
    """A --dim on the swept dim is refused: the swept values would silently override it."""
    if dim in (dims or {}):
        raise UsageError(f"--sweep {dim}=…: --dim {dim} fixes the dim the sweep varies", f"drop --dim {dim}")


def sweep(
    source, dim: str, values: list[int], inputs: dict | None = None, dims: dict | None = None, top: int = 10
) -> dict:
    """Totals at every value (Figures: exact, a floor or unknown; `to_data()` gives the JSON form),
    and the top layers (by MACs at the largest value) across the sweep."""
    from modelaudit.costs.analyze import analyze
    from modelaudit.graph.model import load, with_dims
    from modelaudit.load.reader import read_model_light

    check_sweep_dims(dim, dims)
    model = read_model_light(source).model
    columns, rows_by_value, loaded = [], [], None
    for value in values:
        at = {**(dims or {}), dim: value}
        try:  # read, checked and linked once; each further value re-runs only inference and the rules
            loaded = load(model, inputs=inputs, dims=at) if loaded is None else with_dims(loaded, inputs, at)
            report = analyze(loaded)
        except ModelAuditError as exc:
            raise UsageError(f"--sweep {dim}={value}: {exc.message}", exc.hint) from None
        t = report.totals
        columns.append(
            {
                "value": value,
                "resolve": [u["flag"] for u in report.unresolved]
                + [f"no rule for {op} ×{n}" for op, n in sorted(report.uncounted.items())],
                **{k: getattr(t, k) for k in SWEEP_TOTALS},
            }
        )
        rows_by_value.append(report.rows)
    last = rows_by_value[-1]
    macs = [[rows[i].macs_total if i < len(rows) else None for rows in rows_by_value] for i in range(len(last))]
    # ranked by the MACs at the largest value where they are known: a layer unknown at every value
    # is not ranked (as 0 it tied with the zero-cost nodes, and the list became the first nodes)
    known = [i for i in range(len(last)) if any(m for m in macs[i] if m is not None)]
    order = sorted(known, key=lambda i: -next(m for m in reversed(macs[i]) if m is not None))[:top]
    layers = [{"name": last[i].name, "op": last[i].op, "macs": macs[i]} for i in order]
    unranked = sum(1 for i, r in enumerate(last) if r.runs and all(m is None for m in macs[i]))
    return {"dim": dim, "values": values, "totals": columns, "top_layers": layers, "unranked_layers": unranked}
