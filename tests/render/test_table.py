"""The text table fitted to a terminal: golden outputs at fixed widths, --columns, --depth, --wide.

`python tests/render/test_table.py --update` rewrites the golden files from the tool's output."""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from contextlib import redirect_stdout
from pathlib import Path

import pytest

import modelaudit
from modelaudit.render import document

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).resolve().parent / "golden"
V2 = "sample_models/mobilenet_v2.onnx"
CASES = {  # golden file -> (terminal width, argv)
    "mobilenet_v2_top8_w100.txt": (100, ["report", V2, "--top", "8"]),
    "mobilenet_v2_depth2_w80.txt": (80, ["report", V2, "--depth", "2"]),
    "mobilenet_v2_block_w60.txt": (60, ["report", "sample_models/mobilenet_v2_block.onnx"]),
}


def run(argv: list[str], width: int | None = None) -> tuple[int, str]:
    from modelaudit.cli.main import main

    saved, cwd = os.environ.get("MODELAUDIT_WIDTH"), os.getcwd()
    if width is not None:
        os.environ["MODELAUDIT_WIDTH"] = str(width)
    os.chdir(ROOT)
    buf = io.StringIO()
    try:
        with redirect_stdout(buf):
            code = main(argv)
    finally:
        os.chdir(cwd)
        if width is not None:
            del os.environ["MODELAUDIT_WIDTH"]
        if saved is not None:
            os.environ["MODELAUDIT_WIDTH"] = saved
    return code, buf.getvalue()


def table_lines(out: str) -> list[str]:
    """The table: from the header to the blank line after it."""
    lines = out.splitlines()
    start = lines.index("") + 1  # after the model line, wrapped at the width like every prose line
    return lines[start : lines.index("", start)]


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_fitted_table(name):
    width, argv = CASES[name]
    code, out = run(argv, width)
    assert code == 0
    assert out == (GOLDEN / name).read_text(encoding="utf-8"), (
        "regenerate with: python tests/render/test_table.py --update (and review the diff)"
    )


@pytest.mark.parametrize("width", [60, 72, 80, 100, 120, 160, 200])
def test_every_table_line_fits_the_width(width):
    for argv in (
        ["report", V2],
        ["report", V2, "--depth", "3"],
        ["report", V2, "--by", "op"],
        ["report", V2, "--hardware", "a100"],
        ["report", V2, "--training"],
    ):
        code, out = run(argv, width)
        assert code == 0
        assert max(len(line) for line in table_lines(out)) <= width, (argv, width)
        assert all(len(line) <= width for line in out.split("Totals")[0].splitlines()[2:])  # the fitting note too


def test_whole_when_piped_or_wide():
    whole = run(["report", V2])[1]  # stdout is not a terminal here: the table is printed whole
    assert "/features/features.1/conv/conv.0/conv.0.1/BatchNormalization" in whole and "(fitted" not in whole
    assert run(["report", V2, "--wide"], 80)[1] == whole
    assert run(["report", V2], 0)[1] == whole  # MODELAUDIT_WIDTH=0: whole
    assert max(len(line) for line in table_lines(whole)) > 160


def test_fitting_hides_columns_and_abbreviates_in_the_middle():
    out = run(["report", V2], 80)[1]
    header = table_lines(out)[0].split()
    assert header[:3] == ["#", "name", "op"] and "input" not in header
    assert (
        "(fitted to 80 columns: input, out bytes, FLOPs, weights, % params, output hidden; "
        "long names abbreviated with …; --wide shows all)" in " ".join(out.split())
    )  # wrapped at 80
    first = table_lines(out)[2]
    assert first.startswith("0    /features/") and "…" in first and "Conv " in first


def test_abbreviate_keeps_both_ends():
    from modelaudit.render.table import abbreviate

    assert abbreviate("/features/features.3/conv/conv.1/conv.1.0/Conv", 17) == "/feature…1.0/Conv"
    assert abbreviate("1x3x224x224", 11) == "1x3x224x224"
    assert len(abbreviate("x" * 865, 13)) == 13


def test_columns_choose_and_order_the_table(capsys):
    code, out = run(["report", V2, "--columns", "macs,name,params%", "--top", "2"])
    assert code == 0
    header, _, first, second = table_lines(out)
    assert header.split() == ["MACs", "name", "%", "params"]
    assert first.split() == ["20.1", "M", "/features/features.18/features.18.0/Conv", "11.7%"]  # 409,600 / 3,504,872
    assert f"{100 * 1280 * 320 / 3_504_872:.1f}%" == "11.7%"
    from modelaudit.cli.main import main

    assert main(["report", V2, "--columns", "name,cost"]) == 2
    assert "--columns cost: not a column of this table (its columns: index,name,op," in capsys.readouterr().err
    assert main(["report", V2, "--columns", "name", "--format", "csv"]) == 2
    assert "shapes the text and markdown tables" in capsys.readouterr().err


