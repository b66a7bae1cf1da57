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


def test_compare_takes_a_folder_as_report_does(capsys, tmp_path):
    """A directory expands to the .onnx files below it, sorted, as `report DIR` does."""
    import shutil

    (tmp_path / "b").mkdir()
    shutil.copy(V1, tmp_path / "b")
    shutil.copy(V2, tmp_path)
    assert main(["compare", str(tmp_path), "--format", "json"]) == 0
    by_folder = json.loads(capsys.readouterr().out)
    assert [m["path"] for m in by_folder.pop("models")] == [str(tmp_path / "b" / "mobilenet_v1.onnx"),
                                                           str(tmp_path / "mobilenet_v2.onnx")]  # sorted
    assert main(["compare", V2, V1, "--format", "json"]) == 0
    by_files = json.loads(capsys.readouterr().out)
    assert by_files.pop("models") and by_files != by_folder  # the order matters: the first is the reference
    assert main(["compare", V1, V2, "--format", "json"]) == 0
    by_files = json.loads(capsys.readouterr().out)
    assert by_files.pop("models") and by_files == by_folder
    (tmp_path / "empty").mkdir()
    assert main(["compare", str(tmp_path / "empty"), V1]) == 2
    assert capsys.readouterr().err.strip() == f"modelaudit: error: {tmp_path / 'empty'}: a directory with no .onnx file in it"
    assert main(["compare", str(tmp_path / "b")]) == 2  # one model, however it was named
    assert capsys.readouterr().err.strip() == "modelaudit: error: compare needs two or more models"


def _dynamic_batch_v2(tmp_path):
    import onnx

    model = onnx.load(V2)
    for vi in (model.graph.input[0], model.graph.output[0]):
        vi.type.tensor_type.shape.dim[0].dim_param = "batch"
    path = tmp_path / "v2_dynamic.onnx"
    onnx.save(model, path)
    return str(path)


def test_an_unknown_total_is_never_compared_as_zero(capsys, tmp_path):
    dynamic = _dynamic_batch_v2(tmp_path)
    assert main(["compare", V2, dynamic]) == 0
    out = capsys.readouterr().out
    macs = next(line for line in out.splitlines() if line.startswith("MACs "))
    assert macs.split() == ["MACs", "300.8", "M", "unknown"]  # not "0 (×0.00, −300.8 M)"
    assert "v2_dynamic: the totals marked unknown depend on unresolved sizes or uncounted ops; " \
           "resolve with --dim batch=N" in out
    assert main(["compare", V2, dynamic, "--format", "json"]) == 0
    totals = {t["metric"]: t for t in json.loads(capsys.readouterr().out)["totals"]}
    assert totals["macs"]["values"] == [300_774_272, None] and totals["macs"]["ratio"] == [1.0, None]
    assert totals["params"]["values"] == [3_504_872, 3_504_872]  # params never depend on shapes
    assert main(["compare", V2, dynamic, "--dim", "batch=2", "--format", "json"]) == 0
    totals = {t["metric"]: t for t in json.loads(capsys.readouterr().out)["totals"]}
    assert totals["macs"]["values"] == [300_774_272, 2 * 300_774_272]


def test_report_totals_of_a_symbolic_batch_say_unknown_and_how_to_resolve(capsys, tmp_path):
    assert main(["report", _dynamic_batch_v2(tmp_path)]) == 0
    out = capsys.readouterr().out
    totals = dict(line.strip().split("  ", 1) for line in out.split("Totals\n")[1].split("\n\n")[0].splitlines())
    assert totals["MACs"].strip().startswith("unknown: ") and "(resolve with --dim batch=N)" in totals["MACs"]
    assert totals["activation bytes"].strip().startswith("unknown: ")
    assert totals["peak activations"].strip().startswith("unknown: ")
    assert "≥ 0" not in out and " 0 B" not in out


def test_compare_sweep_names_the_model_without_the_dim(capsys):
    block = str(SAMPLES / "transformer_block.onnx")
    assert main(["compare", block, V2, "--sweep", "batch=1,8", "--dim", "seq=16"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"modelaudit: error: {V2}: ") and "no input has a dim named" in err
    assert main(["compare", block, block, "--sweep", "batch=1,8", "--dim", "seq=16"]) == 0
    macs = [line for line in capsys.readouterr().out.splitlines() if "MACs" in line]
    assert len(macs) == 2 and macs[0].split()[-2:] == macs[1].split()[-2:]


def test_compare_sweep_errors_are_one_clean_line(capsys):
    """One line, one parenthesis: a --dim on the swept dim is the flags' fault, not a model's."""
    block = str(SAMPLES / "transformer_block.onnx")
    assert main(["compare", block, V2, "--sweep", "batch=1,8", "--dim", "batch=2"]) == 2
    assert capsys.readouterr().err == ("modelaudit: error: --sweep batch=…: --dim batch fixes the dim the sweep "
                                       "varies (drop --dim batch)\n")
    assert main(["compare", block, V2, "--sweep", "batch=1,8", "--dim", "seq=16"]) == 2
    assert capsys.readouterr().err == (f"modelaudit: error: {V2}: --sweep batch=1: --dim seq: no input has a dim "
                                       "named 'seq' (named dims: none; compare --sweep needs the swept dim and each "
                                       "--dim in every model)\n")
