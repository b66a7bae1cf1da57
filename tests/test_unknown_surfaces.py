"""An unknown is never zero, on any surface (#25): sample_models/transformer_block.onnx without --dim
leaves batch and seq symbolic, so every cost but the params is unknown. Each surface (text,
markdown, json, csv, html, sarif, check, compare, --hardware, --decode, --top, --depth, the API and
the pytest plugin) must say so: never print, sum, chart or compare such a figure as 0. The truth is
what the same model costs at batch 1 and seq 512 (58,720,256 MACs: 49,152·512 + 128·512²)."""

from __future__ import annotations

import csv
import io
import json
import re

import onnx
import pytest
from conftest import SAMPLES
from onnx import helper

import modelaudit
from modelaudit.cli.main import main
from modelaudit.figures import Figure, IncompleteFigureError

BLOCK = str(SAMPLES / "transformer_block.onnx")
UNKNOWN = {"value": None, "bound": "unknown"}
COSTS = ("macs", "flops", "activation_bytes", "peak_activation_bytes")
# an unknown cost shown as a zero: "MACs 0", "0 B", "| 0 |" beside a cost, "0 ms", "0.0%"
ZERO = re.compile(r"(?:MACs|FLOPs|bytes|activations)\s+0(?![.,\d])|\b0 B\b|\b0(?:\.0+)? ms\b|≥ 0(?![.,\d])")


