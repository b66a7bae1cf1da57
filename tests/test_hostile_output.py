"""What a hostile model writes never acts on a terminal, a CI log or a PR comment (issue 28): its
names pass through modelaudit/encoding.py into every format and subcommand. A hypothesis test feeds
names drawn from control characters, bidi marks, `##[`, `::`, `<`, `[`, `@`, `=`, `|` and friends
through all of them; the cases the issue reported are pinned beside it.

CI runs a fixed set of examples; a longer run draws new ones:
    MODELAUDIT_FUZZ_EXAMPLES=500 python -m pytest tests/test_hostile_output.py
"""

from __future__ import annotations

import io
import json
import os
import re
from contextlib import redirect_stderr, redirect_stdout
from html.parser import HTMLParser
from pathlib import Path

import onnx
import pytest
from conftest import ROOT, make_model, vi
from onnx import TensorProto, helper

from modelaudit.cli.main import main

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

EXAMPLES = int(os.environ.get("MODELAUDIT_FUZZ_EXAMPLES", "20"))
DERANDOMIZE = "MODELAUDIT_FUZZ_EXAMPLES" not in os.environ

# GitHub's runner: `##[command]` anywhere in a line (Azure's `##vso[`, TeamCity's `##teamcity[` too),
# `::command` at a line's start after whitespace (.NET's TrimStart: Python's str.lstrip trims the same)
HASH_COMMAND = re.compile(r"##[A-Za-z]*\[")


def run(*argv, env_width: str | None = None) -> tuple[int, str, str]:
    """main() with stdout and stderr captured (not a terminal, as in CI)."""
    out, err = io.StringIO(), io.StringIO()
    saved = os.environ.get("MODELAUDIT_WIDTH")
    if env_width is not None:
        os.environ["MODELAUDIT_WIDTH"] = env_width
    try:
        with redirect_stdout(out), redirect_stderr(err):
            code = main([str(a) for a in argv])
    finally:
        if env_width is not None:
            os.environ.pop("MODELAUDIT_WIDTH") if saved is None else os.environ.__setitem__("MODELAUDIT_WIDTH", saved)
    return code, out.getvalue(), err.getvalue()


def assert_inert(text: str, where: str) -> None:
    """No raw control or invisible character (line breaks aside) and no workflow command a CI runner
    would act on."""
    raw = sorted({c for c in text if c != "\n" and not c.isprintable()})
    assert not raw, f"{where}: raw {[hex(ord(c)) for c in raw]}"
    assert not HASH_COMMAND.search(text), f"{where}: {HASH_COMMAND.search(text).group()!r}"
    starts = [line for line in text.split("\n") if line.lstrip()[:2] == "::"]
    assert not starts, f"{where}: a line starts with '::': {starts[0][:200]!r}"


def assert_markdown_inert(text: str, where: str) -> None:
    """As GitHub renders a comment: no HTML, no link or image, and outside code no autolink, mention
    or issue reference (GitHub's filters leave code spans alone)."""
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    for token in tokens:
        assert token.type not in ("html_block", "html_inline"), f"{where}: HTML {token.content[:200]!r}"
        for child in token.children or []:
            assert child.type not in ("html_inline", "link_open", "image"), f"{where}: {child.type} {child!r}"
            if child.type == "text":
                live = re.search(r"@\w|#\d|://|www\.|(?i:\bgh-\d)", child.content)
                assert not live, f"{where}: live {live.group()!r} in {child.content[:200]!r}"


def _renderer_tags() -> set[str]:
    """Every tag the HTML renderers write (read from their source)."""
    source = "".join(p.read_text(encoding="utf-8") for p in (ROOT / "modelaudit" / "render").glob("*.py"))
    return set(re.findall(r"<([a-z][a-z0-9]*)", source))


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, list]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, attrs))


def assert_html_inert(page: str, where: str) -> None:
    parser = _Tags()
    parser.feed(page)
    allowed = _renderer_tags()
    for tag, attrs in parser.tags:
        assert tag in allowed, f"{where}: <{tag}> is not the renderer's"
        for key, value in attrs:
            assert not key.startswith("on") and not (value or "").lower().startswith("javascript:"), (where, key)


