"""The per-node, per-op and per-block tables of text and markdown: columns as data, chosen with
--columns, empty ones dropped, and fitted to a terminal's width."""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from functools import lru_cache

from modelaudit.costs.blocks import by_block, scope_tree
from modelaudit.costs.report import revive_document
from modelaudit.costs.rows import Rows
from modelaudit.encoding import cut
from modelaudit.errors import UsageError
from modelaudit.figures import Figure, Number

from .common import by_op, formula_rows, human, human_bytes, safe, safe_column, select_rows

UNKNOWN = Figure.unknown()
abbreviate = cut  # text cut to a width in the middle, where a name or shape says least (encoding.cut)

__all__ = [
    "COLUMNS",
    "OP_COLUMNS",
    "BLOCK_COLUMNS",
    "table",
    "table_columns",
    "fit",
    "fit_columns",
    "abbreviate",
    "percent",
]


def percent(part: Number | Figure | None, whole: Number | Figure | None) -> str:
    """A share; `?` unless both the part and the whole are known (a share of a bound is no share)."""
    if isinstance(part, Figure):
        part = part.known
    if isinstance(whole, Figure):
        whole = whole.known
    if part is None or whole is None:
        return "?"
    return f"{100.0 * part / whole:.1f}%" if whole else "0.0%"


def _distinct(make, values: list) -> list:
    """make(v) of each value, computed once per distinct value (a column repeats a few figures)."""
    texts = {v: make(v) for v in set(values)}
    return list(map(texts.__getitem__, values))


def _formatted(fmt, values: list) -> list[str]:
    """fmt(v) of each value; once per distinct value in a column of whole numbers (other numbers
    may be equal and print otherwise: 1, 1.0, True)."""
    return _distinct(fmt, values) if set(map(type, values)) <= {int, type(None)} else list(map(fmt, values))


def _percents(parts: list, whole: int | None) -> list[str]:
    return _distinct(lambda part: percent(part, whole), parts)  # 1, 1.0 and True give one text here


def _shapes(lists: list, skip: str | None = None) -> list[str]:
    """Each row's shapes joined; scalars (Clip bounds, Pow exponents) are no weights (`skip`)."""
    return _distinct(lambda shapes: safe(", ".join(s for s in shapes if s != skip), 400), list(map(tuple, lists)))


# Columns are data: key -> (header, the column's values from the table's fields and the totals,
# human formatter or None). `c(key)` is one field of every row, read once per table (a call per
# column, not a lambda per cell).
COLUMNS = {
    "index": ("#", lambda c, t: ["" if scope else i for i, scope in zip(c("index"), c("scope"))], None),
    "name": ("name", lambda c, t: safe_column(c("name")), None),
    "op": ("op", lambda c, t: safe_column(c("op_label")), None),
    "input": ("input", lambda c, t: _shapes(c("inputs")), None),  # dim names come from the model
    "output": ("output", lambda c, t: _shapes(c("outputs")), None),
    "weights": ("weights", lambda c, t: _shapes(c("weights"), "scalar"), None),
    "params": ("params", lambda c, t: c("params"), human),
    "params%": ("% params", lambda c, t: _percents(c("params"), t["params"]), None),
    "macs": ("MACs", lambda c, t: c("macs"), human),
    "flops": ("FLOPs", lambda c, t: c("flops"), human),
    "bytes": ("out bytes", lambda c, t: c("output_bytes"), human_bytes),
    "macs%": ("% MACs", lambda c, t: _percents(c("macs_total"), t["macs"]), None),
}
OP_COLUMNS = {
    "op": ("op", lambda c, t: safe_column(c("op")), None),
    "count": ("nodes", lambda c, t: c("count"), None),
    "params": ("params", lambda c, t: c("params"), human),
    "params%": ("% params", lambda c, t: _percents(c("params"), t["params"]), None),
    "macs": ("MACs", lambda c, t: c("macs"), human),
    "flops": ("FLOPs", lambda c, t: c("flops"), human),
    "macs%": ("% MACs", lambda c, t: _percents(c("macs"), t["macs"]), None),
}


def _group_figure(key: str):
    """A group's sum (a Figure: `≥ sum` when some of its nodes are unknown, `?` when all are)."""
    return lambda c, t: list(map(human, c(key, UNKNOWN)))


