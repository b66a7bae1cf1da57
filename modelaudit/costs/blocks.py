"""Blocks from the name scopes exporters write: `/features/features.3/conv/conv.1/Conv` is in
block `features` at depth 1 and `features.3` at depth 2, as torchinfo's depth counts modules."""

from __future__ import annotations

from .poly import sum_formulas
from .report import Row, column, row_dicts

__all__ = ["block_of", "block_names", "formula_rows", "by_block", "scope_tree", "FAMILIES", "family_of", "by_family", "by_op"]

TOP = "(top level)"
FORMULAS = ("macs", "flops", "output_bytes")  # --symbolic's polynomials of a row, summed per group


def block_of(name: str, depth: int) -> str:
    """The scope segment at `depth` (1-based) of a node name; shallower names keep their deepest."""
    parts = [p for p in name.split("/") if p]
    scopes = parts[:-1]  # the last segment names the op itself
    if not scopes:
        return TOP
    return scopes[min(depth, len(scopes)) - 1]


_SUMMED = ("params", "macs_total", "flops_total", "backward_macs", "runs", "ms", "scope", "status")


def _summed(rows: list) -> list[tuple]:
    """Per row, the fields a group adds up and its --symbolic polynomials (None without), read
    column by column from Row objects or dicts (no dict per Row)."""
    formulas = column(rows, "formulas") if rows and rows[0].__class__ is not Row else [None] * len(rows)
    return list(zip(*(column(rows, k) for k in _SUMMED), formulas))


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


def formula_rows(d: dict) -> list[dict]:
    """The rows, each with its --symbolic polynomials under `formulas` (for the grouped views to
    sum); the rows themselves without --symbolic (Row objects stay Row objects)."""
    sym = d.get("symbolic")
    if not sym:
        return d["rows"]
    variables = tuple(sym["variables"])
    none = {"text": None, "not_polynomial": True}
    by_name = {r["name"]: r for r in sym["rows"]}
    return [r | {"formulas": {"variables": variables}
                 | {k: (by_name.get(r["name"]) or {}).get(k) or none for k in FORMULAS}}
            for r in row_dicts(d["rows"])]


def _finish(groups) -> None:
    """Each group's members' polynomials replaced by their sum (a group's cost at every size);
    the count of untimed nodes kept only where some node was timed (--profile)."""
    for g in groups:
        if "ms" not in g:
            g.pop("untimed", None)
        members = g.get("formulas")
        if isinstance(members, list):
            variables = members[0]["variables"]
            g["formulas"] = {k: sum_formulas([m[k] for m in members], variables) for k in FORMULAS}


def block_names(rows: list, depth: int) -> list[str]:
    """Each row's block; a subgraph's rows belong to their top-level parent's block."""
    names, block = [], TOP
    for name, scope in zip(column(rows, "name"), column(rows, "scope")):
        if not scope:  # rows are in pre-order: a subgraph's rows follow their top-level parent
            block = block_of(name, depth)
        names.append(block)
    return names


def by_block(rows: list, depth: int) -> dict[str, dict]:
    """Params, MACs and FLOPs summed per block, in order of first appearance."""
    groups: dict[str, dict] = {}
    for values, block in zip(_summed(rows), block_names(rows, depth)):
        _add(groups, block, values)
    _finish(groups.values())
    return groups


def _scopes(name: str, depth: int) -> tuple[str, ...]:
    parts = [p for p in name.split("/") if p]
    return tuple(parts[:-1][:depth]) or (TOP,)


