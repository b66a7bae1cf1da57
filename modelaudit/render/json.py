"""JSON report: exact numbers, the documented schema (docs/json-schema.md)."""

from __future__ import annotations

import io
import json
import operator
from collections.abc import Callable
from itertools import chain, repeat
from json.encoder import encode_basestring_ascii
from typing import Any, NamedTuple

from modelaudit.costs.rows import ANALYSIS_COLUMNS, ROW_KEYS, Row, Rows
from modelaudit.encoding import MAX_FIELD, cut, guard_json
from modelaudit.figures import Figure

from .common import by_op, formula_rows, select_rows

__all__ = ["render_json", "render_jsonl", "write_json", "encode_rows"]


COMPACT_FROM = 2_000  # rows; a larger report is written without indentation
MAX_NAME = MAX_FIELD  # a string longer than this is cut in the middle (with "…"); escapes come from ensure_ascii
CHUNK = 1_000  # rows encoded at a time: the document never sits whole in memory


def _figure(value):
    """A Figure's JSON form, {"value", "bound"} (json calls this for what it cannot write itself)."""
    if isinstance(value, Figure):
        return value.as_dict()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


_dumps = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"), default=_figure).encode
_dumps_indented = json.JSONEncoder(ensure_ascii=True, indent=2, default=_figure).encode
_text = encode_basestring_ascii  # what both encoders write for a str, in C


class Layout(NamedTuple):
    """How the document is written: json.dumps' text with `separators=(",", ":")` (compact) or with
    `indent=2`; a row sits in the document's "rows" list (indented: at depth 2)."""

    key: str  # between a key and its value
    field: str  # between a row's fields
    open: str  # a row's start
    close: str  # a row's end
    row: str  # between rows
    value: Callable[[Any], str]  # a value's text at a row field's depth


COMPACT = Layout(":", ",", "{", "}", ",", _dumps)
INDENTED = Layout(
    ": ", ",\n      ", "{\n      ", "\n    }", ",\n    ", lambda v: _dumps_indented(v).replace("\n", "\n      ")
)

# A JSON row's keys in their order. The fields from `unresolved` on keep their defaults in a plain
# report (no control flow, --training, --profile, --hardware, --verify): one text for all.
_KEYS = ROW_KEYS
_TAIL = _KEYS[_KEYS.index("unresolved") : _KEYS.index("bound_ratio") + 1]
_UNSET = Row(index=0, name="", op="", domain="", inputs=[], weights=[], outputs=[], params=0, non_trainable=0,
             macs=None, flops=None, output_bytes=None, formula="", status="")  # fmt: skip
_TAIL_DEFAULT = tuple(ANALYSIS_COLUMNS[k][1] if k in ANALYSIS_COLUMNS else getattr(_UNSET, k) for k in _TAIL)
_CUT = ("name", "scope", "module", "formula")
_LISTS = ("inputs", "weights", "outputs", "unresolved")  # shapes and dim names: model text too
_MODEL_TEXT = (*_CUT, *_LISTS, "op", "domain", "details")  # the row fields that hold the model's text
_UNIQUE = ("index", "name", "module")  # the others repeat from layer to layer: encoded once per distinct run


def _tail_text(layout: Layout) -> str:
    return layout.field.join(f"{_text(k)}{layout.key}{layout.value(v)}" for k, v in zip(_TAIL, _TAIL_DEFAULT))


_TAIL_TEXT = {layout: _tail_text(layout) for layout in (COMPACT, INDENTED)}


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


def _scalar(value, layout: Layout) -> str:
    """json's text of one value (None, a bool, an int or float, a str; anything else through json)."""
    if value is None:
        return "null"
    kind = value.__class__
    if kind is int:
        return int.__repr__(value)
    if kind is str:
        return _text(value)
    return layout.value(value)  # floats (NaN, Infinity), bools, lists, dicts: the encoder itself


def _each(values: list, layout: Layout) -> list[str]:
    """Each value's JSON text."""
    kinds = set(map(type, values))
    if kinds <= {int}:  # the common columns (params, counts): in C
        return list(map(int.__repr__, values))
    if kinds <= {str}:
        return list(map(_text, values))
    return list(map(_scalar, values, repeat(layout)))


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


def _grouped(keys: tuple, columns: list[list], memo: dict, layout: Layout) -> list[str]:
    """'"k1":v1,"k2":v2…' of each row (a None key: the defaults' one text), each distinct
    combination of values encoded once (`memo` keeps them from one chunk of rows to the next)."""
    combos = list(zip(*columns))
    texts = memo.setdefault(keys, {})
    tail, sep, field = _TAIL_TEXT[layout], layout.key, layout.field
    for c in set(combos).difference(texts):
        texts[c] = field.join(tail if k is None else f"{_text(k)}{sep}{layout.value(v)}" for k, v in zip(keys, c))
    return list(map(texts.__getitem__, combos))