def test_index_weights_and_percent_params_columns():
    out = run(["report", V2])[1]
    rows = {line.split()[1]: line.split() for line in table_lines(out)[2:]}
    conv = rows["/features/features.0/features.0.0/Conv"]
    assert conv[0] == "0" and "32x3x3x3" in conv  # (m·n·d)·k weights of the first conv, no bias
    gemm = rows["/classifier/classifier.1/Gemm"]
    assert "1000x1280," in gemm and f"{100 * (1280 * 1000 + 1000) / 3_504_872:.1f}%" in gemm
    clip = rows["/features/features.0/features.0.2/Clip"]
    assert "scalar" not in " ".join(clip)  # Clip's bounds are no weights
    assert "note" not in table_lines(out)[0]  # empty: dropped


def test_depth_subtotals_add_up():
    code, out = run(["report", V2, "--depth", "2", "--format", "csv"])
    blocks = list(csv.DictReader(io.StringIO(out)))
    top = [b for b in blocks if b["level"] == "1"]
    assert sum(int(b["params"]) for b in top) == 3_504_872 and sum(int(b["macs"]) for b in top) == 300_774_272
    features = next(b for b in top if b["block"] == "features")
    children = [b for b in blocks if b["path"].startswith("features/")]
    assert len(children) == 19 and sum(int(b["macs"]) for b in children) == int(features["macs"])
    f3 = next(b for b in blocks if b["block"] == "features.3")
    assert int(f3["params"]) == 8_832 and int(f3["nodes"]) == 9  # compare --by block's figure
    d = json.loads(run(["report", V2, "--depth", "1", "--format", "json"])[1])
    assert [b["block"] for b in d["blocks"]] == ["features", "(top level)", "classifier"]
    assert d["view"]["depth"] == 1
    out = run(["report", V2, "--depth", "2", "--top", "3"])[1]
    from modelaudit.costs.blocks import by_block  # compare --by block's grouping, flat

    flat = by_block(modelaudit.audit(ROOT / V2).columns(), 2)
    assert [line.split()[0] for line in table_lines(out)[2:]] == sorted(flat, key=lambda b: -int(flat[b]["macs"]))[:3]
    assert "(top 3 of 21 blocks shown; totals are for the whole model)" in out


def test_explicit_index_matches_explain(capsys):
    out = run(["report", V2, "--columns", "index,name", "--sort", "params", "--top", "1"])[1]
    index, name = table_lines(out)[2].split()
    from modelaudit.cli.main import main

    assert main(["explain", V2, f"#{index}"]) == 0
    assert capsys.readouterr().out.startswith(f"{name}  (Gemm)")


if __name__ == "__main__" and "--update" in sys.argv:
    sys.path.insert(0, str(ROOT))
    GOLDEN.mkdir(exist_ok=True)
    for name, (width, argv) in CASES.items():
        (GOLDEN / name).write_text(run(argv, width)[1], encoding="utf-8")
        print(f"updated {GOLDEN / name}")


def test_a_long_hostile_dim_name_is_escaped_and_abbreviated(tmp_path):
    import onnx
    from conftest import make_model, vi
    from onnx import helper

    model = make_model(
        [helper.make_node("Relu", ["x"], ["y"], name="relu")],
        [vi("x", ["\x1b[31mred" + "s" * 800, 3])],
        [vi("y", None)],
    )  # an 865-column shape
    path = tmp_path / "long.onnx"
    onnx.save(model, path)
    for fmt in ("text", "markdown", "csv"):
        code, out = run(["report", str(path), "--format", fmt])
        assert code == 0 and "\x1b" not in out and "\\x1b[31mred" in out, fmt
    code, out = run(["report", str(path)], 100)
    assert max(len(line) for line in table_lines(out)) <= 100 and "…" in table_lines(out)[2]


def test_profiled_tables_keep_the_time_columns_longest():
    from modelaudit.render.table import fit, table

    d = modelaudit.audit(ROOT / V2).to_dict()
    d["profile"] = {"total_ms": 10.0}
    for r in d["rows"]:
        r["ms"], r["gmacs_per_s"] = 0.05, 1.0
    headers, cells, _ = fit(*table(document(d)), 100)
    assert {"ms", "% time"} <= set(headers) and "input" not in headers
    assert cells[0][headers.index("% time")] == "0.5%"  # 0.05 of 10 ms