def scope_tree(rows: list, depth: int) -> list[dict]:
    """The name scopes down to `depth` as a tree in pre-order, each with the subtotals of every
    node below it (`level` 1 is the outermost scope; `leaf` marks the deepest shown). Subgraph
    rows count in their parent's scope, as in `by_block`. `rows`: Row objects or their dicts."""
    groups: dict[tuple, dict] = {}
    children: dict[tuple, list] = {(): []}
    path: tuple = (TOP,)
    for name, values in zip(column(rows, "name"), _summed(rows)):
        if not values[6]:  # its scope: a subgraph's rows count in their top-level parent's path
            path = _scopes(name, depth)
        for level in range(1, len(path) + 1):
            key = path[:level]
            if key not in groups:
                groups[key] = {"block": key[-1], "path": "/".join(key), "level": level, "leaf": True}
                children[key] = []
                children[key[:-1]].append(key)
                if level > 1:
                    groups[key[:-1]]["leaf"] = False
            _add(groups, key, values)
    order: list[dict] = []

    def visit(key: tuple) -> None:  # parents first, children in order of first appearance
        for child in children[key]:
            order.append(groups[child])
            visit(child)

    visit(())
    _finish(order)
    return order


FAMILIES = ["Conv (dense)", "Conv (grouped)", "Conv (depthwise)", "ConvTranspose", "Gemm/MatMul", "recurrent",
            "attention", "normalization", "elementwise", "data movement", "other"]
_LINEAR = {"Gemm", "MatMul", "Einsum", "MatMulInteger", "QLinearMatMul", "FusedMatMul", "MatMulNBits", "QGemm"}
_RECURRENT = {"RNN", "GRU", "LSTM"}
_ATTENTION = {"Attention", "MultiHeadAttention", "GroupQueryAttention", "LinearAttention", "RotaryEmbedding"}
_NORM = {"BatchNormalization", "LayerNormalization", "InstanceNormalization", "GroupNormalization",
         "RMSNormalization", "SkipLayerNormalization", "SimplifiedLayerNormalization",
         "SkipSimplifiedLayerNormalization", "LpNormalization", "LRN", "MeanVarianceNormalization"}


def family_of(row: dict) -> str:
    op = row["op"]
    if op in ("Conv", "ConvInteger", "QLinearConv", "DeformConv"):
        kind = (row.get("details") or {}).get("conv", "dense")
        return f"Conv ({kind})"
    if op == "ConvTranspose":
        return "ConvTranspose"
    if op in _LINEAR:
        return "Gemm/MatMul"
    if op in _RECURRENT:
        return "recurrent"
    if op in _ATTENTION:
        return "attention"
    if op in _NORM:
        return "normalization"
    if row["status"] in ("zero-cost", "constant"):
        return "data movement"
    if row["status"] == "counted" and not row["macs"]:
        return "elementwise"
    return "other"


def by_family(rows: list) -> dict[str, dict]:
    """Params, MACs and FLOPs per op family: Conv split into dense, grouped and depthwise."""
    groups: dict[str, dict] = {}
    for row, values in zip(row_dicts(rows), _summed(rows)):
        _add(groups, family_of(row), values)
    _finish(groups.values())
    return {f: groups[f] for f in FAMILIES if f in groups}


def by_op(rows: list) -> list[dict]:
    """One row per op type: node count and summed params, MACs and FLOPs (None if any unknown).
    `rows` are Row objects or their dicts (with --symbolic, formula_rows' dicts)."""
    groups: dict[str, dict] = {}
    # column by column, one loop over plain values: a Report's own rows need no dict each
    columns = zip(*(column(rows, k) for k in ("op_label", "params", "non_trainable", "macs_total", "flops_total")))
    formulas = [r.get("formulas") for r in rows] if rows and isinstance(rows[0], dict) else [None] * len(rows)
    for (label, params, non_trainable, macs, flops), formula in zip(columns, formulas):
        g = groups.get(label)
        if g is None:
            g = groups[label] = {"op": label, "count": 0, "params": 0, "non_trainable": 0, "macs": 0, "flops": 0,
                                 "unknown": 0}
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
    for g in groups.values():
        if g["unknown"]:
            g["macs"] = g["flops"] = None
    return sorted(groups.values(), key=lambda g: (g["macs"] is None, -(g["macs"] or 0), g["op"]))
