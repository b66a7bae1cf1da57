"""Blocks from the module paths of the rows (graph/modules.py reads them from every exporter's
naming scheme): a node of module `features/features.3/conv/conv.1` is in block `features` at depth 1
and `features/features.3` at depth 2, as torchinfo's depth counts modules. A block is named by its
full path in every view, so that `model.2/m.0` and `model.4/m.0` stay two blocks."""

from __future__ import annotations

from itertools import chain

from modelaudit.figures import Figure, rank

from .families import FAMILIES, families, family_of
from .poly import sum_formulas
from .rows import Rows

__all__ = [
    "block_of",
    "block_names",
    "formula_rows",
    "by_block",
    "scope_tree",
    "FAMILIES",
    "family_of",
    "families",
    "by_family",
    "families_and_blocks",
    "by_op",
]

TOP = "(top level)"
FORMULAS = ("macs", "flops", "output_bytes")  # --symbolic's polynomials of a row, summed per group


def block_of(module: str, depth: int) -> str:
    """The block at `depth` (1-based) of a module path: its first `depth` segments; a shallower
    path is its own block, the top level's is TOP."""
    return "/".join(module.split("/")[:depth]) if module else TOP


_SUMMED = ("params", "macs_total", "flops_total", "backward_macs", "runs", "ms", "scope", "status")


def _summed(rows: Rows) -> list[tuple]:
    """Per row, the fields a group adds up and its --symbolic polynomials (None without)."""
    return list(zip(*(rows.column(k) for k in _SUMMED), rows.column("formulas")))


def _add(groups: dict, key, values: tuple) -> None:
    """A row's `_summed` values added to its group."""
    params, macs, flops, backward_macs, runs, ms, scope, status, formulas = values
    g = groups.get(key)
    if g is None:
        g = groups[key] = {}
    for field in ("params", "macs", "flops", "nodes", "unknown"):
        g.setdefault(field, 0)
    g["params"] += params
    g["nodes"] += 1
    if macs is None:
        g["unknown"] += 1
    else:
        g["macs"] += macs
        g["flops"] += flops
    if backward_macs is not None:  # --training; unknown exactly where the MACs are
        g["backward_macs"] = g.get("backward_macs", 0) + backward_macs * runs
    if ms is not None:  # --profile: the block's time is its nodes' median times summed
        g["ms"] = g.get("ms", 0.0) + ms
    elif not scope and runs and status != "constant":
        # a node onnxruntime ran in a kernel of another name (a fusion): its time is not in the sum
        g["untimed"] = g.get("untimed", 0) + 1
    if formulas is not None:  # --symbolic: summed once the group is complete (_finish)
        g.setdefault("formulas", []).append(formulas)


def formula_rows(d: dict) -> Rows:
    """The document's rows with a `formulas` column, each row's --symbolic polynomials (for the
    grouped views to sum); the rows themselves without --symbolic."""
    sym, rows = d.get("symbolic"), d["rows"]
    if not sym:
        return rows
    variables = tuple(sym["variables"])
    none = {"text": None, "not_polynomial": True}
    by_name = {r["name"]: r for r in sym["rows"]}
    return rows.with_column(
        "formulas",
        [
            {"variables": variables} | {k: (by_name.get(name) or {}).get(k) or none for k in FORMULAS}
            for name in rows.column("name")
        ],
    )


def _finish(groups) -> None:
    """Each group's sums made Figures (a floor where some of its nodes are unknown), its members'
    polynomials replaced by their sum (a group's cost at every size); the count of untimed nodes
    kept only where some node was timed (--profile)."""
    for g in groups:
        unknown = g["unknown"]
        for key in ("macs", "flops", "backward_macs"):  # backward MACs are unknown exactly where the MACs are
            if key in g and g[key].__class__ is not Figure:  # scope_tree's plain sums are Figures already
                g[key] = Figure.of(g[key], not unknown)
        if "ms" not in g:
            g.pop("untimed", None)
        members = g.get("formulas")
        if isinstance(members, list):
            variables = members[0]["variables"]
            g["formulas"] = {k: sum_formulas([m[k] for m in members], variables) for k in FORMULAS}


