"""Which rows a table shows, in what order: --sort and --top, numbers largest first with unknown
ones never ranked as zeros, --symbolic's formulas ranked as the dims grow, and the line that says
what a ranking by an unknown cost cannot tell."""

from __future__ import annotations

from itertools import repeat

from modelaudit.costs.blocks import by_op, formula_rows
from modelaudit.costs.rows import Rows
from modelaudit.figures import Figure, rank

__all__ = ["SORT_KEYS", "OP_SORT_KEYS", "BLOCK_SORT_KEYS", "select_rows", "top_line"]

SORT_KEYS = {
    "order": None,
    "name": "name",
    "op": "op_label",
    "params": "params",
    "macs": "macs_total",
    "flops": "flops_total",
    "bytes": "output_bytes",
}


OP_SORT_KEYS = {"order": None, "name": "op", "op": "op", "params": "params", "macs": "macs", "flops": "flops"}
BLOCK_SORT_KEYS = OP_SORT_KEYS | {"name": "block", "op": "block"}


_FORMULA_FIELDS = {"macs_total": "macs", "macs": "macs", "flops_total": "flops", "flops": "flops"}
_FORMULA_FIELDS["output_bytes"] = "output_bytes"


def select_rows(
    rows: Rows, sort: str | None = None, top: int | None = None, by: str = "node", symbolic: dict | None = None
) -> Rows:
    """The rows in file-walk order, or sorted: numbers largest first, unknown ones after the known
    and before the zeros (figures.rank), cut to `top`; with `symbolic` (--symbolic's section),
    costs rank by their formulas as the dims grow. Rows of `by_op` (by="op") and blocks
    (by="block") sort by their own keys; a key they lack keeps their order."""
    if top is not None and sort is None:
        sort = "macs"
    key = {"op": OP_SORT_KEYS, "block": BLOCK_SORT_KEYS}.get(by, SORT_KEYS).get(sort or "order")
    if key is None and top is None:
        return rows
    positions = list(range(len(rows)))
    if key in ("name", "op_label", "op", "block"):
        positions.sort(key=rows.column(key).__getitem__)
    elif key in _FORMULA_FIELDS and symbolic:
        keys = list(map(_poly_rank, _formulas(rows, _FORMULA_FIELDS[key], by, symbolic), repeat(symbolic["variables"])))
        positions.sort(key=keys.__getitem__)
    elif key is not None:
        ranks = list(map(rank, rows.column(key)))
        positions.sort(key=ranks.__getitem__)
    return rows.take(positions[:top] if top is not None else positions)


def _formulas(rows: Rows, field: str, by: str, symbolic: dict) -> list:
    """Each row's polynomial of `field` (--symbolic's JSON form): a node's by its name, a group's
    its members' sum (formula_rows' `formulas`)."""
    if by == "node":
        by_name = {r["name"]: r for r in symbolic["rows"]}
        return [(by_name.get(name) or {}).get(field) for name in rows.column("name")]
    return [(f or {}).get(field) for f in rows.column("formulas")]


def _poly_rank(poly: dict | None, variables: list) -> tuple:
    """A sort key that puts the polynomial largest as the dims grow first (highest total power, then
    its coefficient, then the next term's), as figures.rank puts numbers: a cost that is no
    polynomial after the others, zero last."""
    if not poly or poly.get("text") is None:
        return (1, ())
    terms = sorted(
        (
            (sum(p), p, c)
            for p, c in ((tuple(t["powers"].get(v, 0) for v in variables), t["coefficient"]) for t in poly["terms"])
        ),
        reverse=True,
    )
    if not terms:
        return (2, ())
    return (0, tuple((-degree, tuple(-e for e in p), -c) for degree, p, c in terms) + ((1,),))


def top_line(d: dict, top: int | None, by: str, depth: int | None = None, sort: str | None = None) -> str | None:
    """ "top 3 of 7 op types shown…" when --top cut the table (counted in the table's own rows),
    and how a ranking by a cost was made where some costs are unknown."""
    if top is None and sort in (None, "order", "name", "op"):  # nothing cut or ranked by cost
        return None
    if depth is not None:  # the sorted view's blocks: compare's, at that depth
        from modelaudit.costs.blocks import by_block

        shown, what = Rows.from_dicts(list(by_block(formula_rows(d), depth).values())), "blocks"
    elif by == "op":
        shown, what = Rows.from_dicts(by_op(formula_rows(d))), "op types"
    else:
        shown, what = d["rows"], "nodes"
    parts = (
        [f"top {top} of {len(shown)} {what} shown; totals are for the whole model"]
        if top is not None and top < len(shown)
        else []
    )
    ranking = _ranking(d, shown, sort or "macs", what)
    return "; ".join(parts + ([ranking] if ranking else [])) or None


def _ranking(d: dict, rows: Rows, sort: str, what: str) -> str | None:
    """How rows were ranked by a cost: by --symbolic's formulas, or with the unknown ones placed
    between the known and the zeros, which only the flags that resolve them can rank."""
    if d.get("symbolic"):
        return (
            "ranked by their formulas as the dims grow (highest power first)"
            if sort in ("macs", "flops", "bytes")
            else None
        )
    key = {"macs": "macs_total", "flops": "flops_total", "bytes": "output_bytes"}.get(sort)
    if key is None:
        return None
    if what != "nodes":
        key = {"macs_total": "macs", "flops_total": "flops"}.get(key)
        unknown = 0 if key is None else sum(1 for v in rows.column(key) if v.__class__ is Figure and not v.complete)
    else:
        unknown = rows.column(key).count(None)
    if not unknown:
        return None
    from .common import resolve_hint  # common re-exports this module's names

    hint = resolve_hint(d) or "resolve the unknown sizes"
    label = {"macs": "MACs", "flops": "FLOPs", "bytes": "out bytes"}[sort]
    if what == "nodes":
        return (
            f"{unknown} node(s) of unknown {label} listed after the known and before the zeros, in file "
            f"order: {hint} to rank them"
        )
    return f"{unknown} of {len(rows)} {what} have {label} partly unknown, ranked by what is known: {hint} to rank them"