def test_terminal_width_comes_from_the_terminal_only_when_there_is_one(monkeypatch):
    import argparse
    import os as os_module

    from modelaudit.cli.report import terminal_width

    monkeypatch.delenv("MODELAUDIT_WIDTH", raising=False)
    monkeypatch.setattr("shutil.get_terminal_size", lambda *a, **k: os_module.terminal_size((90, 24)))

    def args(**kw):
        return argparse.Namespace(**({"wide": False, "output": None, "format": "text"} | kw))

    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    assert terminal_width(args()) == 90
    assert terminal_width(args(wide=True)) is None
    assert terminal_width(args(output="r.txt")) is None
    assert terminal_width(args(format="markdown")) is None
    monkeypatch.setattr(sys.stdout, "isatty", lambda: False)
    assert terminal_width(args()) is None  # a pipe or a file: whole
    monkeypatch.setenv("MODELAUDIT_WIDTH", "72")
    assert terminal_width(args()) == 72
    monkeypatch.setenv("MODELAUDIT_WIDTH", "wide")
    with pytest.raises(modelaudit.ModelAuditError):
        terminal_width(args())


def test_symbolic_formulas_are_the_last_columns_hidden(tmp_path):
    import onnx
    from conftest import make_model, tensor, vi
    from onnx import helper

    model = make_model(
        [helper.make_node("MatMul", ["x", "w"], ["y"], name="/proj/MatMul")],
        [vi("x", ["seq", 8])],
        [vi("y", None)],
        [tensor("w", (8, 8))],
    )
    path = tmp_path / "proj.onnx"
    onnx.save(model, path)
    code, out = run(["report", str(path), "--symbolic"], 72)  # input, weights, % params, output hidden
    header, _, row = table_lines(out)
    assert header.split()[-4:] == ["MACs", "FLOPs", "out", "bytes"]
    assert row.split()[-3:] == ["64·seq", "128·seq", "32·seq"]  # seq·8·8 MACs, 2·that FLOPs, seq·8·4 bytes


def test_plain_table_is_tabulates_simple_format_and_empty_columns_drop():
    # plain_table writes each line with one format string; tabulate's own "simple" output is the
    # reference (its leading-space stripping aside, which no cell here has)
    from tabulate import tabulate

    from modelaudit.render.grid import plain_table
    from modelaudit.render.table import table

    cells = [[0, "a{b}", "3.5 M", ""], [12, "long name here", "?", ""], [None, "x", "1.0 G", ""]]
    headers = ["#", "name", "MACs", "note"]
    assert plain_table(cells, headers) == tabulate(
        cells, headers=headers, tablefmt="simple", disable_numparse=True, missingval="None"
    )
    assert plain_table([], headers) == tabulate([], headers=headers, tablefmt="simple")
    texts = [[str(c) for c in row] for row in cells]  # Markdown's tables: tabulate's "github", padded
    assert plain_table(texts, headers, "github") == tabulate(texts, headers=headers, tablefmt="github")
    assert plain_table([], headers, "github") == tabulate([], headers=headers, tablefmt="github")
    # table() builds column by column: the note column (all "") goes, a column of zeros stays
    d = modelaudit.audit(str(ROOT / V2)).to_dict()
    headers, rows, keys = table(document(d))
    assert "note" not in keys and keys[:3] == ["index", "name", "op"]
    assert {len(r) for r in rows} == {len(keys)} and len(rows) == len(d["rows"])
    assert rows[0][keys.index("name")] == d["rows"][0]["name"] and rows[0][0] == d["rows"][0]["index"]


@pytest.mark.parametrize("width", [72, 80])
def test_the_whole_text_report_fits_the_width(width):
    """Only the table was fitted: the roofline's summary (321 characters on one line), the model
    line and long totals ran past MODELAUDIT_WIDTH. Every line now wraps at it."""
    for argv in (["report", V2, "--hardware", "a100", "--training"], ["report", V2, "--top", "3"]):
        code, out = run(argv, width)
        assert code == 0
        long = [line for line in out.splitlines() if len(line) > width]
        assert not long, (argv, long[:2])
    whole = run(["report", V2, "--hardware", "a100"])[1]
    assert max(len(line) for line in whole.splitlines()) > 200  # piped: nothing wrapped


def _two_blocks(tmp_path, batch=2) -> str:
    """x [batch, 8] → /a/MatMul (W1 8×16) → /a/Relu → /b/MatMul (W2 16×4) → y."""
    import onnx
    from onnx import TensorProto, helper

    sys.path.insert(0, str(ROOT / "tests"))
    from conftest import make_model, tensor, vi

    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["h"], name="/a/MatMul"),
        helper.make_node("Relu", ["h"], ["r"], name="/a/Relu"),
        helper.make_node("MatMul", ["r", "w2"], ["y"], name="/b/MatMul"),
    ]
    model = make_model(
        nodes,
        [vi("x", [batch, 8])],
        [vi("y", [batch, 4], TensorProto.FLOAT)],
        [tensor("w1", (8, 16)), tensor("w2", (16, 4), seed=1)],
    )
    path = tmp_path / "two_blocks.onnx"
    onnx.save(model, path)
    return str(path)