def _per_module(rows: Rows, of) -> list:
    """`of(module)` of each row's module path, once per distinct path (thousands of rows share one)."""
    modules = rows.column("module", "")
    cached = {m: of(m) for m in dict.fromkeys(modules)}
    return list(map(cached.__getitem__, modules))


def block_names(rows: Rows, depth: int) -> list[str]:
    """Each row's block at `depth` (a subgraph's rows are in their parent's module)."""
    return _per_module(rows, lambda module: block_of(module, depth))


def _has_formulas(rows: Rows) -> bool:
    """Whether rows carry --symbolic's polynomials (formula_rows')."""
    return rows.column("formulas").count(None) != len(rows)


def _plain(rows: Rows) -> bool:
    """No row has what --training, --profile or --symbolic add (backward MACs, times, polynomials):
    each group is then five sums, what `_add` and `_finish` give such rows."""
    n = len(rows)
    return (
        not _has_formulas(rows) and rows.column("backward_macs").count(None) == n and rows.column("ms").count(None) == n
    )


def _index(keys: list) -> dict:
    """The row numbers of each key (one key per row), keys in order of first appearance."""
    members: dict = {k: [] for k in dict.fromkeys(keys)}
    for i, key in enumerate(keys):
        members[key].append(i)
    return members


def _columns(rows: Rows) -> tuple[list, list, list]:
    """Every row's params, MACs and FLOPs times its runs."""
    return rows.column("params"), rows.column("macs_total"), rows.column("flops_total")


def _sums(columns: tuple, members: dict) -> dict:
    """Each group's params, MACs, FLOPs (Figures: a floor where some are unknown), nodes and
    unknown MACs, in `_add`'s key order, summed as plain numbers in row order (`columns`:
    `_columns`' lists; `members`: row numbers per group, as `_index` gives them). Only for `_plain`
    rows: `_add`'s "untimed" count goes in `_finish` where no group has "ms"."""
    params, macs, flops = columns
    groups = {}
    for key, numbers in members.items():
        group_macs = list(map(macs.__getitem__, numbers))
        unknown = group_macs.count(None)
        if unknown:  # a node of unknown MACs adds neither MACs nor FLOPs, as in _add
            numbers_known = [i for i in numbers if macs[i] is not None]
            group_macs = list(map(macs.__getitem__, numbers_known))
        else:
            numbers_known = numbers
        groups[key] = {
            "params": sum(map(params.__getitem__, numbers)),
            "macs": Figure.of(sum(group_macs), not unknown),
            "flops": Figure.of(sum(map(flops.__getitem__, numbers_known)), not unknown),
            "nodes": len(numbers),
            "unknown": unknown,
        }
    return groups


def _grouped(rows: Rows, keys: list, columns: tuple | None = None, members: dict | None = None) -> dict:
    """The rows' `_summed` values added per key (one key per row), in order of first appearance
    (`columns`: `_columns(rows)` of `_plain` rows, `members`: `_index(keys)`, if the caller has them)."""
    if columns is None and _plain(rows):
        columns = _columns(rows)
    if columns is not None:
        return _sums(columns, members if members is not None else _index(keys))
    groups: dict = {}
    for values, key in zip(_summed(rows), keys):
        _add(groups, key, values)
    _finish(groups.values())
    return groups


def _in_row_order(members: dict, rows: Rows) -> list:
    """The keys (`members`: `_index`'s row numbers of each) in order of each one's first node that
    computes (a constant folded at load is no step of the model: exporters put them first, and
    their readers' blocks would lead the list), then the keys of constants alone. A key's first
    row computes but in those blocks: one look per key, not per row."""
    status = rows.column("status")
    after = len(status)
    first = {
        k: next((i for i in numbers if status[i] != "constant"), after + numbers[0]) for k, numbers in members.items()
    }
    return sorted(members, key=first.__getitem__)


def by_block(rows: Rows, depth: int) -> dict[str, dict]:
    """Params, MACs and FLOPs summed per block, in order of each block's first computing node."""
    keys = block_names(rows, depth)
    members = _index(keys)
    groups = _grouped(rows, keys, members=members)
    return {k: groups[k] for k in _in_row_order(members, rows)}


