"""The formats that read a Report's Row objects column by column (json, jsonl, text, markdown, csv)
write exactly what they write from its to_dict(), the public document."""

from __future__ import annotations

import json
import math
from importlib import import_module

import pytest
from builders import loop_model
from conftest import SAMPLES, make_model, tensor, vi
from onnx import helper

import modelaudit
from modelaudit.render import render

FORMATS = ("json", "jsonl", "text", "markdown", "csv", "html")
VIEWS = (
    {},
    {"sort": "macs", "top": 3},
    {"sort": "name"},
    {"by": "op"},
    {"depth": 2},
    {"depth": 1, "sort": "params"},
    {"columns": ["name", "op", "macs"]},
)


def _odd_names_model():
    """Names that need escaping in every format, one past JSON's 10,000-character cut, a node
    without a rule (unknown MACs) and a Loop (a subgraph scope, runs ≠ 1)."""
    long_name = "/block/" + "x" * 12_000 + "/MatMul"
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["a"], name=long_name),
        helper.make_node("Relu", ["a"], ["b"], name='"quoted" \\ back\x1b[31mred\u202e é ::error:: |pipe|'),
        helper.make_node("NoSuchOp", ["b"], ["c"], name="::starts with colons", domain="custom.domain"),
        helper.make_node("Identity", ["c"], ["y"], name="=formula"),
    ]
    model = make_model(nodes, [vi("x", [1, 8])], [vi("y", None)], [tensor("w", (8, 8))])
    model.opset_import.append(helper.make_opsetid("custom.domain", 1))
    return model


def _reports():
    yield "mobilenet_v2", modelaudit.audit(SAMPLES / "mobilenet_v2.onnx")
    yield "lstm training", modelaudit.audit(SAMPLES / "lstm.onnx", training=True)
    yield "loop", modelaudit.audit(loop_model(5))
    yield "odd names", modelaudit.audit(_odd_names_model())
    report = modelaudit.audit(SAMPLES / "conv3x3.onnx")  # fields --verify, --profile and --hardware set
    report.verification = {"verified": 2, "mismatches": [], "runtime_shaped": 1, "if_branches": []}
    numbers = range(len(report.rows))
    report.tables |= {
        "verify": {"runtime_shaped": [i == 0 for i in numbers]},
        "profile": {"ms": [0.125 * (i + 1) for i in numbers], "gmacs_per_s": [math.inf if i else 1.5 for i in numbers]},
        "roofline": {
            "intensity": [0.1 / 3 for i in numbers],
            "bound": ["memory" for i in numbers],
            "roofline_ms": [1e-7 for i in numbers],
            "weight_bytes_read": [4 * i for i in numbers],
            "input_bytes": [100 for i in numbers],
        },
    }
    for row in report.rows:
        row.details = {"conv": "dense"}
    yield "runtime fields", report


@pytest.mark.parametrize("label, report", list(_reports()), ids=lambda v: v if isinstance(v, str) else "")
def test_rows_read_from_the_report_write_what_its_dict_writes(label, report, monkeypatch):
    d = report.to_dict()
    for fmt in FORMATS:
        for view in VIEWS:
            if ("columns" in view and fmt not in ("text", "markdown")) or ("depth" in view and fmt == "html"):
                continue
            assert render(report, fmt, **view) == render(d, fmt, **view), (fmt, view)
    for width in (60, 100):
        assert render(report, "text", width=width) == render(d, "text", width=width)
    _json_is_json_dumps(report, monkeypatch)


def _cut(d: dict) -> dict:
    """to_dict() with names cut in the middle at 10,000 characters, as the JSON format cuts them."""
    from modelaudit.render.json import MAX_NAME

    rows = [dict(r) for r in d["rows"]]
    for r in rows:
        for key in ("name", "scope", "module", "formula"):
            if isinstance(r[key], str) and len(r[key]) > MAX_NAME:
                r[key] = r[key][: (MAX_NAME - 1) // 2] + "…" + r[key][-(MAX_NAME // 2) :]
    return d | {"rows": rows}


def _json_is_json_dumps(report, monkeypatch):
    """The JSON format, encoded column by column, writes what json.dumps writes for to_dict():
    indented up to COMPACT_FROM rows, else (and as jsonl) compact."""
    expected = _cut(report.to_dict())
    assert render(report, "json") == json.dumps(expected, indent=2, ensure_ascii=True) + "\n"
    compact = json.dumps(expected, ensure_ascii=True, separators=(",", ":")) + "\n"
    assert render(report, "jsonl") == compact
    monkeypatch.setattr(import_module("modelaudit.render.json"), "COMPACT_FROM", 0)
    assert render(report, "json") == compact


def test_json_of_more_rows_than_a_chunk_is_json_dumps(monkeypatch):
    """1,500 rows: two chunks of the encoder, indented (as up to 2,000 rows) and compact."""
    nodes = [helper.make_node("Relu", [f"t{i}"], [f"t{i + 1}"], name=f"/b{i % 7}/Relu_{i}") for i in range(1500)]
    nodes.append(helper.make_node("MatMul", ["t1500", "w"], ["y"], name="/head/MatMul"))
    model = make_model(nodes, [vi("t0", [2, 8])], [vi("y", None)], [tensor("w", (8, 4))])
    _json_is_json_dumps(modelaudit.audit(model), monkeypatch)


def test_json_of_rows_is_the_encoders():
    """encode_rows against json.dumps of the rows' dicts, names cut at 10,000 characters in the middle."""
    from modelaudit.render.json import MAX_NAME, encode_rows

    for _, report in _reports():
        rows = report.to_dict()["rows"]
        for r in rows:
            for key in ("name", "scope", "module", "formula"):
                if isinstance(r[key], str) and len(r[key]) > MAX_NAME:
                    r[key] = r[key][: (MAX_NAME - 1) // 2] + "…" + r[key][-(MAX_NAME // 2) :]
        assert encode_rows(report.columns()) == json.dumps(rows, ensure_ascii=True, separators=(",", ":"))[1:-1]


def test_whole_column_checks_give_each_values_own_text():
    from modelaudit.render.common import safe, safe_column

    columns = [
        ["/a/MatMul", "/b/Relu", ""],
        ["/a/MatMul", "::error::x"],
        ["ends with:", ":starts"],
        ["x" * 121, "short"],
        ["tab\there", "é", "\u202eevil"],
        [],
    ]
    for values in columns:
        assert safe_column(values) == [safe(v) for v in values], values
    assert safe_column(["x" * 300], 400) == ["x" * 300]


def test_notes_and_escapes_reach_the_text_table():
    loop = render(modelaudit.audit(loop_model(5)), "text")
    assert "×5 runs" in loop
    odd = render(modelaudit.audit(_odd_names_model()), "text")
    assert "uncounted" in odd and "\\x1b[31mred" in odd and "\x1b" not in odd and "\\::starts with colons" in odd
