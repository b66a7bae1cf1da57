"""JSON report: exact numbers, the documented schema (docs/json-schema.md)."""

from __future__ import annotations

import io
import json
import operator
from dataclasses import MISSING, fields
from itertools import chain, repeat
from json.encoder import encode_basestring_ascii
from operator import attrgetter, itemgetter

from modelaudit.costs.report import Row, column, row_dicts
from modelaudit.encoding import MAX_FIELD, cut, guard_json
from modelaudit.figures import Figure

from .common import by_op, formula_rows, select_rows

__all__ = ["render_json", "render_jsonl", "write_json", "encode_rows"]


COMPACT_FROM = 2_000  # rows; a larger report is written without indentation
MAX_NAME = MAX_FIELD  # a string longer than this is cut in the middle (with "…"); escapes come from ensure_ascii
CHUNK = 1_000  # rows encoded at a time when streaming: the document never sits whole in memory


def _figure(value):
    """A Figure's JSON form, {"value", "bound"} (json calls this for what it cannot write itself)."""
    if isinstance(value, Figure):
        return value.as_dict()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


_dumps = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"), default=_figure).encode
_text = encode_basestring_ascii  # what the encoder above writes for a str, in C
# Row.as_dict()'s keys in its order. The fields from `unresolved` on keep their defaults in a
# plain report (no control flow, --training, --profile, --hardware, --verify): one text for all.
_KEYS = tuple(f.name for f in fields(Row)) + ("op_label", "macs_total", "flops_total")
_TAIL = _KEYS[_KEYS.index("unresolved") : _KEYS.index("bound_ratio") + 1]
_TAIL_DEFAULT = tuple(
    f.default_factory() if f.default is MISSING else f.default for f in fields(Row) if f.name in _TAIL
)
_TAIL_TEXT = ",".join(f"{_text(k)}:{_dumps(v)}" for k, v in zip(_TAIL, _TAIL_DEFAULT))
_CUT = ("name", "scope", "module", "formula")
_LISTS = ("inputs", "weights", "outputs", "unresolved")  # shapes and dim names: model text too
_MODEL_TEXT = (*_CUT, *_LISTS, "op", "domain", "details")  # the row fields that hold the model's text
_UNIQUE = ("index", "name")  # every other field repeats from layer to layer: encoded once per distinct run


def _short(text):
    return text if not isinstance(text, str) or len(text) <= MAX_NAME else cut(text, MAX_NAME)


def _bounded(value):
    """`value` with every string in it (keys too) cut to MAX_NAME: a 1 MB dim name repeated on every
    row must not make a document of many megabytes. Containers are rebuilt only when something in
    them is cut."""
    kind = value.__class__
    if kind is str:
        return value if len(value) <= MAX_NAME else cut(value, MAX_NAME)
    if kind is list or kind is tuple:
        items = list(map(_bounded, value))
        return value if all(map(operator.is_, items, value)) else items
    if kind is dict:
        pairs = [(_bounded(k), _bounded(v)) for k, v in value.items()]
        return value if all(k is k0 and v is v0 for (k, v), (k0, v0) in zip(pairs, value.items())) else dict(pairs)
    return value


_NUMBERS = frozenset({int, float, bool, type(None)})


def _bounded_column(values: list) -> tuple[list, bool]:
    """A column with every string in it cut to MAX_NAME (_bounded), and whether a `##` may be in
    it (the rows' text is then guarded); both checked in C when, as usual, nothing needs doing:
    strings, lists of strings (shapes), numbers, empty dicts."""
    kinds = set(map(type, values))
    if kinds <= _NUMBERS:
        return values, False
    if kinds <= _NUMBERS | {str}:
        texts = values if kinds == {str} else list(map(str, values))  # a number's text is short
    elif kinds == {list}:
        try:  # each list's strings joined: none is longer than all of them together
            texts = list(map("".join, values))
        except TypeError:  # a list of other things than strings
            return list(map(_bounded, values)), True
    elif kinds == {dict} and not any(values):
        return values, False
    else:
        return list(map(_bounded, values)), True
    if max(map(len, texts)) > MAX_NAME:
        values = list(map(_bounded, values))
    return values, "##" in "".join(texts)