def test_depth_with_training_sums_backward_macs_per_block(tmp_path, capsys):
    """--training --depth 1 printed the right backward total but the block table had no backward
    column. Block a's MatMul reads the graph input: only dW, 1·(2·8·16); block b's wants dW and
    the gradient of its activation input: 2·(2·16·4)."""
    from modelaudit.cli.main import main

    path = _two_blocks(tmp_path)
    assert main(["report", path, "--training", "--depth", "1", "--format", "json"]) == 0
    blocks = {b["block"]: b for b in json.loads(capsys.readouterr().out)["blocks"]}
    assert blocks["a"]["backward_macs"] == {"value": 1 * (2 * 8 * 16), "bound": "exact"}
    assert blocks["b"]["backward_macs"] == {"value": 2 * (2 * 16 * 4), "bound": "exact"}
    os.environ["MODELAUDIT_WIDTH"] = "0"
    try:
        assert main(["report", path, "--training", "--depth", "1"]) == 0
    finally:
        del os.environ["MODELAUDIT_WIDTH"]
    table = _cells(capsys.readouterr().out, "block")
    assert table["a"]["bwd MACs"] == "256" and table["b"]["bwd MACs"] == "256"
    assert main(["report", path, "--training", "--depth", "1", "--format", "csv"]) == 0
    rows = {r["block"]: r for r in csv.DictReader(io.StringIO(capsys.readouterr().out))}
    assert rows["b"]["backward_macs"] == str(2 * (2 * 16 * 4))
    os.environ["MODELAUDIT_WIDTH"] = "0"
    try:  # a symbolic batch: every MatMul's MACs unknown, so each block's backward MACs too
        assert main(["report", _two_blocks(tmp_path, "n"), "--training", "--depth", "1"]) == 0
    finally:
        del os.environ["MODELAUDIT_WIDTH"]
    table = _cells(capsys.readouterr().out, "block")
    assert table["a"]["bwd MACs"] == "?" and table["b"]["bwd MACs"] == "?"


def test_depth_with_profile_sums_ms_per_block(tmp_path, capsys):
    """--profile --depth 1 had no ms column in the block table: each block's is the sum of its
    nodes' median times."""
    from modelaudit.cli.main import main

    path = _two_blocks(tmp_path)
    assert main(["report", path, "--profile", "--runs", "3", "--depth", "1", "--format", "json"]) == 0
    d = json.loads(capsys.readouterr().out)
    timed = {r["name"]: r["ms"] for r in d["rows"]}
    assert all(v is not None for v in timed.values())
    blocks = {b["block"]: b for b in d["blocks"]}
    assert blocks["a"]["ms"] == pytest.approx(timed["/a/MatMul"] + timed["/a/Relu"])
    assert blocks["b"]["ms"] == pytest.approx(timed["/b/MatMul"])
    from modelaudit.render.markdown import render_markdown

    table = _cells(render_markdown(document(d), depth=1), "| block")  # the same run's times, as markdown
    assert table["a"]["ms"] == f"{blocks['a']['ms']:.3f}" and table["b"]["ms"] == f"{blocks['b']['ms']:.3f}"


def _cells(out: str, start: str) -> dict:
    """A text or markdown table's cells by first cell and header."""
    import re

    def split(line: str) -> list[str]:
        return [c for c in re.split(r"\s{2,}|\s*\|\s*", line.strip()) if c]

    lines = out.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith(start))
    header = split(lines[at])
    table = {}
    for line in lines[at + 2 :]:
        if not line.strip() or not split(line):
            break
        table[split(line)[0]] = dict(zip(header, split(line)))
    return table


def test_a_profiled_block_table_leaves_the_next_tables_columns_alone():
    # the profiled block table added its `ms` column to the shared BLOCK_COLUMNS: every later
    # --depth table in the process (an API user's, the test suite's) showed a column of "?"
    from modelaudit.render.table import table

    d = modelaudit.audit(ROOT / V2).to_dict()
    profiled = d | {"profile": {"total_ms": 10.0}, "rows": [r | {"ms": 0.05} for r in d["rows"]]}
    assert "ms" in table(document(profiled), depth=1)[2]
    assert "ms" not in table(document(d), depth=1)[2]
