"""The docs stay true: the op table is the registry's, and the JSON example is the real schema."""

from __future__ import annotations

import json
import re
import sys

from conftest import ROOT, SAMPLES

sys.path.insert(0, str(ROOT / "docs"))


def test_conventions_op_table_matches_the_registry():
    import update_tables

    text = (ROOT / "docs" / "conventions.md").read_text(encoding="utf-8")
    assert update_tables.updated(text) == text, "run: python docs/update_tables.py"


def test_worked_example_figures_in_conventions():
    import modelaudit

    text = (ROOT / "docs" / "conventions.md").read_text(encoding="utf-8")
    v1 = modelaudit.audit(SAMPLES / "mobilenet_v1.onnx").totals
    v2 = modelaudit.audit(SAMPLES / "mobilenet_v2.onnx").totals
    for figure in (v1.params, v1.macs, v2.params, v2.macs):
        assert f"{figure:,}" in text


def test_json_schema_doc_names_every_field():
    import modelaudit
    from modelaudit.render import render

    text = (ROOT / "docs" / "json-schema.md").read_text(encoding="utf-8")
    d = json.loads(render(modelaudit.audit(SAMPLES / "mobilenet_v2.onnx").to_dict(), "json"))
    documented = set(re.findall(r'"([a-z_]+)":', text))
    for key in (*d, *d["totals"], *d["rows"][0], *d["model"]):
        assert key in documented, key