BLOCK_COLUMNS = {
    "block": ("block", lambda c, t: [tree + name for tree, name in zip(c("tree", ""), safe_column(c("block")))], None),
    "count": ("nodes", lambda c, t: c("nodes"), None),
    "params": ("params", lambda c, t: c("params"), human),
    "params%": ("% params", lambda c, t: _percents(c("params"), t["params"]), None),
    "macs": ("MACs", _group_figure("macs"), None),
    "macs%": ("% MACs", lambda c, t: _percents(c("macs"), t["macs"]), None),
    "flops": ("FLOPs", _group_figure("flops"), None),
}
# Minimum widths of the columns that may be abbreviated: kept while columns can still be hidden
# (comfortable), then given up to (hard) when nothing else is left to hide.
COMFORTABLE = {"name": 32, "op": 18, "input": 13, "output": 13, "weights": 12, "note": 16, "block": 24, "formula": 24}
HARD = {"name": 14, "op": 8, "input": 11, "output": 11, "weights": 9, "note": 10, "block": 16, "formula": 12}
DROP_ORDER = ("input", "bytes", "flops", "weights", "params%", "output", "p90", "rate", "time%")  # first to go
# hidden only when names are already cut to their hard minimum and the table still overflows (the
# roofline's columns made an 80-column table 89 wide): the bound time is the last to stay
LAST_RESORT = ("intensity", "macs%", "params", "bound")


def _p90(high: dict, index: int, scope: str) -> str:
    return "" if scope or index not in high else f"{high[index]:.3f}"


def _ms(ms, untimed) -> str:
    """A block's measured time: `≥` when a node of it ran in a kernel named otherwise (a fusion)."""
    if ms is None:
        return "?"
    return ("≥ " if untimed else "") + f"{ms:.3f}"


def _block_columns(d: dict) -> dict:
    """The block columns of this report: backward MACs with --training, ms with --profile."""
    columns = dict(_grouped_columns(BLOCK_COLUMNS, d))  # a copy: `ms` below must not join every later table
    if d.get("training"):  # beside the forward MACs, as in the node table
        bwd = ("bwd MACs", _group_figure("backward_macs"), None)
        columns = {k2: v2 for k, v in columns.items() for k2, v2 in ((k, v), ("bwd", bwd))[: 2 if k == "macs" else 1]}
    if (d.get("profile") or {}).get("total_ms"):
        columns["ms"] = ("ms", lambda c, t: list(map(_ms, c("ms"), c("untimed"))), None)
    return columns


def _formula_column(field: str):
    """Each group's summed polynomial of `field` (--symbolic)."""
    return lambda c, t: safe_column([f[field]["text"] or "not polynomial" for f in c("formulas")], 400)  # dim names


def _grouped_columns(available: dict, d: dict) -> dict:
    """Under --symbolic, a group's MACs, FLOPs and out bytes are its nodes' polynomials summed."""
    if not d.get("symbolic"):
        return available
    columns = {k: v for k, v in available.items() if k != "macs%"}  # a share of a polynomial is no one number
    for key, field, header in (
        ("macs", "macs", "MACs"),
        ("flops", "flops", "FLOPs"),
        ("bytes", "output_bytes", "out bytes"),
    ):
        columns[key] = (header, _formula_column(field), None)
    return columns


def _node_formula_column(sym: dict, field: str):
    """Each row's polynomial of `field` (--symbolic), found by the row's name."""
    return lambda c, t: safe_column(
        [((sym.get(name) or {}).get(field) or {}).get("text") or "not polynomial" for name in c("name")], 400
    )  # a polynomial in the model's dim names


def _node_columns(d: dict) -> dict:
    columns = dict(COLUMNS)
    if d.get("symbolic"):  # each row's cost as its polynomial (the fixed-size figures are unknown)
        sym = {r["name"]: r for r in d["symbolic"]["rows"]}
        for key, field in (("macs", "macs"), ("flops", "flops"), ("bytes", "output_bytes")):
            columns[key] = (columns[key][0], _node_formula_column(sym, field), None)
    if d.get("training"):  # beside the forward MACs
        bwd = ("bwd MACs", lambda c, t: c("backward_macs"), human)
        columns = {k2: v2 for k, v in columns.items() for k2, v2 in ((k, v), ("bwd", bwd))[: 2 if k == "macs" else 1]}
    profile = d.get("profile") or {}
    total_ms = profile.get("total_ms")
    if total_ms:
        high = profile.get("p90_ms_by_index") or {}  # the profile's own table: a top-level row's index -> p90
        timed: dict[str, tuple] = {
            "ms": ("ms", lambda c, t: c("ms"), lambda v: "" if v is None else f"{v:.3f}"),
            "p90": ("p90 ms", lambda c, t: [_p90(high, i, s) for i, s in zip(c("index"), c("scope"))], None),
            "time%": ("% time", lambda c, t: c("ms"), lambda v: "" if v is None else f"{100 * v / total_ms:.1f}%"),
            "rate": ("GMAC/s", lambda c, t: c("gmacs_per_s"), lambda v: "" if v is None else f"{v:.1f}"),
        }
        columns |= timed
    from .roofline import roofline_columns

    columns |= roofline_columns(d)
    variables = set((d.get("symbolic") or {}).get("variables", ()))
    if variables:  # a share of a polynomial is no one number
        del columns["macs%"]
    columns["note"] = ("note", lambda c, t: _notes(c, variables), None)
    return columns