def _default_tail(rows: Rows) -> bool:
    """Whether every row's fields from `unresolved` on are their defaults, typed as they are where
    an equal value prints otherwise (runs 1.0 or True, runtime_shaped 0; [], "" and {} are only
    equal to what prints as they do)."""
    n = len(rows)
    for key, default in zip(_TAIL, _TAIL_DEFAULT):
        values = rows.column(key)
        if values.count(default) != n:
            return False
        if isinstance(default, (int, float)) and set(map(type, values)) != {type(default)}:
            return False
    return True


def encode_rows(rows: Rows, memo: dict | None = None, layout: Layout = COMPACT) -> str:
    """The rows' JSON objects joined as in a list: what json.dumps writes for their dicts (strings cut
    at MAX_NAME, `##[` guarded), encoded column by column without a dict per row. `memo` carries
    the texts of repeating fields from one call to the next (with one layout)."""
    if not rows:
        return ""
    memo = {} if memo is None else memo
    keys: list = list(_KEYS)
    if _default_tail(rows):
        start = keys.index(_TAIL[0])
        keys[start : start + len(_TAIL)] = [None]  # None: the defaults' one text
    values = {k: rows.column(k) for k in keys if k is not None}
    hashes = False  # a `##` in the model's text: the rows' text is guarded (encoding.guard_json)
    for k in _MODEL_TEXT:  # the other fields are our numbers and words
        if k in values:
            values[k], found = _bounded_column(values[k])
            hashes = hashes or found
    # a field joins its neighbours' one text per distinct combination when its values can be keys
    keyed = {k: _hashable(values[k]) if k is not None else [None] * len(rows) for k in keys if k not in _UNIQUE}
    pieces: list = []  # constant texts and per-row lists of texts, alternating, in key order
    const, i = layout.open, 0
    while i < len(keys):
        key = keys[i]
        const += layout.field if i else ""
        if keyed.get(key) is not None:
            j = i + 1
            while j < len(keys) and keyed.get(keys[j]) is not None:
                j += 1
            texts = _grouped(tuple(keys[i:j]), [keyed[k] for k in keys[i:j]], memo, layout)
            i = j
        else:
            const += _text(key) + layout.key
            texts = _each(values[key], layout)
            i += 1
        pieces += [const, texts]
        const = ""
    pieces.append(const + layout.close + layout.row)
    joined = "".join(chain.from_iterable(zip(*(repeat(p) if p.__class__ is str else p for p in pieces))))
    text = joined[: -len(layout.row)]
    return guard_json(text) if hashes else text


def _document(d: dict, sort: str | None, top: int | None, by: str, depth: int | None = None) -> dict:
    """The report's dict as the JSON formats write it; `depth` adds `blocks`, the scope tree with
    subtotals (as the tables show it)."""
    out = dict(d)
    out["rows"] = select_rows(d["rows"], sort, top, symbolic=d.get("symbolic"))
    grouped = formula_rows(d)  # under --symbolic each group also sums its nodes' polynomials
    out["by_op"] = by_op(grouped)
    out["view"] = {"sort": sort, "top": top, "by": by, "depth": depth}
    if depth is not None:
        from modelaudit.costs.blocks import scope_tree

        out["blocks"] = scope_tree(grouped, depth)
    return out


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
    """The JSON document written to `stream` as it is encoded, a chunk of rows at a time: what
    json.dumps writes for it, indented (`indent=2`) up to COMPACT_FROM rows, else (and with
    `one_line`, as jsonl) compact. Every string is cut to MAX_NAME, and the text guarded
    (encoding.guard_json) as it is written."""
    out = _document(d, sort, top, by, depth)
    rows = out["rows"]
    layout = COMPACT if one_line or len(rows) > COMPACT_FROM else INDENTED
    dumps: Callable[[Any], str]
    if layout is COMPACT:
        start, between, rows_start, rows_end, end, dumps = "{", ",", "[", "]", "}\n", _dumps
    else:
        start, between, rows_start, rows_end, end = "{\n  ", ",\n  ", "[\n    ", "\n  ]", "\n}\n"
        dumps = lambda v: _dumps_indented(v).replace("\n", "\n  ")  # noqa: E731
    for i, (key, item) in enumerate(out.items()):
        stream.write((between if i else start) + _text(key) + layout.key)
        if key != "rows":
            stream.write(guard_json(dumps(_bounded(item))))
        elif not rows:
            stream.write("[]")
        else:
            stream.write(rows_start)
            memo: dict = {}
            for first in range(0, len(rows), CHUNK):
                chunk = rows.take(range(first, min(first + CHUNK, len(rows))))
                stream.write((layout.row if first else "") + encode_rows(chunk, memo, layout))  # guarded
            stream.write(rows_end)
    stream.write(end)
