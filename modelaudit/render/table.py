"""The per-node, per-op and per-block tables of text and markdown: columns as data, chosen with
--columns, empty ones dropped, and fitted to a terminal's width."""

from __future__ import annotations

from modelaudit.costs.blocks import scope_tree
from modelaudit.errors import UsageError

from .common import by_op, formula_rows, human, human_bytes, safe, select_rows

__all__ = ["COLUMNS", "OP_COLUMNS", "BLOCK_COLUMNS", "table", "fit", "abbreviate", "percent"]


def percent(part: int | None, whole: int | None) -> str:
    if part is None or whole is None:
        return "?"
    return f"{100.0 * part / whole:.1f}%" if whole else "0.0%"


def _weights(r: dict) -> str:
    """The shapes of a node's constant inputs; scalars (Clip bounds, Pow exponents) are no weights."""
    return safe(", ".join(w for w in r["weights"] if w != "scalar"), 400)


# Columns are data: key -> (header, value from a row dict and the totals, human formatter or None).
COLUMNS = {
    "index": ("#", lambda r, t: "" if r.get("scope") else r["index"], None),
    "name": ("name", lambda r, t: safe(r["name"]), None),
    "op": ("op", lambda r, t: safe(r["op_label"]), None),
    "input": ("input", lambda r, t: safe(", ".join(r["inputs"]), 400), None),  # dim names come from the model
    "output": ("output", lambda r, t: safe(", ".join(r["outputs"]), 400), None),
    "weights": ("weights", lambda r, t: _weights(r), None),
    "params": ("params", lambda r, t: r["params"], human),
    "params%": ("% params", lambda r, t: percent(r["params"], t["params"]), None),
    "macs": ("MACs", lambda r, t: r["macs"], human),
    "flops": ("FLOPs", lambda r, t: r["flops"], human),
    "bytes": ("out bytes", lambda r, t: r["output_bytes"], human_bytes),
    "macs%": ("% MACs", lambda r, t: percent(r["macs_total"], t["macs"]), None),
}
OP_COLUMNS = {
    "op": ("op", lambda r, t: safe(r["op"]), None),
    "count": ("nodes", lambda r, t: r["count"], None),
    "params": ("params", lambda r, t: r["params"], human),
    "params%": ("% params", lambda r, t: percent(r["params"], t["params"]), None),
    "macs": ("MACs", lambda r, t: r["macs"], human),
    "flops": ("FLOPs", lambda r, t: r["flops"], human),
    "macs%": ("% MACs", lambda r, t: percent(r["macs"], t["macs"]), None),
}


def _at_least(key: str):
    """A block's sum, `≥ sum` when some of its nodes are unknown, `?` when all of them are."""
    def show(r: dict, t: dict) -> str:
        value = r.get(key, 0)  # a sum nothing was added to (every node unknown) is absent
        if not r["unknown"]:
            return human(value)
        return f"≥ {human(value)}" if value else "?"
    return show


BLOCK_COLUMNS = {
    "block": ("block", lambda r, t: r.get("tree", "") + safe(r["block"]), None),
    "count": ("nodes", lambda r, t: r["nodes"], None),
    "params": ("params", lambda r, t: r["params"], human),
    "params%": ("% params", lambda r, t: percent(r["params"], t["params"]), None),
    "macs": ("MACs", _at_least("macs"), None),
    "macs%": ("% MACs", lambda r, t: "?" if r["unknown"] else percent(r["macs"], t["macs"]), None),
    "flops": ("FLOPs", _at_least("flops"), None),
}
# Minimum widths of the columns that may be abbreviated: kept while columns can still be hidden
# (comfortable), then given up to (hard) when nothing else is left to hide.
COMFORTABLE = {"name": 32, "op": 18, "input": 13, "output": 13, "weights": 12, "note": 16, "block": 24, "formula": 24}
HARD = {"name": 14, "op": 8, "input": 11, "output": 11, "weights": 9, "note": 10, "block": 16, "formula": 12}
DROP_ORDER = ("input", "bytes", "flops", "weights", "params%", "output", "rate", "time%")  # first to go
# hidden only when names are already cut to their hard minimum and the table still overflows (the
# roofline's columns made an 80-column table 89 wide): the bound time is the last to stay
LAST_RESORT = ("intensity", "macs%", "params", "bound")