def table_columns(
    d: dict,
    sort: str | None = None,
    top: int | None = None,
    by: str = "node",
    columns: list[str] | None = None,
    depth: int | None = None,
) -> tuple[list[str], list[list], list[str]]:
    """table()'s headers, cells and keys, the cells column by column (a list per column)."""
    totals = revive_document(d)["totals"]
    rows: Rows
    if depth is not None:
        available = _block_columns(d)
        if sort is not None or top is not None:  # a sorted view is flat: compare's blocks at that depth, by path
            flat = by_block(formula_rows(d), depth)
            flat_rows = Rows.from_dicts([{"block": path} | g for path, g in flat.items()])
            rows = select_rows(flat_rows, sort, top, "block", d.get("symbolic"))
        else:
            rows = Rows.from_dicts(_with_tree(scope_tree(formula_rows(d), depth)))
    elif by == "op":
        rows = select_rows(Rows.from_dicts(by_op(formula_rows(d))), sort, top, "op", d.get("symbolic"))
        available = _grouped_columns(OP_COLUMNS, d)
    else:
        rows, available = select_rows(d["rows"], sort, top, symbolic=d.get("symbolic")), _node_columns(d)
    keys = list(columns) if columns else list(available)
    unknown = [k for k in keys if k not in available]
    if unknown:
        raise UsageError(
            f"--columns {','.join(unknown)}: not a column of this table", f"its columns: {','.join(available)}"
        )
    # column by column: an empty column is dropped before the rows are assembled, and a formatter
    # runs over a list (map) instead of a call per cell
    values = []
    for key in keys:
        _, get, fmt = available[key]
        column_values = get(rows.column, totals)
        values.append(_formatted(fmt, column_values) if fmt else column_values)
    if not columns:  # drop what has nothing to show (the note column, almost always)
        keep = [i for i, k in enumerate(keys) if k in ("name", "op", "block") or values[i].count("") < len(rows)]
        keys, values = [keys[i] for i in keep], [values[i] for i in keep]
    return [available[k][0] for k in keys], values, keys


def table(
    d: dict,
    sort: str | None = None,
    top: int | None = None,
    by: str = "node",
    columns: list[str] | None = None,
    depth: int | None = None,
) -> tuple[list[str], list[list], list[str]]:
    """Headers, human-formatted cells and the column keys of the per-node, per-op (`by="op"`) or
    per-block (`depth`) table. Without `columns`, every column that has something to show."""
    headers, values, keys = table_columns(d, sort, top, by, columns, depth)
    return headers, list(map(list, zip(*values))), keys


def _with_tree(blocks: list[dict]) -> list[dict]:
    """Each block with the tree drawn before its name (├─, └─, │), as torchinfo draws modules."""
    last = [False] * len(blocks)
    later: dict[int, bool] = {}  # level -> a sibling follows (walking backwards)
    for i in reversed(range(len(blocks))):
        level = blocks[i]["level"]
        last[i] = not later.get(level, False)
        later = {k: v for k, v in later.items() if k < level} | {level: True}
    out, chain = [], {}
    for block, is_last in zip(blocks, last):
        level = block["level"]
        chain[level] = is_last
        lines = "".join("   " if chain[k] else "│  " for k in range(2, level))
        out.append(block | {"tree": (lines + ("└─ " if is_last else "├─ ")) if level > 1 else ""})
    return out


def _layout(
    natural: list[int], headers: list[str], keys: list[str], width: int, floors: dict
) -> tuple[list[int], bool]:
    """Column widths narrowed from their natural ones toward `floors` (widest first) until the
    table fits `width`, and whether it does."""
    widths = list(natural)
    minimum = [
        min(w, max(len(h) + 2, floors.get("formula" if k in ("macs", "flops", "bytes") else k, w)))
        for k, h, w in zip(keys, headers, widths)
    ]
    excess = sum(widths) + 2 * (len(widths) - 1) - width
    while excess > 0:  # narrow the widest shrinkable column, one character at a time
        i = max(range(len(widths)), key=lambda j: (widths[j] > minimum[j], widths[j]))
        if widths[i] <= minimum[i]:
            return widths, False
        widths[i] -= 1
        excess -= 1
    return widths, True