def hostile_model(node: str, op: str, domain: str, dim: str, graph: str = "g") -> onnx.ModelProto:
    """A Relu named `node`, a custom op `op` of `domain` (no rule: uncounted, named in the notices),
    an input whose first dim is `dim` (unresolved: named in the resolve hints) and an input named
    after the node too."""
    nodes = [
        helper.make_node("Relu", [node], ["r"], name=node),
        helper.make_node(op, ["r"], ["y"], name=node + "2", domain=domain),
    ]
    model = make_model(nodes, [vi(node, [dim, 3])], [vi("y", None, TensorProto.FLOAT)])
    model.graph.name = graph
    model.opset_import.append(helper.make_opsetid(domain, 1))
    return model


def every_output(folder: Path, model: onnx.ModelProto, node: str, dim: str) -> dict[str, str]:
    """What each format and subcommand writes for `model` (stdout, stderr, and files it writes)."""
    path = folder / "m.onnx"
    onnx.save(model, path)
    other = folder / "other.onnx"
    onnx.save(model, other)
    html, annotated = folder / "r.html", folder / "annotated.onnx"
    runs = {
        "report text 80": ("report", path, "--format", "text"),
        "report text --by op": ("report", path, "--by", "op"),
        "report text --depth": ("report", path, "--depth", "2"),
        "report text --columns": ("report", path, "--columns", "op,name,input"),
        "report markdown": ("report", path, "--format", "markdown"),
        "report markdown --by op": ("report", path, "--format", "markdown", "--by", "op"),
        "report markdown --depth": ("report", path, "--format", "markdown", "--depth", "2"),
        "report csv": ("report", path, "--format", "csv"),
        "report csv --by op": ("report", path, "--format", "csv", "--by", "op"),
        "report json": ("report", path, "--format", "json"),
        "report jsonl": ("report", path, "--format", "jsonl"),
        "report html": ("report", path, "--format", "html", "-o", html),
        "report --symbolic": ("report", path, "--symbolic"),
        "report markdown --symbolic": ("report", path, "--symbolic", "--format", "markdown"),
        "report --training": ("report", path, "--training"),
        "report --hardware": ("report", path, "--hardware", "a100"),
        "report markdown --hardware": ("report", path, "--hardware", "a100", "--format", "markdown"),
        "report --sweep": ("report", path, "--sweep", f"{dim}=1,2"),
        "report markdown --sweep": ("report", path, "--sweep", f"{dim}=1,2", "--format", "markdown"),
        "compare text": ("compare", path, other),
        "compare html": ("compare", path, other, "--format", "html", "-o", folder / "c.html"),
        "compare markdown": ("compare", path, other, "--format", "markdown", "--by", "all"),
        "compare json": ("compare", path, other, "--format", "json"),
        "lint text": ("lint", path, "--min-severity", "note"),
        "lint json": ("lint", path, "--format", "json", "--min-severity", "note"),
        "lint sarif": ("lint", path, "--format", "sarif", "--min-severity", "note"),
        "explain node": ("explain", path, node),
        "explain #1": ("explain", path, "#1"),
        "check text": ("check", path, "--max-macs", "1", "--max-activation-bytes", "0"),
        "check json": ("check", path, "--max-macs", "1", "--format", "json"),
        "annotate": ("annotate", path, "-o", annotated),
        "unknown --dim": ("report", path, "--dim", "nope=3"),
        "unknown --op": ("explain", path, "--op", "NoSuchOp"),
    }
    outputs = {}
    for label, argv in runs.items():
        code, out, err = run(*argv, env_width="80" if label.endswith("80") else None)
        assert code in (0, 1, 2, 3), (label, code, err)
        assert "internal error" not in err and "Traceback" not in err, (label, err)
        assert len(err.splitlines()) <= 1, (label, err)
        outputs[f"{label} stdout"], outputs[f"{label} stderr"] = out, err
    for page in ("r.html", "c.html"):
        outputs[f"{page} page"] = (folder / page).read_text(encoding="utf-8") if (folder / page).exists() else ""
    return outputs