def _ms(r: dict, t: dict) -> str:
    """A block's measured time: `≥` when a node of it ran in a kernel named otherwise (a fusion)."""
    if r.get("ms") is None:
        return "?"
    return ("≥ " if r.get("untimed") else "") + f"{r['ms']:.3f}"


def _block_columns(d: dict) -> dict:
    """The block columns of this report: backward MACs with --training, ms with --profile."""
    columns = dict(_grouped_columns(BLOCK_COLUMNS, d))  # a copy: `ms` below must not join every later table
    if d.get("training"):  # beside the forward MACs, as in the node table
        bwd = ("bwd MACs", _at_least("backward_macs"), None)
        columns = {k2: v2 for k, v in columns.items() for k2, v2 in ((k, v), ("bwd", bwd))[: 2 if k == "macs" else 1]}
    if (d.get("profile") or {}).get("total_ms"):
        columns["ms"] = ("ms", _ms, None)
    return columns


def _grouped_columns(available: dict, d: dict) -> dict:
    """Under --symbolic, a group's MACs, FLOPs and out bytes are its nodes' polynomials summed."""
    if not d.get("symbolic"):
        return available
    columns = {k: v for k, v in available.items() if k != "macs%"}  # a share of a polynomial is no one number
    for key, field, header in (("macs", "macs", "MACs"), ("flops", "flops", "FLOPs"), ("bytes", "output_bytes", "out bytes")):
        columns[key] = (header, (lambda f: lambda r, t: r["formulas"][f]["text"] or "not polynomial")(field), None)
    return columns


def _node_columns(d: dict) -> dict:
    columns = dict(COLUMNS)
    if d.get("symbolic"):  # each row's cost as its polynomial (the fixed-size figures are unknown)
        sym = {r["name"]: r for r in d["symbolic"]["rows"]}
        for key, field in (("macs", "macs"), ("flops", "flops"), ("bytes", "output_bytes")):
            columns[key] = (columns[key][0], (lambda f: lambda r, t: ((sym.get(r["name"]) or {}).get(f) or {})
                                              .get("text") or "not polynomial")(field), None)
    if d.get("training"):  # beside the forward MACs
        bwd = ("bwd MACs", lambda r, t: r.get("backward_macs"), human)
        columns = {k2: v2 for k, v in columns.items() for k2, v2 in ((k, v), ("bwd", bwd))[: 2 if k == "macs" else 1]}
    total_ms = (d.get("profile") or {}).get("total_ms")
    if total_ms:
        columns |= {"ms": ("ms", lambda r, t: r.get("ms"), lambda v: "" if v is None else f"{v:.3f}"),
                    "time%": ("% time", lambda r, t: r.get("ms"),
                              lambda v: "" if v is None else f"{100 * v / total_ms:.1f}%"),
                    "rate": ("GMAC/s", lambda r, t: r.get("gmacs_per_s"), lambda v: "" if v is None else f"{v:.1f}")}
    from .roofline import roofline_columns

    columns |= roofline_columns(d)
    variables = set((d.get("symbolic") or {}).get("variables", ()))
    if variables:  # a share of a polynomial is no one number
        del columns["macs%"]
    columns["note"] = ("note", lambda r, t: _note(r, variables), None)
    return columns


def table(d: dict, sort: str | None = None, top: int | None = None, by: str = "node",
          columns: list[str] | None = None, depth: int | None = None) -> tuple[list[str], list[list], list[str]]:
    """Headers, human-formatted cells and the column keys of the per-node, per-op (`by="op"`) or
    per-block (`depth`) table. Without `columns`, every column that has something to show."""
    totals = d["totals"]
    if depth is not None:
        rows, available = scope_tree(formula_rows(d), depth), _block_columns(d)
        if sort is not None or top is not None:  # a sorted view is flat: the blocks at the given depth
            rows = select_rows([r for r in rows if r["leaf"]], sort, top, by="block")
        else:
            rows = _with_tree(rows)
    elif by == "op":
        rows, available = select_rows(by_op(formula_rows(d)), sort, top, by="op"), _grouped_columns(OP_COLUMNS, d)
    else:
        rows, available = select_rows(d["rows"], sort, top), _node_columns(d)
    keys = list(columns) if columns else list(available)
    unknown = [k for k in keys if k not in available]
    if unknown:
        raise UsageError(f"--columns {','.join(unknown)}: not a column of this table",
                         f"its columns: {','.join(available)}")
    # column by column: an empty column is dropped before the rows are assembled, not copied out
    # of 50,000 of them, and a formatter runs over a list (map) instead of a call per cell
    values = []
    for key in keys:
        _, get, fmt = available[key]
        column = [get(r, totals) for r in rows]
        values.append(list(map(fmt, column)) if fmt else column)
    if not columns:  # drop what has nothing to show (the note column, almost always)
        keep = [i for i, k in enumerate(keys) if k in ("name", "op", "block") or values[i].count("") < len(rows)]
        keys, values = [keys[i] for i in keep], [values[i] for i in keep]
    cells = list(map(list, zip(*values))) if values else [[] for _ in rows]
    return [available[k][0] for k in keys], cells, keys


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