def fit(
    headers: list[str],
    cells: list[list],
    keys: list[str],
    width: int | None,
    droppable: bool = True,
    last: tuple[str, ...] = (),
) -> tuple[list[str], list[list[str]], str | None]:
    """The table cut to `width` characters: long names, shapes and formulas abbreviated in the
    middle, and (unless the columns were chosen) the least needed columns hidden rather than
    names cut short (`last`: columns hidden only after the others). Returns the table and a line
    saying what was done (None if nothing was)."""
    if width is None:  # whole: plain_table makes each cell text as it writes the line
        return headers, cells, None
    headers, values, note = fit_columns(
        headers, [list(c) for c in zip(*cells)] if cells else [[] for _ in headers], keys, width, droppable, last
    )
    return headers, list(map(list, zip(*values))) if cells else [], note


def fit_columns(
    headers: list[str],
    values: list[list],
    keys: list[str],
    width: int,
    droppable: bool = True,
    last: tuple[str, ...] = (),
) -> tuple[list[str], list[list[str]], str | None]:
    """fit() of a table given column by column (a list per column)."""
    values = [
        column_values if set(map(type, column_values)) <= {str} else list(map(str, column_values))
        for column_values in values
    ]
    # tabulate pads a header by 2 (its MIN_PADDING): a column is never narrower than that
    natural = [max(len(h) + 2, max(map(len, v), default=0)) for h, v in zip(headers, values)]
    order: tuple[str, ...] = DROP_ORDER if "ms" not in keys else (*DROP_ORDER[:6], "macs%", *DROP_ORDER[6:])  # timed
    order = tuple(k for k in order if k not in last) + tuple(k for k in order if k in last)
    keep = list(range(len(headers)))
    dropped = []
    while True:
        widths, fits = _layout(
            [natural[i] for i in keep], [headers[i] for i in keep], [keys[i] for i in keep], width, COMFORTABLE
        )
        victim = next((k for k in order if k in [keys[i] for i in keep]), None) if droppable else None
        if fits or victim is None:
            break
        gone = keys.index(victim)
        dropped.append(headers[gone])
        keep.remove(gone)
    headers, keys = [headers[i] for i in keep], [keys[i] for i in keep]
    while not fits:  # nothing left to hide: abbreviate harder, then hide the last resorts (else overflow)
        widths, fits = _layout([natural[i] for i in keep], headers, keys, width, HARD)
        victim = next((k for k in LAST_RESORT if k in keys), None) if droppable else None
        if fits or victim is None:
            break
        dropped.append(headers[keys.index(victim)])
        keep.remove(keep[keys.index(victim)])
        headers, keys = [h for h, k in zip(headers, keys) if k != victim], [k for k in keys if k != victim]
    natural = [natural[i] for i in keep]
    cut = any(w < n for w, n in zip(widths, natural))
    if not cut and not dropped:
        return headers, values, None
    values = [
        [abbreviate(text, w) for text in values[i]] if w < n else values[i] for i, w, n in zip(keep, widths, natural)
    ]
    done = ([", ".join(dropped) + " hidden"] if dropped else []) + (["long names abbreviated with …"] if cut else [])
    return headers, values, f"fitted to {width} columns: {'; '.join(done)}; --wide shows all"


def _notes(c, variables: set) -> list[str]:
    """The note column: empty unless a node is unknown, constant, runtime-shaped or runs other than once."""
    statuses, shaped, runs = c("status"), c("runtime_shaped"), c("runs")
    if set(statuses) <= {"counted", "zero-cost"} and not any(shaped) and set(runs) <= {1}:
        return [""] * len(statuses)  # the usual table: nothing to say on any row
    return [_note(*fields, variables) for fields in zip(statuses, c("unresolved"), shaped, runs)]


@lru_cache(maxsize=4096)
def _dim_names(dims: tuple) -> str:
    """The dims a row lacks, by the names that fix them: a computed dim (`floor(height/2 - 1/2) + 1`)
    by its symbols (`height`), each once (model text: encoded by the caller, for its format)."""
    from modelaudit.shapes.annotations import symbols_of

    return ", ".join(dict.fromkeys(s for d in dims for s in (symbols_of(d) or (d,))))


def _note(
    status: str, unresolved: list, runtime_shaped: bool, runs: int, variables: AbstractSet[str] = frozenset()
) -> str:
    notes = []
    if status == "unresolved" and not set(unresolved) <= variables:  # --symbolic's variables are no gap
        notes.append("unresolved: " + safe(_dim_names(tuple(unresolved)), 400))
    elif status in ("uncounted", "error", "constant"):
        notes.append(status)
    if runtime_shaped:
        notes.append("runtime-shaped")
    if runs == 0:
        notes.append("branch not counted")
    elif runs != 1:
        notes.append(f"×{runs:,} runs")
    return "; ".join(notes)