def assert_every_output_inert(outputs: dict[str, str]) -> None:
    for label, text in outputs.items():
        assert_inert(text, label)
        if "markdown" in label and "stdout" in label:
            assert_markdown_inert(text, label)
        if label.endswith("html page") and text:
            assert_html_inert(text, label)
        if ("json" in label or "sarif" in label) and "stdout" in label and text:
            [json.loads(line) for line in text.splitlines()] if "jsonl" in label else json.loads(text)


TOKENS = (
    [chr(c) for c in range(0x20)]
    + ["\x7f", "\x85", "\x9b", "\xa0", "\xad"]
    + ["\u200b", "\u200e", "\u200f", "\u061c", "\u202a", "\u202e", "\u2066", "\u2069", "\u2028", "\u2029", "\ufeff"]
    + ["\x1b[31m", "\x1b]8;;http://evil\x07", "\x1b[2K", "\r", "\x08"]
    + ["##[", "##[error]", "##vso[", "::", "::error::", "::add-mask::", "::stop-commands::", "  ::"]
    + ["<", ">", "<img src=x onerror=alert(1)>", "<script>", "[", "]", "](javascript:alert(1))", "@", "@octocat"]
    + ["#", "#1", "=", "+", "-", "|", "`", "```", "\\", "*", "_", "!", "&", "&lt;", "http://x.y", "www.x.y"]
    + ["a", "b", "Z", "0", " ", "é", "名"]
)
NAMES = st.lists(st.sampled_from(TOKENS), min_size=1, max_size=8).map("".join)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=DERANDOMIZE)
@given(node=NAMES, op=NAMES, domain=NAMES, dim=NAMES)
@example(node="x##[error]PWNED", op="Foo", domain="::error file=a,line=1::PWNED", dim="a" * 60 + " ::error::PWNED")
@example(
    node="<img src=x onerror=alert(1)> @octocat #1 [x](javascript:alert(1)) `code`",
    op="<script>alert(1)</script>",
    domain="\x1b[31mRED\x1b]8;;http://evil\x07link\x1b]8;;\x07\x1b[2K\r\x07\x08\x08",
    dim="\u202eevil\u200e\u200f\u061c\u200b\u2028\u2029",
)
def test_random_names_are_inert_in_every_format_and_subcommand(tmp_path_factory, node, op, domain, dim):
    folder = tmp_path_factory.mktemp("names")
    assert_every_output_inert(every_output(folder, hostile_model(node, op, domain, dim), node, dim))


# --- the cases of issue 28, each pinned ---------------------------------------------------------

PWNED = "x##[error]PWNED"
DOMAIN = "::error file=a,line=1::PWNED"
TERMINAL = "\x1b[31mRED\x1b]8;;http://evil\x07link\x1b]8;;\x07\x1b[2K\r\x07\x08\x08"
BIDI = "\u200e\u200f\u061c\u202e\u200b\u2028\u2029"


def _saved(tmp_path, model, name="m.onnx") -> Path:
    path = tmp_path / name
    onnx.save(model, path)
    return path


def test_a_workflow_command_in_a_node_name_reaches_no_output(tmp_path):
    """Item 1: `x##[error]PWNED` printed a command into the table, markdown, csv, lint, SARIF,
    compare, explain and check; it shows as `x#\\u0023[error]PWNED` (JSON: the same string)."""
    outputs = every_output(tmp_path, hostile_model(PWNED, PWNED, "custom", "batch"), PWNED, "batch")
    assert_every_output_inert(outputs)
    for label in ("report text 80", "report markdown", "report csv", "lint text", "compare text", "explain node"):
        assert "x#\\u0023[error]PWNED" in outputs[f"{label} stdout"], label
    assert json.loads(outputs["report json stdout"])["rows"][0]["name"] == PWNED
    assert json.loads(outputs["lint sarif stdout"])  # still JSON, its strings unchanged


