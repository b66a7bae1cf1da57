"""compare: the sample MobileNets side by side, with exact totals."""

from __future__ import annotations

import json

import pytest
from conftest import SAMPLES

import modelaudit
from modelaudit.cli.main import main
from modelaudit.costs.blocks import block_of

V1, V2 = str(SAMPLES / "mobilenet_v1.onnx"), str(SAMPLES / "mobilenet_v2.onnx")


def test_block_names_follow_exporter_scopes():
    name = "/features/features.3/conv/conv.1/conv.1.0/Conv"
    assert [block_of(name, d) for d in (1, 2, 3)] == ["features", "features.3", "conv"]
    assert block_of("Conv_0", 2) == "(top level)"
    assert block_of("/fc/Gemm", 3) == "fc"


def test_compare_json_totals_are_exact(capsys):
    assert main(["compare", V1, V2, "--format", "json", "--by", "all"]) == 0
    c = json.loads(capsys.readouterr().out)
    totals = {t["metric"]: t for t in c["totals"]}
    assert totals["params"]["values"] == [4_231_976, 3_504_872]
    assert totals["macs"]["values"] == [568_740_352, 300_774_272]
    assert totals["macs"]["ratio"][1] == pytest.approx(300_774_272 / 568_740_352)
    assert totals["macs"]["delta"][1] == 300_774_272 - 568_740_352
    families = {f["family"]: f["values"] for f in c["families"]}
    v1, v2 = (modelaudit.audit(p) for p in (V1, V2))
    for i, report in enumerate((v1, v2)):
        depthwise = sum(r.macs for r in report.rows if r.op == "Conv" and r.details.get("conv") == "depthwise")
        assert families["Conv (depthwise)"][i]["macs"] == depthwise
    assert sum(f[1]["macs"] for f in families.values() if f[1]) == 300_774_272
    blocks = {b["block"]: b["values"] for b in c["blocks"]}  # matched by name between the models
    assert blocks["features.3"][0]["macs"] == sum(r.macs for r in v1.rows if "/features.3/" in r.name)
    assert blocks["features.3"][1]["macs"] == sum(r.macs for r in v2.rows if "/features.3/" in r.name)
    assert blocks["features.17"][0] is None and blocks["classifier.1"][0]["params"] == 1024 * 1000 + 1000


def test_compare_markdown_shows_where_v2_saves(capsys):
    assert main(["compare", V1, V2, "--format", "markdown"]) == 0
    out = capsys.readouterr().out
    assert "| MACs             | 568.7 M        | 300.8 M (×0.53, −268.0 M)   |" in out
    assert "| Conv (dense)     | 550.3 M             | 278.8 M" in out


def test_compare_needs_two_models(capsys):
    assert main(["compare", V1]) == 2
    assert capsys.readouterr().err.strip() == "modelaudit: error: compare needs two or more models"
