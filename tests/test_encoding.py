"""modelaudit/encoding.py: model text into each output format (issue 28). The end-to-end cases and
the property test over every format and subcommand are in tests/test_hostile_output.py."""

from __future__ import annotations

import json
import textwrap

import pytest

from modelaudit.encoding import (
    MAX_LINE,
    MAX_NAME,
    code_span,
    csv_cell,
    cut,
    error_line,
    guard,
    guard_json,
    html,
    markdown,
    name,
    names,
    text,
    texts,
    visible,
    writing,
)


@pytest.mark.parametrize(
    "raw, shown",
    [
        ("\x1b[31mred", "\\x1b[31mred"),
        ("a\x07b\x08c\rd\ne\tf\x00", "a\\x07b\\x08c\\x0dd\\x0ae\\x09f\\x00"),
        ("\x1b]8;;http://evil\x07link", "\\x1b]8;;http://evil\\x07link"),
        ("\x85\x9b", "\\x85\\x9b"),  # C1: NEL, CSI
        ("\u200e\u200f\u061c\u202e\u2066", "\\u200e\\u200f\\u061c\\u202e\\u2066"),  # bidi
        ("\u200b\ufeff\xad", "\\u200b\\ufeff\\xad"),  # zero width, BOM, soft hyphen
        ("\u2028\u2029\xa0\u3000", "\\u2028\\u2029\\xa0\\u3000"),  # separators, non-space whitespace
        ("\udcff", "\\udcff"),  # a file name that is not UTF-8 (surrogateescape)
        ("\U000e0041", "\\U000e0041"),  # a tag character
        ("plain é 名 ≥ ×", "plain é 名 ≥ ×"),  # printable text is left alone
    ],
)
def test_invisible_characters_are_shown_as_escapes(raw, shown):
    assert visible(raw) == shown
    assert text(raw) == shown


@pytest.mark.parametrize(
    "raw, shown",
    [
        ("x##[error]PWNED", "x#\\u0023[error]PWNED"),
        ("##vso[task.setvariable]", "#\\u0023vso[task.setvariable]"),
        ("##teamcity[message]", "#\\u0023teamcity[message]"),
        ("###[", "##\\u0023["),
        ("::error::x", "\\::error::x"),
        ("  ::add-mask::x", "  \\::add-mask::x"),
        ("onnx::MatMul_12", "onnx::MatMul_12"),  # torch's tensor names: `::` inside is no command
        ("## heading", "## heading"),
    ],
)
def test_workflow_commands_are_neutralised(raw, shown):
    assert text(raw) == shown


def test_names_are_cut_in_the_middle():
    long = "/encoder/" + "x" * 500 + "/MatMul"
    shown = text(long)
    assert len(shown) == MAX_NAME and shown.startswith("/encoder/xx") and shown.endswith("x/MatMul")
    assert cut("abcdefghij", 5) == "ab…ij" and cut("abc", 5) == "abc" and cut("abcdef", 2) == "ab"
    huge = "\x1b" * 10**6  # escaping only lengthens: the ends are escaped, not the whole megabyte
    shown = text(huge)
    assert len(shown) == MAX_NAME and shown.startswith("\\x1b\\x1b") and "\x1b" not in shown


def test_a_plain_column_is_returned_as_it_is():
    column = ["/a/MatMul", "/b/Relu", "onnx::Add_3", ""]
    assert texts(column) is column
    odd = ["ok", "::error::x", " ::x", "a##[b", "\x1bx", "x" * 200, "a:", ":b"]
    assert texts(odd) == [text(v) for v in odd]


def test_markdown_puts_possible_markup_in_a_code_span():
    assert markdown("/layer.0/MatMul") == "/layer.0/MatMul"
    assert markdown("<img src=x>") == "`<img src=x>`"
    assert markdown("@octocat") == "`@octocat`" and markdown("#12") == "`#12`" and markdown("gh-12") == "`gh-12`"
    assert markdown("[x](javascript:alert(1))") == "`[x](javascript:alert(1))`"
    assert markdown("http://x.y") == "`http://x.y`" and markdown("www.x.y") == "`www.x.y`"
    assert markdown("a`b") == "``a`b``" and markdown("`a") == "`` `a ``"  # a longer fence, padded
    assert markdown("\x1b[31m") == "`\\x1b[31m`"  # escapes shown as written, inside the span
    assert code_span("a ``` b") == "````a ``` b````"


def test_csv_cells_are_never_formulas():
    for raw in ("=1+1", "+1", "-1", "@SUM(A1)", " =1"):
        assert csv_cell(raw).startswith("'"), raw
    assert csv_cell("\t=1") == "\\x09=1" and csv_cell("\r=1") == "\\x0d=1"  # tab and CR: shown, not a prefix
    assert csv_cell("a=1") == "a=1"


def test_html_escapes_on_top_of_text():
    assert html('<script>"x"&') == "&lt;script&gt;&quot;x&quot;&amp;"
    assert html("\x1b[31m") == "\\x1b[31m"


def test_an_error_line_is_one_bounded_line():
    message = "node '" + "\x1b[2J" + "N" * 300_000 + "'\n::error::x (hint " + "w " * 100_000 + ")"
    line = error_line(message)
    assert "\n" not in line and "\x1b" not in line and len(line) <= MAX_LINE
    assert "\\::error::x" in line or "::error::x" not in line
    assert error_line(line) == line  # idempotent: a message holding another's one line is unchanged


def test_guard_catches_what_wrapping_puts_at_a_line_start():
    """A dim name escaped once still landed at a line start once the resolve hint wrapped at 80."""
    hint = "  MACs  unknown (resolve with --dim " + text("a" * 60 + " ::error::PWNED") + "=N)"
    wrapped = "\n".join(textwrap.wrap(hint, 80, subsequent_indent="    "))
    assert any(line.lstrip().startswith("::") for line in wrapped.split("\n"))
    assert not any(line.lstrip().startswith("::") for line in guard(wrapped).split("\n"))
    assert guard("ok\nlines ≥ 1\n") == "ok\nlines ≥ 1\n"
    assert guard("a\x1bb\n##[x]") == "a\\x1bb\n#\\u0023[x]"


def test_guard_json_keeps_the_document():
    document = {"name": "x##[error]PWNED", "n": ["##vso[a]", "\\##[b"]}
    text_ = guard_json(json.dumps(document))
    assert "##[" not in text_ and "##vso[" not in text_ and json.loads(text_) == document
    assert guard(json.dumps(document)) == text_  # guard() is valid on JSON too


def test_name_encodes_for_the_format_being_written():
    assert name("<b>") == "<b>" and names(["<b>"]) == ["<b>"]
    with writing("markdown"):
        assert name("<b>") == "`<b>`" and names(["<b>", "ok"]) == ["`<b>`", "ok"]
        with writing("csv"):
            assert name("=1") == "'=1"
        assert name("<b>") == "`<b>`"
    assert name("<b>") == "<b>"
    with pytest.raises(ValueError):
        with writing("yaml"):
            pass