def _row(r: dict) -> dict:
    """The row itself unless a name needs cutting (a copy of each of 50,000 rows costs a second)."""
    lists = [r[k] for k in _LISTS if k in r]
    if all(not isinstance(r.get(k), str) or len(r[k]) <= MAX_NAME for k in _CUT) and _bounded(lists) is lists:
        return r
    return r | {k: _bounded(r[k]) for k in (*_CUT, *_LISTS) if k in r}


def _scalar(value) -> str:
    """json's text of one value (None, a bool, an int or float, a str; anything else through json)."""
    if value is None:
        return "null"
    kind = value.__class__
    if kind is int:
        return int.__repr__(value)
    if kind is str:
        return _text(value)
    return _dumps(value)  # floats (NaN, Infinity), bools, lists, dicts: the encoder itself


def _each(values: list) -> list[str]:
    """Each value's JSON text."""
    kinds = set(map(type, values))
    if kinds <= {int}:  # the common columns (params, counts): in C
        return list(map(int.__repr__, values))
    if kinds <= {str}:
        return list(map(_text, values))
    return list(map(_scalar, values))


def _hashable(values: list):
    """The values as dict keys that tell apart what json writes differently (lists as tuples of
    strings), or None when they cannot be (1 == 1.0 == True: whole numbers and None only)."""
    kinds = set(map(type, values))
    if kinds <= {str, type(None)} or kinds <= {int, type(None)}:
        return values
    if kinds == {list}:
        keys = list(map(tuple, values))
        try:
            distinct = set(keys)
        except TypeError:  # a list in a list
            return None
        # strings only (checked on the distinct lists: a number among them cannot hide there)
        return keys if set(map(type, chain.from_iterable(distinct))) <= {str} else None
    return None


def _grouped(keys: tuple, columns: list[list], memo: dict) -> list[str]:
    """'"k1":v1,"k2":v2…' of each row (a None key: the defaults' one text), each distinct
    combination of values encoded once (`memo` keeps them from one chunk of rows to the next)."""
    combos = list(zip(*columns))
    texts = memo.setdefault(keys, {})
    for c in set(combos).difference(texts):
        texts[c] = ",".join(_TAIL_TEXT if k is None else f"{_text(k)}:{_dumps(v)}" for k, v in zip(keys, c))
    return list(map(texts.__getitem__, combos))


def _default_tail(rows: list[Row]) -> bool:
    """Whether every row's fields from `unresolved` on are their defaults, typed as they are where
    an equal value prints otherwise (runs 1.0 or True, runtime_shaped 0; [], "" and {} are only
    equal to what prints as they do)."""
    tails = list(map(attrgetter(*_TAIL), rows))
    if tails.count(_TAIL_DEFAULT) != len(tails):
        return False
    return all(
        set(map(type, map(itemgetter(i), tails))) == {type(default)}
        for i, default in enumerate(_TAIL_DEFAULT)
        if isinstance(default, (int, float))
    )


def encode_rows(rows: list[Row], memo: dict | None = None) -> str:
    """The rows' JSON objects joined by commas: what json.dumps writes for their as_dict()s (names
    cut as _row cuts them, `##[` guarded), encoded column by column without a dict per row. `memo` carries the
    texts of repeating fields from one call to the next."""
    if not rows:
        return ""
    memo = {} if memo is None else memo
    keys: list = list(_KEYS)
    if _default_tail(rows):
        start = keys.index(_TAIL[0])
        keys[start : start + len(_TAIL)] = [None]  # None: the defaults' one text
    values = {k: column(rows, k) for k in keys if k not in (None, "macs_total", "flops_total")}
    for total, once in (("macs_total", "macs"), ("flops_total", "flops")):  # runs 1 everywhere: the same figures
        plain = None in keys and set(map(type, values[once])) <= {int, type(None)}
        values[total] = values[once] if plain else column(rows, total)
    hashes = False  # a `##` in the model's text: the rows' text is guarded (encoding.guard_json)
    for k in _MODEL_TEXT:  # the other fields are our numbers and words
        if k in values:
            values[k], found = _bounded_column(values[k])
            hashes = hashes or found
    # a field joins its neighbours' one text per distinct combination when its values can be keys
    keyed = {k: _hashable(values[k]) if k is not None else [None] * len(rows) for k in keys if k not in _UNIQUE}
    pieces: list = []  # constant texts and per-row lists of texts, alternating, in key order
    const, i = "{", 0
    while i < len(keys):
        key = keys[i]
        const += "," if i else ""
        if keyed.get(key) is not None:
            j = i + 1
            while j < len(keys) and keyed.get(keys[j]) is not None:
                j += 1
            texts = _grouped(tuple(keys[i:j]), [keyed[k] for k in keys[i:j]], memo)
            i = j
        else:
            const += _text(key) + ":"
            texts = _each(values[key])
            i += 1
        pieces += [const, texts]
        const = ""
    pieces.append(const + "},")
    text = "".join(chain.from_iterable(zip(*(repeat(p) if p.__class__ is str else p for p in pieces))))[:-1]
    return guard_json(text) if hashes else text


