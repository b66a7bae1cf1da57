"""Model text into each output format. Names of nodes, tensors, dims, ops and domains, file names
and doc strings are the model author's text, and our output lands in terminals, in CI logs that a
runner parses and in pull-request comments: here that text is made inert for each of them.

Two steps, both here and nowhere else:
- where a piece of model text enters an output, `name()` (or `names()` for a column) encodes it for
  the format being written (`writing()` says which): control, bidi and other invisible characters
  shown as visible escapes (`\\x1b`, `\\u202e`), CI workflow commands neutralised, long names cut
  in the middle; in Markdown, text that could be markup put in a code span. `csv_cell()`,
  `html()` and `error_line()` do the same for CSV cells, HTML and error lines;
- lines put together from pieces (totals, notices, error and prose lines, small outputs such as
  explain's, lint's and compare's) pass `guard()` on their way out: no raw control character and no
  line a CI runner would read as a workflow command, however the pieces met (a name wrapped onto a
  line of its own, a name beside our own text). JSON passes `guard_json()`. A table is safe by
  construction instead: each of its cells is a name() or our own figure, and a 52,000-row table
  is not scanned twice.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from html import escape as _html_escape

__all__ = [
    "MAX_NAME",
    "MAX_FIELD",
    "MAX_LINE",
    "MAX_WORD",
    "cut",
    "visible",
    "text",
    "texts",
    "markdown",
    "code_span",
    "csv_cell",
    "html",
    "error_line",
    "guard",
    "guard_json",
    "writing",
    "name",
    "names",
]

MAX_NAME = 120  # a name in a table or a line of text, cut in the middle beyond this
MAX_FIELD = 10_000  # a name in JSON, CSV or HTML: kept whole up to this
MAX_LINE = 2_000  # an error line; a run without spaces in it (a name, a path) is cut at MAX_WORD
MAX_WORD = 400

# A workflow command of a CI runner. GitHub's acts on `##[command]` anywhere in a line (as Azure
# Pipelines on `##vso[`, TeamCity on `##teamcity[`), and on `::command` at the start of a line after
# leading whitespace. The second `#` becomes `\u0023`: a visible escape in text, the same string in JSON.
_HASH_COMMAND = re.compile(r"##(?=[A-Za-z]*\[)")
_HASH_ESCAPED = r"#\\u0023"  # a re.sub template: one backslash
_LINE_COMMAND = re.compile(r"^( *)::", re.M)
# what GitHub's Markdown makes live: HTML, links and images, autolinks, mentions, issue references,
# emphasis and code; `|` is the table's own (escaped by the renderer); `\` shows escapes as written
_MARKUP_CHARS = "<>&[]`*~\\@#!$"
_MARKUP_SET = frozenset(_MARKUP_CHARS)
_GH_REFERENCE = re.compile(r"\bgh-\d")
_CSV_FORMULA = ("=", "+", "-", "@")


def cut(text: str, limit: int) -> str:
    """`text` cut to `limit` characters in the middle, where a name or shape says least (its start
    and the op name at its end both matter)."""
    if len(text) <= limit:
        return text
    if limit < 3:
        return text[:limit]
    head = (limit - 1) // 2
    return text[:head] + "…" + text[len(text) - (limit - 1 - head) :]


def _escape(ch: str) -> str:
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def visible(text: str) -> str:
    """Every character str.isprintable() refuses shown as an escape: C0 and C1 controls (ESC, BEL,
    CR, backspace, NEL), bidi marks and overrides, zero-width and other format characters, line and
    paragraph separators, non-space whitespace, lone surrogates (a file name that is not UTF-8)."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else _escape(ch) for ch in text)


def _inert(text: str) -> str:
    """`##[` anywhere and `::` at the start (after spaces) made no workflow command."""
    if "##" in text:
        text = _HASH_COMMAND.sub(_HASH_ESCAPED, text)
    if "::" in text and text.lstrip(" ")[:2] == "::":
        text = text.replace("::", "\\::", 1)
    return text


def _plain(text: str, limit: int) -> bool:
    """Whether `text` needs nothing done for a terminal (the common case, checked in C)."""
    return len(text) <= limit and text.isprintable() and "##" not in text and text.lstrip(" ")[:2] != "::"


def text(value, limit: int = MAX_NAME) -> str:
    """Model text for a terminal or a log line: visible escapes, no workflow command, cut to `limit`."""
    value = value if value.__class__ is str else str(value)
    if _plain(value, limit):
        return value
    if len(value) > 2 * limit:  # escaping only lengthens: the ends are all that can show
        value = value[:limit] + "…" + value[-limit:]
    return cut(_inert(visible(value)), limit)


def texts(values: list, limit: int = MAX_NAME) -> list[str]:
    """text() of every value; the whole column is checked at once (in C) and returned as it is when
    nothing in it needs escaping or cutting, as is usual."""
    if _plain_column(values, limit):
        return values
    return [text(v, limit) for v in values]


