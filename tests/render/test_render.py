"""Formats: human numbers, safe names, the JSON schema."""

from __future__ import annotations

import json

from conftest import SAMPLES, make_model, vi
from onnx import helper

import modelaudit
from modelaudit.render import render
from modelaudit.render.common import human, human_bytes, safe


def test_human_numbers():
    assert human(3_504_872) == "3.50 M"
    assert human(300_774_272) == "300.8 M"
    assert human(999) == "999"
    assert human(None) == "?"
    assert human_bytes(14 * 1024) == "14.0 KiB"


def test_hostile_names_are_escaped_in_every_format():
    name = "\x1b[31mred\x1b[0m\n::error::pwned" + "x" * 500
    model = make_model([helper.make_node("Relu", ["x"], ["y"], name=name)], [vi("x", [2])], [vi("y", None)])
    d = modelaudit.audit(model).to_dict()
    for fmt in ("text", "markdown", "csv"):
        out = render(d, fmt)
        assert "\x1b" not in out and "\n::error::" not in out, fmt
    assert "\\x1b[31mred" in safe(name)
    json_text = render(d, "json")
    assert "\x1b" not in json_text  # ensure_ascii escapes it as \u001b


def test_json_schema_fields():
    d = json.loads(render(modelaudit.audit(SAMPLES / "lstm.onnx").to_dict(), "json"))
    assert set(d) == {
        "schema_version",
        "tool",
        "model",
        "totals",
        "uncounted",
        "unresolved",
        "warnings",
        "rows",
        "by_op",
        "view",
        "verification",
        "profile",
        "runtime",
        "training",
        "symbolic",
        "findings",
        "roofline",
    }
    assert set(d["totals"]) == {
        "params",
        "non_trainable",
        "weight_bytes",
        "weight_bytes_by_dtype",
        "macs",
        "flops",
        "activation_bytes",
        "peak_activation_bytes",
        "nodes",
    }
    for key in (
        "params",
        "non_trainable",
        "weight_bytes",
        "macs",
        "flops",
        "activation_bytes",
        "peak_activation_bytes",
    ):
        assert set(d["totals"][key]) == {"value", "bound"}, key  # each figure with its completeness beside it
    row = d["rows"][0]
    assert set(row) == {
        "index",
        "name",
        "op",
        "op_label",
        "domain",
        "inputs",
        "weights",
        "outputs",
        "params",
        "non_trainable",
        "macs",
        "flops",
        "output_bytes",
        "formula",
        "status",
        "unresolved",
        "module",
        "scope",
        "runs",
        "macs_total",
        "flops_total",
        "details",
        "runtime_shaped",
        "ms",
        "gmacs_per_s",
        "backward_macs",
        "backward_flops",
        "weight_bytes_read",
        "input_bytes",
        "intensity",
        "bound",
        "roofline_ms",
        "bound_ratio",
    }
    assert row["weights"] == ["1x80x10", "1x80x20", "1x160"]


def test_incomplete_totals_say_so():
    nodes = [helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Mystery", ["a"], ["y"], domain="x.y")]
    model = make_model(nodes, [vi("x", [4])], [vi("y", None)])
    model.opset_import.append(helper.make_opsetid("x.y", 1))
    out = render(modelaudit.audit(model).to_dict(), "text")
    # the Relu has no MACs and the Mystery op unknown ones: unknown, never "0" nor "≥ 0"
    assert "MACs              unknown: 1 node(s) not costed (no rule for x.y:Mystery ×1)" in out
    assert "FLOPs             ≥ 4 (4), incomplete: 1 node(s) unknown (no rule for x.y:Mystery ×1)" in out  # Relu: |Y|
    assert "≥ 0" not in out
    assert "uncounted ops (no rule; their MACs and FLOPs are unknown, not zero): x.y:Mystery ×1" in out


def test_resolve_hint_names_each_flag_once():
    """GPT-2's totals said `resolve with --dim batch=N --dim sequence=N, --dim batch=N, --dim
    sequence=N`: one entry's flags joined, then repeated by the entries of each dim alone."""
    from modelaudit.render.common import resolve_hint

    d = {
        "uncounted": [],
        "unresolved": [
            {"dim": "?", "nodes": 61, "flag": "--dim batch=N --dim sequence=N"},
            {"dim": "batch", "nodes": 5, "flag": "--dim batch=N"},
            {"dim": "x", "nodes": 2, "flag": "--input x=Nx3xHxW"},
        ],
    }
    assert resolve_hint(d) == "resolve with --dim batch=N --dim sequence=N --input x=Nx3xHxW"