@pytest.mark.parametrize(
    "argv",
    [("--by", "op"), ("--columns", "op,name"), ("--columns", "name,op"), ("--format", "csv", "--by", "op")],
    ids=str,
)
def test_a_domain_never_starts_a_line(tmp_path, argv):
    """Item 1: a domain `::error file=…::PWNED` reached a line's start in --by op, --columns and
    explain (the runner trims leading whitespace first: the old escape looked at the first two
    characters only)."""
    path = _saved(tmp_path, hostile_model("  ::error::n", "Foo", "  " + DOMAIN, "batch"))
    code, out, err = run("report", path, *argv)
    assert code == 0, err
    assert_inert(out, str(argv))
    assert "\\::error file=a,line=1::PWNED:Foo" in out
    code, out, _ = run("explain", path, "#1")
    assert code == 0
    assert_inert(out, "explain")


def test_a_dim_name_wrapped_at_80_columns_never_starts_a_line(tmp_path):
    """Item 1: the resolve hint, escaped once, still put `::error::PWNED` at a line's start once
    wrapped at 80 columns."""
    dim = "a" * 60 + " ::error::PWNED"
    path = _saved(tmp_path, hostile_model("n", "Relu", "", dim))
    code, out, _ = run("report", path, env_width="80")
    assert code == 0 and max(map(len, out.splitlines())) <= 80
    assert_inert(out, "text at 80 columns")
    assert "\\::error::PWNED" in out  # the continuation line, neutralised where it landed


def test_terminal_sequences_and_bidi_marks_show_as_escapes(tmp_path):
    """Item 2: the opset domain in the model line (text, markdown), explain's dim names and custom op
    types, and bidi, zero-width and separator characters, all shown as visible escapes."""
    model = hostile_model("n" + BIDI, "Op" + TERMINAL, TERMINAL, "d" + BIDI)
    path = _saved(tmp_path, model)
    for argv in (("report", path), ("report", path, "--format", "markdown"), ("explain", path, "#1")):
        code, out, err = run(*argv)
        assert code == 0, err
        assert_inert(out + err, str(argv[2:]))
    code, out, _ = run("report", path)
    assert "\\x1b[31mRED\\x1b]8;;http://evil\\x07link" in out.splitlines()[0]  # the model line
    assert "n\\u200e\\u200f\\u061c\\u202e\\u200b\\u2028\\u2029" in out
    code, out, _ = run("explain", path, "#1")
    assert "Op\\x1b[31m" in out and "d\\u200e" in out


HUGE = "\x1b[31m\x1b]8;;http://evil\x07x\x1b]8;;\x07\x07" + "N" * 300_000


def _external(name: str, location: str) -> onnx.TensorProto:
    t = onnx.numpy_helper.from_array(__import__("numpy").ones(2, "float32"), name)
    t.ClearField("raw_data")
    t.data_location = TensorProto.EXTERNAL
    t.external_data.add(key="location", value=location)
    return t


def _error_models() -> dict:
    from conftest import tensor

    relu = helper.make_node
    return {
        "cycle": (
            make_model(
                [relu("Relu", ["b"], ["a"], name=HUGE + "1"), relu("Relu", ["a"], ["b"], name=HUGE + "2")],
                [vi("x", [2])],
                [vi("b", [2])],
            ),
            (),
            3,
        ),
        "duplicate initializer": (
            make_model([relu("Add", ["x", HUGE], ["y"])], [vi("x", [2])], [vi("y", [2])], [tensor(HUGE, (2,))] * 2),
            (),
            3,
        ),
        "undefined input": (make_model([relu("Add", ["x", HUGE], ["y"])], [vi("x", [2])], [vi("y", [2])]), (), 3),
        "absolute external path": (
            make_model([relu("Add", ["x", "w"], ["y"])], [vi("x", [2])], [vi("y", [2])], [_external("w", "/" + HUGE)]),
            (),
            4,
        ),
        "unknown dim name": (
            make_model([relu("Relu", ["x"], ["y"])], [vi("x", [HUGE, 2])], [vi("y", None)]),
            ("--dim", "nope=7"),
            2,
        ),
    }