def scope_tree(rows: Rows, depth: int) -> list[dict]:
    """The modules down to `depth` as a tree in pre-order, each with the subtotals of every node
    below it (`level` 1 is the outermost module; `leaf` marks the deepest shown; `path` is the key
    `by_block` names it by)."""
    paths = _per_module(rows, lambda module: tuple(module.split("/")[:depth]) if module else (TOP,))
    members = _index(paths)
    groups: dict[tuple, dict] = {}
    children: dict[tuple, list] = {(): []}
    below: dict[tuple, list] = {}  # the paths under each scope
    for path in _in_row_order(members, rows):  # each scope where its first node that computes is
        for level in range(1, len(path) + 1):
            key = path[:level]
            if key not in groups:
                groups[key] = {"block": key[-1], "path": "/".join(key), "level": level, "leaf": True}
                children[key] = []
                children[key[:-1]].append(key)
                below[key] = []
                if level > 1:
                    groups[key[:-1]]["leaf"] = False
            below[key].append(path)
    if _plain(rows):
        sums = _sums(
            _columns(rows),
            {
                key: sorted(chain.from_iterable(map(members.__getitem__, paths_below)))
                for key, paths_below in below.items()
            },
        )
        for key, group in groups.items():
            group.update(sums[key])
    else:
        for path, values in zip(paths, _summed(rows)):
            for level in range(1, len(path) + 1):
                _add(groups, path[:level], values)
    order: list[dict] = []

    def visit(key: tuple) -> None:  # parents first, children in order of first appearance
        for child in children[key]:
            order.append(groups[child])
            visit(child)

    visit(())
    _finish(order)
    return order


def by_family(rows: Rows) -> dict[str, dict]:
    """Params, MACs and FLOPs per op family: Conv split into dense, grouped and depthwise."""
    return _in_order(_grouped(rows, families(rows)))


def _in_order(groups: dict) -> dict:
    return {f: groups[f] for f in FAMILIES if f in groups}


def families_and_blocks(rows: Rows, depth: int) -> tuple[dict, dict]:
    """`by_family(rows)` and `by_block(rows, depth)`, the columns they sum read once."""
    columns = _columns(rows) if _plain(rows) else None
    keys = block_names(rows, depth)
    members = _index(keys)
    groups = _grouped(rows, keys, columns, members)
    return _in_order(_grouped(rows, families(rows), columns)), {k: groups[k] for k in _in_row_order(members, rows)}


def by_op(rows: Rows) -> list[dict]:
    """One row per op type: node count and summed params, MACs and FLOPs (Figures: a floor where
    some of its nodes are unknown), largest MACs first (unknown before zero); with --symbolic
    (formula_rows'), their polynomials summed."""
    if _has_formulas(rows):
        groups = _by_op_each(rows)
    else:  # no polynomials: each op's sums taken over its row numbers, as per block (_sums)
        members = _index(rows.column("op_label"))
        non_trainable = rows.column("non_trainable")
        groups = {}
        for label, s in _sums(_columns(rows), members).items():
            groups[label] = {
                "op": label,
                "count": s["nodes"],
                "params": s["params"],
                "non_trainable": sum(map(non_trainable.__getitem__, members[label])),
                "macs": s["macs"],
                "flops": s["flops"],
                "unknown": s["unknown"],
            }
    return sorted(groups.values(), key=lambda g: (rank(g["macs"]), g["op"]))


def _by_op_each(rows: Rows) -> dict[str, dict]:
    """by_op's groups added row by row (the rows with --symbolic's polynomials)."""
    groups: dict[str, dict] = {}
    keys = ("op_label", "params", "non_trainable", "macs_total", "flops_total", "formulas")
    for label, params, non_trainable, macs, flops, formula in zip(*map(rows.column, keys)):
        g = groups.get(label)
        if g is None:
            g = groups[label] = {
                "op": label,
                "count": 0,
                "params": 0,
                "non_trainable": 0,
                "macs": 0,
                "flops": 0,
                "unknown": 0,
            }
        g["count"] += 1
        g["params"] += params
        g["non_trainable"] += non_trainable
        if macs is None:
            g["unknown"] += 1
        else:
            g["macs"] += macs
            g["flops"] += flops
        if formula is not None:  # --symbolic: summed once the group is complete (_finish)
            g.setdefault("formulas", []).append(formula)
    _finish(groups.values())
    return groups
