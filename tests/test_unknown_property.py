"""The invariant of #25 on random models: a figure that may be incomplete is shown as what is known
of it, in every format. Each model has two branches, one on a fixed input and one on an input
whose dims may be left symbolic; audited with them left open, each total, op-type sum and block
sum it shows must be a true bound of the same model audited with the dims fixed (the truth):
exact and equal, `≥ n` with n at most the truth, or unknown. An unknown is never shown as 0, a
floor never as the figure, and a budget never passes on what is not known."""

from __future__ import annotations

import csv
import io
import json
import re
import tempfile
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import onnx
from conftest import make_model, tensor, vi
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import helper

import modelaudit
from modelaudit.cli.main import main
from modelaudit.figures import Figure
from modelaudit.units import human, human_bytes

OPS = ("MatMul", "Add", "Relu", "Softmax", "Identity", "Mul")
LABELS = {"macs": "MACs", "flops": "FLOPs", "activation_bytes": "activation bytes"}


@st.composite
def models(draw):
    """(model, the dims left open, their values): branch a on x [2, 4] (fixed), branch b on y [m, 4]
    or [m, k] with m (and k) symbolic or not; each branch a chain of ops named by block."""
    nodes, inits, outputs = [], [], []
    dims = {}
    rows_b = draw(st.sampled_from(["m", 3]))
    if rows_b == "m":
        dims["m"] = draw(st.integers(1, 6))
    for branch, source, width in (("a", "x", 4), ("b", "y", 4)):
        current = source
        for i, op in enumerate(draw(st.lists(st.sampled_from(OPS), min_size=1, max_size=4))):
            out = f"{branch}{i}"
            name = f"/{branch}/{op.lower()}{i}/{op}"
            if op == "MatMul":
                cols = draw(st.integers(1, 5))
                inits.append(tensor(f"w_{out}", (width, cols), seed=i))
                nodes.append(helper.make_node("MatMul", [current, f"w_{out}"], [out], name=name))
                width = cols
            elif op in ("Add", "Mul"):
                inits.append(tensor(f"c_{out}", (width,), seed=i))
                nodes.append(helper.make_node(op, [current, f"c_{out}"], [out], name=name))
            elif op == "Softmax":
                nodes.append(helper.make_node(op, [current], [out], axis=-1, name=name))
            else:
                nodes.append(helper.make_node(op, [current], [out], name=name))
            current = out
        outputs.append(vi(current, None))
    model = make_model(nodes, [vi("x", [2, 4]), vi("y", [rows_b, 4])], outputs, inits)
    return model, dims


def _consistent(shown: Figure, truth: int | float, where: str) -> None:
    assert shown.state in ("exact", "at_least", "unknown"), where
    if shown.complete:
        assert shown.value == truth, f"{where}: {shown!r} shown, the truth is {truth}"
    elif shown.lower is not None:
        assert 0 < shown.lower <= truth, f"{where}: {shown!r} is no floor of {truth}"


def _text_total(text: str, truth: int, fmt, where: str) -> None:
    """A total as the text and Markdown reports print it: `unknown: …`, `≥ x …` or exactly `x`."""
    if text.startswith("unknown"):
        return
    if text.startswith("≥ "):
        assert truth > 0, where
        return
    assert text.startswith(fmt(truth)), f"{where}: {text!r} shown, the truth is {fmt(truth)}"


def _cli(*argv) -> tuple[int, str]:
    out = io.StringIO()
    with redirect_stdout(out), redirect_stderr(io.StringIO()):
        code = main([str(a) for a in argv])
    return code, out.getvalue()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(models())
def test_every_format_shows_a_true_bound(case):
    model, dims = case
    report, truth = modelaudit.audit(model), modelaudit.audit(model, dims=dims)
    exact = {k: int(getattr(truth.totals, k)) for k in ("macs", "flops", "activation_bytes", "params")}
    # the report and its JSON
    for key, value in exact.items():
        _consistent(getattr(report.totals, key), value, f"totals.{key}")
    d = json.loads(modelaudit.render(report, "json", depth=1))
    true_d = json.loads(modelaudit.render(truth, "json", depth=1))
    for key, value in exact.items():
        _consistent(Figure.from_dict(d["totals"][key]), value, f"json totals.{key}")
    for section, name in (("by_op", "op"), ("blocks", "path")):
        true_groups = {g[name]: g for g in true_d[section]}
        for group in d[section]:
            for key in ("macs", "flops"):
                true_value = true_groups[group[name]][key]["value"]
                _consistent(Figure.from_dict(group[key]), true_value, f"json {section} {group[name]} {key}")
    # text and Markdown totals
    text, markdown = modelaudit.render(report, "text"), modelaudit.render(report, "markdown")
    for key, label in LABELS.items():
        fmt = human_bytes if key == "activation_bytes" else human
        line = next(x for x in text.split("\nTotals\n")[1].splitlines() if x.strip().startswith(label + " "))
        _text_total(line.strip()[len(label) :].strip(), exact[key], fmt, f"text {label}")
        line = next(x for x in markdown.splitlines() if x.startswith(f"| {label} |"))
        _text_total(line.split("|")[2].strip(), exact[key], fmt, f"markdown {label}")
    # CSV per op: the number, `>=n` or empty
    true_ops = {g["op"]: g["macs"]["value"] for g in true_d["by_op"]}
    for row in csv.DictReader(io.StringIO(modelaudit.render(report, "csv", by="op"))):
        cell, true_value = row["macs"], true_ops[row["op"]]
        if cell.startswith(">="):
            assert 0 < int(cell[2:]) <= true_value, (row, true_value)
        elif cell:
            assert int(cell) == true_value, (row, true_value)
    # HTML: each op family's bar says its MACs as a bound, `?` when unknown
    true_page = modelaudit.render(truth, "html")
    true_bars = dict(re.findall(r"<title>([^<:]+): MACs ([^<]*)</title>", true_page))
    for family, shown in re.findall(r"<title>([^<:]+): MACs ([^<]*)</title>", modelaudit.render(report, "html")):
        if shown != "?" and not shown.startswith("≥ "):
            assert shown == true_bars[family], (family, shown, true_bars[family])
    _budgets_and_compare(model, report, exact)


def _budgets_and_compare(model, report, exact: dict) -> None:
    """check passes a budget only when it is proven; compare gives no ratio of a bound."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "m.onnx"
        onnx.save(model, path)
        code, out = _cli(
            "check", path, "--max-macs", exact["macs"], "--max-activation-bytes", exact["activation_bytes"]
        )
        proven = report.totals.macs.complete and report.totals.activation_bytes.complete
        assert (code == 0) == proven and ("within budget" in out) == proven, out
        code, out = _cli("compare", path, path, "--format", "json")
        totals = {t["metric"]: t for t in json.loads(out)["totals"]}
        for key in ("macs", "flops"):
            shown = Figure.from_dict(totals[key]["values"][1])
            _consistent(shown, exact[key], f"compare {key}")
            assert (totals[key]["ratio"][1] is None) == (not shown.complete) or exact[key] == 0