def _plain_column(values: list, limit: int) -> bool:
    if not set(map(type, values)) <= {str}:
        return False
    joined = "".join(values)
    if not joined.isprintable() or "##" in joined or max(map(len, values), default=0) > limit:
        return False
    return "::" not in joined or not _LINE_COMMAND.search("\n".join(values))


def code_span(value: str) -> str:
    """`value` as a Markdown code span, where nothing is markup: fenced by more backticks than any
    run inside it, padded when it starts or ends with a backtick or a space."""
    runs = re.findall(r"`+", value)
    fence = "`" * (max(map(len, runs), default=0) + 1)
    pad = " " if value[:1] in ("`", " ") or value[-1:] in ("`", " ") else ""
    return f"{fence}{pad}{value}{pad}{fence}"


def _markup(text: str) -> bool:
    """Whether GitHub could render `text` as markup (a substring test per character, in C: a
    regular expression took a third of a second on a 52,000-row column)."""
    if len(text) < 256:  # a name: its characters looked up in a set
        if not _MARKUP_SET.isdisjoint(text):
            return True
    elif any(ch in text for ch in _MARKUP_CHARS):  # a column joined: a substring scan per character
        return True
    if "://" in text:
        return True
    lower = text.lower()
    return "www." in lower or ("gh-" in lower and _GH_REFERENCE.search(lower) is not None)


def markdown(value, limit: int = MAX_NAME) -> str:
    """Model text for Markdown: text()'s escapes, in a code span when it holds anything GitHub
    would render as markup (HTML, a link, an autolink, a mention, an issue reference)."""
    shown = text(value, limit)
    return code_span(shown) if _markup(shown) else shown


def _markdown_column(values: list, limit: int) -> list[str]:
    if _plain_column(values, limit) and not _markup("".join(values)):
        return values
    return [markdown(v, limit) for v in values]


def csv_cell(value, limit: int = MAX_FIELD) -> str:
    """Model text for a CSV cell: text()'s escapes (a tab or CR shows as \\x09, \\x0d) and never a
    spreadsheet formula (a cell starting with = + - @ gets a leading ')."""
    shown = text(value, limit)
    return "'" + shown if shown.lstrip(" ")[:1] in _CSV_FORMULA else shown


def html(value, limit: int = MAX_FIELD) -> str:
    """Text for HTML (an element's text or an attribute's value): text()'s escapes, then HTML's own."""
    return _html_escape(text(value, limit), quote=True)


def error_line(message: str) -> str:
    """An error message as one bounded line: whitespace runs made one space, text()'s escapes, a
    long name or path (a run without spaces) cut in the middle at MAX_WORD, and the line at most
    MAX_LINE characters."""
    words = str(message).split()
    if len(words) > MAX_LINE:  # a message that is mostly one huge spaced name: its ends
        words = words[: MAX_LINE // 2] + ["…"] + words[-MAX_LINE // 2 :]
    line = " ".join(text(w, MAX_WORD) for w in words)
    return _inert(cut(line, MAX_LINE))


def guard(output: str) -> str:
    """Text on its way out (a report, a page, a JSON document, a line on stderr): any raw control
    or invisible character left shown as an escape (line breaks kept), `##[` anywhere and `::` at a
    line's start made no workflow command. Nothing to do for what name() and its kin wrote."""
    lines = output.split("\n")
    if not "".join(lines).isprintable():
        output = "\n".join(map(visible, lines))
    if "##" in output:
        output = _HASH_COMMAND.sub(_HASH_ESCAPED, output)
    if "::" in output:
        output = _LINE_COMMAND.sub(r"\1\\::", output)
    return output


def guard_json(output: str) -> str:
    """JSON (written with ensure_ascii, so no raw control character) on its way out: `##[` in its
    strings written `#\\u0023[`, the same string to a JSON reader but no command to a CI runner."""
    return _HASH_COMMAND.sub(_HASH_ESCAPED, output) if "##" in output else output


# The format being written: the renderers share the lines (totals, notices, the model line) and
# the tables of text and Markdown, and name() encodes the model text in them for this format.
_FORMAT: ContextVar[str] = ContextVar("modelaudit_output_format", default="text")
_NAME = {"text": text, "markdown": markdown, "csv": csv_cell}
_NAMES = {"text": texts, "markdown": _markdown_column}


@contextmanager
def writing(fmt: str) -> Iterator[None]:
    """name() and names() encode for `fmt` ("text", "markdown" or "csv") inside this block."""
    if fmt not in _NAME:
        raise ValueError(f"no name encoding for {fmt!r}")
    token = _FORMAT.set(fmt)
    try:
        yield
    finally:
        _FORMAT.reset(token)


def name(value, limit: int = MAX_NAME) -> str:
    """A piece of model text for the format being written (text unless writing() says otherwise)."""
    return _NAME[_FORMAT.get()](value, limit)


def names(values: list, limit: int = MAX_NAME) -> list[str]:
    """name() of every value of a column, checked at once in C when nothing needs doing."""
    fmt = _FORMAT.get()
    column = _NAMES.get(fmt)
    return column(values, limit) if column is not None else [name(v, limit) for v in values]
