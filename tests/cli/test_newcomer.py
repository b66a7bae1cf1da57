"""What a newcomer tripped on (#25): --symbolic on a model whose shapes divide with a floor, the
peak's max() of terms another bounds, a line per Identity, a lint hint that cannot be pasted,
expression dims said over and over and joined by `x`, tables wider than a terminal, --format
without help, explain '#999', and bare `modelaudit` printing the whole help."""

from __future__ import annotations

import io
import os
from contextlib import redirect_stderr, redirect_stdout

import numpy as np
import onnx
import pytest
from conftest import SAMPLES
from onnx import helper, numpy_helper

from modelaudit.analyses.peak import peak_formula
from modelaudit.cli.main import main
from modelaudit.costs.poly import Poly

H = "floor(height/2 - 1/2) + 1"  # as an exporter writes a stride-2 conv's output size
W = "floor(width/2 - 1/2) + 1"


def run(*argv, width: int | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    saved = os.environ.get("MODELAUDIT_WIDTH")
    if width is not None:
        os.environ["MODELAUDIT_WIDTH"] = str(width)
    try:
        with redirect_stdout(out), redirect_stderr(err):
            code = main([str(a) for a in argv])
    finally:
        if width is not None:
            os.environ.pop("MODELAUDIT_WIDTH") if saved is None else os.environ.__setitem__("MODELAUDIT_WIDTH", saved)
    return code, out.getvalue(), err.getvalue()


def _detector(tmp_path, identities: int = 5) -> str:
    """x[batch, 3, height, width] → a stride-2 3×3 conv (16 channels, pads 1) → Relu, the exporter's
    value_info writing the output size as an expression, then a chain of Identity nodes."""
    weight = numpy_helper.from_array(np.zeros((16, 3, 3, 3), np.float32), "w")
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["a"], strides=[2, 2], pads=[1, 1, 1, 1], name="/stem/conv/Conv"),
        helper.make_node("Relu", ["a"], ["i0"], name="/stem/act/Relu"),
    ] + [helper.make_node("Identity", [f"i{i}"], [f"i{i + 1}"], name=f"/id{i}/Identity") for i in range(identities)]
    shaped = [helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, ["batch", 16, H, W]) for n in ("a", "i0")]
    graph = helper.make_graph(
        nodes,
        "detector",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["batch", 3, "height", "width"])],
        [helper.make_tensor_value_info(f"i{identities}", onnx.TensorProto.FLOAT, ["batch", 16, H, W])],
        [weight],
        value_info=shaped,
    )
    path = tmp_path / "detector.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return str(path)


def test_symbolic_names_the_flags_that_give_a_polynomial(tmp_path):
    path = _detector(tmp_path)
    code, out, _ = run("report", path, "--symbolic")
    macs = next(line for line in out.splitlines() if line.strip().startswith("MACs"))
    assert code == 0 and macs.split(None, 1)[1] == "not a polynomial: --dim height=N --dim width=N gives one in batch"
    assert "exact in batch, height, width" not in out.replace("each polynomial above and in the table is exact", "")
    assert "with --dim height=N --dim width=N they are polynomials in batch" in out
    code, out, _ = run("report", path, "--symbolic", "--dim", "height=320", "--dim", "width=320")
    macs = next(line for line in out.splitlines() if line.strip().startswith("MACs"))
    # 160·160 outputs per channel, 16 channels, 3·3·3 taps each: 11,059,200 per image
    assert code == 0 and macs.split(None, 1)[1] == f"{160 * 160 * 16 * 3 * 3 * 3:,}·batch"