def abbreviate(text: str, width: int) -> str:
    """`text` cut to `width` characters in the middle, where a name or shape says least."""
    text = str(text)
    if len(text) <= width:
        return text
    if width < 3:
        return text[:width]
    head = (width - 1) // 2
    return text[:head] + "…" + text[len(text) - (width - 1 - head):]


def _layout(natural: list[int], headers: list[str], keys: list[str], width: int,
            floors: dict) -> tuple[list[int], bool]:
    """Column widths narrowed from their natural ones toward `floors` (widest first) until the
    table fits `width`, and whether it does."""
    widths = list(natural)
    minimum = [min(w, max(len(h) + 2, floors.get("formula" if k in ("macs", "flops", "bytes") else k, w)))
               for k, h, w in zip(keys, headers, widths)]
    excess = sum(widths) + 2 * (len(widths) - 1) - width
    while excess > 0:  # narrow the widest shrinkable column, one character at a time
        i = max(range(len(widths)), key=lambda j: (widths[j] > minimum[j], widths[j]))
        if widths[i] <= minimum[i]:
            return widths, False
        widths[i] -= 1
        excess -= 1
    return widths, True


def fit(headers: list[str], cells: list[list], keys: list[str], width: int | None,
        droppable: bool = True, last: tuple[str, ...] = ()) -> tuple[list[str], list[list[str]], str | None]:
    """The table cut to `width` characters: long names, shapes and formulas abbreviated in the
    middle, and (unless the columns were chosen) the least needed columns hidden rather than
    names cut short (`last`: columns hidden only after the others). Returns the table and a line
    saying what was done (None if nothing was)."""
    if width is None:  # whole: plain_table makes each cell text as it writes the line
        return headers, cells, None
    cells = [[str(c) for c in row] for row in cells]
    # tabulate pads a header by 2 (its MIN_PADDING): a column is never narrower than that
    natural = [max([len(h) + 2] + [len(c[i]) for c in cells]) for i, h in enumerate(headers)]
    order = DROP_ORDER if "ms" not in keys else DROP_ORDER[:6] + ("macs%",) + DROP_ORDER[6:]  # profiled: time first
    order = tuple(k for k in order if k not in last) + tuple(k for k in order if k in last)
    keep = list(range(len(headers)))
    dropped = []
    while True:
        widths, fits = _layout([natural[i] for i in keep], [headers[i] for i in keep], [keys[i] for i in keep],
                               width, COMFORTABLE)
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
        return headers, cells, None
    cells = [[abbreviate(row[i], w) for i, w in zip(keep, widths)] for row in cells]
    done = ([", ".join(dropped) + " hidden"] if dropped else []) + (["long names abbreviated with …"] if cut else [])
    return headers, cells, f"fitted to {width} columns: {'; '.join(done)}; --wide shows all"


def _note(r: dict, variables: set = frozenset()) -> str:
    notes = []
    status = r["status"]
    if status == "unresolved" and not set(r["unresolved"]) <= variables:  # --symbolic's variables are no gap
        notes.append("unresolved: " + safe(", ".join(r["unresolved"]), 400))
    elif status in ("uncounted", "error", "constant"):
        notes.append(status)
    if r.get("runtime_shaped"):
        notes.append("runtime-shaped")
    if r["runs"] == 0:
        notes.append("branch not counted")
    elif r["runs"] != 1:
        notes.append(f"×{r['runs']:,} runs")
    return "; ".join(notes)