@pytest.mark.parametrize("case", list(_error_models()))
def test_an_error_is_one_bounded_inert_line(tmp_path, case):
    """Item 2: error lines carried raw ESC, OSC 8 and BEL, and a 300 KB name made a 300-900 KB line."""
    from modelaudit.encoding import MAX_LINE

    model, flags, exit_code = _error_models()[case]
    code, out, err = run("report", _saved(tmp_path, model), *flags)
    assert code == exit_code and out == "", err[:300]
    assert len(err.splitlines()) == 1 and len(err) <= MAX_LINE + len("modelaudit: error: \n"), len(err)
    assert_inert(err, case)
    if case != "cycle":  # the cycle names its nodes, which are the huge names here: escaped too
        assert "\\x1b[31m\\x1b]8;;http://evil\\x07" in err and "…" in err


def test_file_names_of_a_scanned_folder_are_escaped(tmp_path):
    """Item 2: a file name with escape sequences in a scanned folder was printed raw (the model line
    and the error line of a file that is no model)."""
    folder = tmp_path / "scan"
    folder.mkdir()
    _saved(folder, hostile_model("n", "Relu", "", "batch"), "\x1b[31mgood\x07.onnx")
    (folder / "\x1b]8;;evil\x07bad\u202e.onnx").write_bytes(b"not a model")
    code, out, err = run("report", folder)
    assert code == 3 and "good" in out and "bad" in err
    assert_inert(out, "stdout")
    assert_inert(err, "stderr")
    assert "\\x1b[31mgood\\x07.onnx" in out and "\\x1b]8;;evil\\x07bad\\u202e.onnx" in err


MARKUP = "<img src=x onerror=alert(1)> <script>alert(1)</script> [x](javascript:alert(1)) @octocat #1 `tick`"


def test_markdown_holds_no_live_markup(tmp_path):
    """Item 3: report and compare Markdown (fit for a PR comment) passed raw HTML, links, mentions,
    references and backticks from names; only `|` was escaped."""
    model = hostile_model(MARKUP, "Op<b>|@x", "dom#2|<i>", "d[x](y)")
    path, other = _saved(tmp_path, model), _saved(tmp_path, model, "other.onnx")
    for argv in (
        ("report", path, "--format", "markdown"),
        ("report", path, "--format", "markdown", "--by", "op"),
        ("compare", path, other, "--format", "markdown", "--by", "all"),
    ):
        code, out, err = run(*argv)
        assert code == 0, err
        assert_markdown_inert(out, str(argv[2:]))
    _, out, _ = run("report", path, "--format", "markdown")
    assert "`` <img src=x onerror=alert(1)> <script>alert(1)</script> [x](javascript:alert(1)) @octocat" in out


def test_long_names_are_cut_in_the_middle_and_json_stays_small(tmp_path):
    """Item 8: a 2 MB model with a 1 MB dim name made 8 MB of JSON. Names are cut in the middle: at
    120 characters in tables and lines, 400 in an error line's run, 10,000 in JSON and CSV."""
    from modelaudit.encoding import MAX_FIELD, MAX_NAME

    dim = "head" + "d" * 2**20 + "tail"
    path = _saved(tmp_path, hostile_model("n" + "m" * 500 + "end", "Relu", "", dim))
    code, out, _ = run("report", path, "--format", "json")
    assert code == 0 and len(out) < 20 * MAX_FIELD, len(out)
    d = json.loads(out)
    shape = d["rows"][0]["inputs"][0]  # the dim name and x3, its middle cut
    assert len(shape) == MAX_FIELD and shape.startswith("headddd") and shape.endswith("dddtailx3") and "…" in shape
    assert all(len(s) <= MAX_FIELD for s in d["rows"][0]["unresolved"] + [u["dim"] for u in d["unresolved"]])
    assert d["rows"][0]["name"] == "n" + "m" * 500 + "end"  # whole: within JSON's bound
    code, out, _ = run("report", path, "--wide")
    assert code == 0 and len(out) < 10_000, len(out)
    name_cell = next(line for line in out.splitlines() if line.startswith("0 ")).split()[1]
    assert len(name_cell) == MAX_NAME and name_cell.startswith("nmm") and name_cell.endswith("mmend")
    assert "…" in name_cell
    code, out, _ = run("report", path, "--format", "csv")
    assert code == 0 and len(out) < 20 * MAX_FIELD