def cli(capsys, *argv) -> tuple[int, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out + err


def totals_lines(text: str) -> dict[str, str]:
    """The text report's Totals section: label -> value."""
    section = text.split("\nTotals\n", 1)[1].split("\n\n", 1)[0]
    return {line[:18].strip(): line[18:].strip() for line in section.splitlines()}


def test_text(capsys):
    code, out = cli(capsys, "report", BLOCK)
    assert code == 0 and not ZERO.search(out)
    totals = totals_lines(out)
    for label in ("MACs", "FLOPs", "activation bytes", "peak activations"):
        assert totals[label].startswith("unknown: ") and "--dim batch=N --dim seq=N" in totals[label], totals[label]
    code, out = cli(capsys, "report", BLOCK, "--columns", "op,macs,flops,bytes,macs%")
    rows = [line.split() for line in out.splitlines()[4:33]]
    assert len(rows) == 29 and all(r == [r[0], "?", "?", "?", "?"] for r in rows if r[0] == "MatMul"), rows


def test_markdown(capsys):
    code, out = cli(capsys, "report", BLOCK, "--format", "markdown")
    assert code == 0
    for label in ("MACs", "FLOPs", "activation bytes", "peak activations"):
        (line,) = [line for line in out.splitlines() if line.startswith(f"| {label} |")]
        assert "| unknown: " in line, line
    assert not ZERO.search(out)


def test_json(capsys):
    code, out = cli(capsys, "report", BLOCK, "--format", "json", "--depth", "1")
    d = json.loads(out)
    assert code == 0 and d["schema_version"] == 2
    assert all(d["totals"][k] == UNKNOWN for k in COSTS)
    assert d["totals"]["params"] == {"value": 49_984, "bound": "exact"}
    by_op = {g["op"]: g for g in d["by_op"]}
    assert by_op["MatMul"]["macs"] == UNKNOWN and by_op["MatMul"]["unknown"] == 8
    assert by_op["Reshape"]["macs"] == {"value": 0, "bound": "exact"}  # data movement: a real 0
    # a group is exact only when none of its nodes is unknown; a 0 beside unknown nodes is no figure
    for group in d["by_op"] + d["blocks"]:
        assert (group["macs"]["bound"] == "exact") == (group["unknown"] == 0), group
    assert next(b for b in d["blocks"] if b["block"] == "attn")["macs"] == UNKNOWN


def test_csv(capsys):
    code, out = cli(capsys, "report", BLOCK, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and all(r["macs"] == "" for r in rows if r["status"] == "unresolved")
    code, out = cli(capsys, "report", BLOCK, "--format", "csv", "--by", "op")
    by_op = {r["op"]: r for r in csv.DictReader(io.StringIO(out))}
    assert by_op["MatMul"]["macs"] == by_op["Add"]["flops"] == ""  # empty: unknown, never 0
    code, out = cli(capsys, "report", BLOCK, "--format", "csv", "--depth", "1")
    blocks = {r["block"]: r for r in csv.DictReader(io.StringIO(out))}
    assert blocks["attn"]["macs"] == "" and blocks["attn"]["unknown"] == "12"


def test_html(capsys, tmp_path):
    page = tmp_path / "r.html"
    code, _ = cli(capsys, "report", BLOCK, "--format", "html", "-o", page)
    text = page.read_text(encoding="utf-8")
    titles = re.findall(r"<title>([^<]*): (MACs|params) ([^<]*)</title>", text)
    macs = {label: value for label, what, value in titles if what == "MACs"}
    assert code == 0 and macs and "0" not in macs.values(), macs  # every block and family bar
    assert macs["attn/scores"] == "?" and macs["Gemm/MatMul"] == "?" and macs["elementwise"] == "?"
    assert text.count('fill="url(#ma-hatch)"') >= len([v for v in macs.values() if v == "?"])
    assert not re.search(r"MACs 0<", text)


def _dynamic_batch_v2(tmp_path) -> str:
    """mobilenet_v2 with a symbolic batch: its 52 BatchNorms each follow a Conv (MA004)."""
    model = onnx.load(SAMPLES / "mobilenet_v2.onnx")
    for value in (model.graph.input[0], model.graph.output[0]):
        value.type.tensor_type.shape.dim[0].dim_param = "batch"
    path = tmp_path / "v2_dynamic.onnx"
    onnx.save(model, path)
    return str(path)


def test_sarif(capsys, tmp_path):
    for model in (BLOCK, _dynamic_batch_v2(tmp_path)):
        code, out = cli(capsys, "lint", model, "--format", "sarif", "--min-severity", "note")
        messages = [r["message"]["text"] for r in json.loads(out)["runs"][0]["results"]]
        assert code == 0 and messages
        assert not [m for m in messages if re.search(r"\b0 (?:FLOPs|MACs|bytes)\b", m)], messages
    assert any("its FLOPs (unknown until the sizes are)" in m for m in messages)  # a BatchNorm's, folded


def test_check_text_and_json(capsys):
    code, out = cli(
        capsys, "check", BLOCK, "--max-macs", "1G", "--max-peak-memory", "1KiB", "--max-activation-bytes", "1KiB"
    )
    lines = out.splitlines()
    assert code == 1 and "within budget" not in out
    for metric in ("macs", "peak_activation_bytes", "activation_bytes"):
        (line,) = [x for x in lines if f": {metric} " in x]
        assert line.startswith(f"budget not proven: {BLOCK}: {metric} unknown, limit ")
        assert line.endswith("resolve with --dim batch=N --dim seq=N]")
    assert not re.search(r"\b0 \(0\)", out)
    code, out = cli(capsys, "check", BLOCK, "--max-macs", "1G", "--format", "json")
    (breach,) = json.loads(out)["models"][0]["breaches"]
    assert code == 1 and breach["actual"] == UNKNOWN and breach["proven"] is False
    # at batch 1, seq 512 the same budget is proven: 58.7 M MACs
    assert cli(capsys, "check", BLOCK, "--max-macs", "1G", "--dim", "batch=1", "--dim", "seq=512")[0] == 0


def test_compare(capsys):
    code, out = cli(capsys, "compare", str(SAMPLES / "mobilenet_v2.onnx"), BLOCK, "--by", "all", "--wide")
    assert code == 0
    totals = out.split("\n\n")[1].splitlines()
    for label in ("MACs", "FLOPs", "peak activations"):
        (line,) = [x for x in totals if x.startswith(label + " ")]
        assert line.split()[-1] == "?" and "×0.00" not in line, line
    families = out.split("MACs and params per op family")[1].split("\n\n")[1].splitlines()[2:]
    elementwise = next(line.split() for line in families if line.startswith("elementwise"))
    assert elementwise[2] == "?"  # Relu and Add: elementwise by their op type, unknown by their size
    code, out = cli(capsys, "compare", str(SAMPLES / "mobilenet_v2.onnx"), BLOCK, "--format", "json")
    c = json.loads(out)
    macs = next(t for t in c["totals"] if t["metric"] == "macs")
    assert macs["values"][1] == UNKNOWN and macs["ratio"][1] is None and macs["delta"][1] is None


def test_hardware(capsys):
    """The time bound is the largest of its bounds, a floor while rows are unknown (it printed
    "time bound 0 ms" and "the model is compute-bound at this batch")."""
    code, out = cli(capsys, "report", BLOCK, "--hardware", "h100-sxm")
    assert code == 0 and not ZERO.search(out), out
    (bound,) = [line for line in out.splitlines() if line.strip().startswith("time bound")]
    assert bound.strip().startswith("time bound ≥ ") and "roofline ?" in bound, bound
    assert "is compute-bound" not in out and "is memory-bound" not in out
    assert "bounds the model is unknown" in out


def _decoder_with_an_uncounted_op(tmp_path) -> str:
    """The test decoder with a custom op (no rule) before its lm_head: the lm_head's MACs are
    unknown at every context, so each step's MACs are a floor."""
    from decoders import gpt_decoder

    model = gpt_decoder()
    head = next(n for n in model.graph.node if n.name == "/lm_head/MatMul")
    source = head.input[0]
    model.graph.node.insert(
        list(model.graph.node).index(head), helper.make_node("Mystery", [source], ["mystery.out"], domain="x.y")
    )
    head.input[0] = "mystery.out"
    model.opset_import.append(helper.make_opsetid("x.y", 1))
    path = tmp_path / "decoder.onnx"
    onnx.save(model, path)
    return str(path)


def test_decode_never_shows_an_unknown_as_zero(capsys, tmp_path):
    code, out = cli(capsys, "report", _decoder_with_an_uncounted_op(tmp_path), "--decode", "16,64")
    assert code == 0 and not ZERO.search(out)
    macs = [line for line in out.splitlines() if "MACs" in line and line.startswith(("prefill", "decode"))]
    assert macs and all(" 0 " not in line + " " for line in macs), macs


def test_decode_marks_each_floor(capsys, tmp_path):
    code, out = cli(capsys, "report", _decoder_with_an_uncounted_op(tmp_path), "--decode", "16,64")
    macs = [line for line in out.splitlines() if line.startswith(("prefill MACs", "decode MACs"))]
    assert code == 0 and macs and all(line.count("≥") == 2 for line in macs), macs
    code, out = cli(
        capsys, "report", _decoder_with_an_uncounted_op(tmp_path), "--decode", "16,64", "--hardware", "h100-sxm"
    )
    lines = out.splitlines()
    times = [line for line in lines if line.startswith(("prefill time", "decode step"))]
    rates = [line for line in lines if line.startswith("tokens/s")]
    # each time is the largest of its bounds (a floor here), each rate the smallest (a ceiling)
    assert code == 0 and times and all(line.count("≥") == 2 for line in times), times
    assert rates and all(line.count("≤") == 2 for line in rates), rates
    assert not ZERO.search(out) and "bound by overhead" not in out


def test_top(capsys):
    code, out = cli(capsys, "report", BLOCK, "--top", "5", "--columns", "index,name,op,macs")
    shown = [line.split()[2] for line in out.splitlines()[4:9]]
    # the rows of unknown cost come before the zero-cost Reshape, Transpose and Identity rows
    assert code == 0 and len(shown) == 5 and not {"Reshape", "Transpose", "Identity"} & set(shown), shown
    assert "21 node(s) of unknown MACs listed after the known and before the zeros" in out
    assert "--dim batch=N --dim seq=N to rank them" in out
    code, out = cli(capsys, "report", BLOCK, "--top", "5", "--symbolic", "--columns", "index,name,op,macs")
    shown = [line.split()[1] for line in out.splitlines()[4:9]]
    # by the formulas as seq grows: the two seq² MatMuls (64·batch·seq²), then the FFN's 16,384·batch·seq
    assert shown == [
        "/attn/scores/MatMul",
        "/attn/context/MatMul",
        "/ffn/fc1/MatMul",
        "/ffn/fc2/MatMul",
        "/attn/q_proj/MatMul",
    ]
    assert "ranked by their formulas as the dims grow" in out


def test_depth(capsys):
    code, out = cli(capsys, "report", BLOCK, "--depth", "1")
    blocks = {line.split()[0]: line.split() for line in out.split("\n\n")[1].splitlines()[2:]}
    assert code == 0 and blocks["attn"][-3:] == ["?", "?", "?"]  # MACs, % MACs, FLOPs
    assert blocks["residual1"][-3:] == ["?", "?", "?"] and not ZERO.search(out)


def test_api():
    report = modelaudit.audit(BLOCK)
    macs = report.totals.macs
    assert isinstance(macs, Figure) and macs == Figure.unknown() and macs != 0
    with pytest.raises(IncompleteFigureError):
        assert macs < 1e6  # the budget that passed on a block of 58.7 M MACs at seq 512
    assert not macs.provably_at_most(1e6) and macs.lower is None and str(macs) == "?"
    d = report.to_dict()
    assert all(d["totals"][k] == UNKNOWN for k in COSTS)
    assert json.loads(json.dumps(d)) == json.loads(modelaudit.render(report, "json"))
    fixed = modelaudit.audit(BLOCK, dims={"batch": 1, "seq": 512}).totals.macs
    assert fixed == 49_152 * 512 + 128 * 512**2 and fixed > 1e6


pytest_plugins = ["pytester"]


def test_pytest_plugin(pytester):
    (pytester.path / "models").mkdir()
    (pytester.path / "models" / "block.onnx").write_bytes((SAMPLES / "transformer_block.onnx").read_bytes())
    pytester.makeini("[pytest]\n")
    pytester.makepyfile(  # a module name of its own: tests/test_pytest_plugin.py is imported already
        test_block_budget="""
        import pytest

        from modelaudit import IncompleteFigureError

        def test_budget(model_audit):
            report = model_audit("models/../models/block.onnx")
            with pytest.raises(IncompleteFigureError):
                assert report.totals.macs < 1e6
        """
    )
    summary = pytester.path / "summary.md"
    result = pytester.runpytest(f"--modelaudit-report={summary}")
    result.assert_outcomes(passed=1)
    (row,) = [line for line in summary.read_text().splitlines() if "block.onnx" in line]
    # the path from the rootdir, normalised; each unknown total `?`, never `≥ 0 | 0 | 0 B`
    assert row.startswith("| models/block.onnx | 50.0 K | 195.2 KiB | ? | ? | ? |"), row