def _document(d: dict, sort: str | None, top: int | None, by: str, depth: int | None = None) -> dict:
    """The report's dict as the JSON formats write it; `depth` adds `blocks`, the scope tree with
    subtotals (as the tables show it). Its rows stay Row objects when the report's were."""
    out = dict(d)
    out["rows"] = select_rows(d["rows"], sort, top, symbolic=d.get("symbolic"))
    grouped = formula_rows(d)  # under --symbolic each group also sums its nodes' polynomials
    out["by_op"] = by_op(grouped)
    out["view"] = {"sort": sort, "top": top, "by": by, "depth": depth}
    if depth is not None:
        from modelaudit.costs.blocks import scope_tree

        out["blocks"] = scope_tree(grouped, depth)
    return out


def _encode_chunk(rows: list, memo: dict) -> str:
    """Rows (Row objects or dicts) as JSON objects joined by commas."""
    if rows and rows[0].__class__ is Row:
        return encode_rows(rows, memo)
    return guard_json(_dumps([_row(r) for r in rows])[1:-1])


def render_json(
    d: dict, sort: str | None = None, top: int | None = None, by: str = "node", depth: int | None = None, **_terminal
) -> str:
    out = io.StringIO()
    write_json(d, out, sort, top, by, depth=depth)
    return out.getvalue()


def render_jsonl(
    d: dict, sort: str | None = None, top: int | None = None, by: str = "node", depth: int | None = None, **_terminal
) -> str:
    """The JSON document on one line (strings escape their newlines): one report per line."""
    out = io.StringIO()
    write_json(d, out, sort, top, by, one_line=True, depth=depth)
    return out.getvalue()


def write_json(
    d: dict,
    stream,
    sort: str | None = None,
    top: int | None = None,
    by: str = "node",
    one_line: bool = False,
    depth: int | None = None,
) -> None:
    """The JSON document written to `stream` as it is encoded: indented up to COMPACT_FROM rows,
    else (and with `one_line`, as jsonl) on one line, a large report's rows a chunk at a time
    (json.dump would use the pure-Python encoder, json.dumps one huge string). Every string is cut
    to MAX_NAME, and the text guarded (encoding.guard_json) as it is written."""
    out = _document(d, sort, top, by, depth)
    rows = out["rows"]
    write = stream.write
    if len(rows) <= COMPACT_FROM and not one_line:  # json's C encoder runs only without indentation
        out = {k: [_row(r) for r in row_dicts(v)] if k == "rows" else _bounded(v) for k, v in out.items()}
        write(guard_json(json.dumps(out, indent=2, ensure_ascii=True, default=_figure)) + "\n")
        return
    for i, (key, value) in enumerate(out.items()):
        write(("{" if i == 0 else ",") + _dumps(key) + ":")
        if key != "rows":
            write(guard_json(_dumps(_bounded(value))))
            continue
        write("[")
        memo: dict = {}
        for start in range(0, len(rows), CHUNK):
            write(("," if start else "") + _encode_chunk(rows[start : start + CHUNK], memo))  # guarded
        write("]")
    stream.write("}\n")