def test_the_peak_drops_a_term_two_others_bound():
    """The transformer block's peak listed 1,024·b·s + 16·b·s² beside 2,304·b·s and 512·b·s + 32·b·s²:
    it is at most their mix λ = 2/7 … 1/2 at every size, so the maximum never reaches it."""

    def poly(*terms):
        return Poly(("batch", "seq"), tuple(terms))

    low, mid, high = poly(((1, 1), 2304)), poly(((1, 2), 16), ((1, 1), 1024)), poly(((1, 2), 32), ((1, 1), 512))
    peak = peak_formula([low, mid, high])
    assert peak is not None and set(peak.polys) == {low, high}
    for batch in (1, 3):
        for seq in range(1, 200):  # what was dropped is below the maximum everywhere
            assert mid({"batch": batch, "seq": seq}) <= peak({"batch": batch, "seq": seq})
    crossing = poly(((1, 2), 40), ((1, 1), 100))  # above both near seq = 32: it stays
    assert crossing in peak_formula([low, mid, high, crossing]).polys


def test_findings_on_many_nodes_are_one_line_and_the_lint_hint_can_be_pasted(tmp_path):
    path = _detector(tmp_path, identities=16)
    code, out, _ = run("report", path)
    (line,) = [x for x in out.splitlines() if x.startswith("MA005")]
    assert code == 0 and line.startswith(
        "MA005 warning: 16 nodes (/id0/Identity, /id1/Identity, /id2/Identity, … 13 more)"
    )
    assert f"`modelaudit lint {path} --min-severity note`" in out
    code, out, _ = run("lint", path)
    assert code == 0 and [x for x in out.splitlines() if x.startswith("MA005")] == [line]
    assert out.endswith("16 finding(s)\n")  # one line, sixteen findings (JSON and SARIF keep each)


def test_expression_dims_are_said_once_and_told_apart(tmp_path):
    code, out, _ = run("report", _detector(tmp_path, identities=1), "--wide")
    assert code == 0 and f"batch×16×({H})×({W})" in out and f"batchx16x{H}" not in out
    notices = [x for x in out.splitlines() if x.startswith("unresolved")]
    assert notices == [
        "unresolved dim batch in 2 node(s): resolve with --dim batch=N",
        f"unresolved: 2 dims computed from input dims (e.g. {W}) in 2 node(s): resolve with --dim height=N "
        "--dim width=N",
    ]
    assert "unresolved: batch, height, width" in out  # a row's note: the input dims that fix it


@pytest.mark.parametrize(
    "argv",
    [
        ("ops",),
        ("compare", SAMPLES / "mobilenet_v1.onnx", SAMPLES / "mobilenet_v2.onnx", SAMPLES / "transformer_block.onnx"),
        (
            "compare",
            *(SAMPLES / f for f in ("mobilenet_v1.onnx", "mobilenet_v2.onnx", "transformer_block.onnx")),
            "--by",
            "all",
        ),
    ],
    ids=["ops", "compare of 3", "compare of 3 by all"],
)
def test_tables_fit_an_80_column_terminal(argv):
    code, out, _ = run(*argv, width=80)
    assert code == 0 and max(map(len, out.splitlines())) <= 80
    assert "(fitted to 80 columns" in out and "--wide" in out
    code, wide, _ = run(*argv, "--wide", width=80)  # the table whole, as in a pipe
    assert code == 0 and max(map(len, wide.splitlines())) > 80


def test_every_format_flag_has_help():
    import argparse

    from modelaudit.cli.parser import build_parser

    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices
    formats = {
        name: action.help
        for name, sub in commands.items()
        for action in sub._actions
        if "--format" in action.option_strings
    }
    assert set(formats) >= {"report", "compare", "check", "lint", "ops"}
    assert all(text and len(text) > 10 for text in formats.values()), formats


def test_explain_names_the_range_of_node_indexes():
    code, out, err = run("explain", SAMPLES / "mobilenet_v2.onnx", "#999")
    assert code == 2 and out == ""
    assert err.strip() == (
        "modelaudit: error: no node #999: the model's node indexes are #0 to #151 "
        "(the # column of `modelaudit report` gives each node's)"
    )


def test_bare_command_prints_a_short_usage():
    code, out, err = run()
    lines = err.splitlines()
    assert code == 2 and out == "" and len(lines) == 2 and lines[0].startswith("usage: modelaudit")
    assert lines[1].startswith("modelaudit: error: name a command: report, ") and "modelaudit -h" in lines[1]
