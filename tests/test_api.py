"""The Python API: typed, the CLI's options and JSON document, renderers that take a Report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import ROOT, SAMPLES

import modelaudit
from modelaudit.cli.main import main
from modelaudit.figures import to_data
from modelaudit.render import FORMATS, render

V2 = str(SAMPLES / "mobilenet_v2.onnx")
BLOCK = str(SAMPLES / "transformer_block.onnx")


def test_package_ships_py_typed():
    assert (Path(modelaudit.__file__).parent / "py.typed").is_file()
    assert 'modelaudit = ["py.typed"]' in (ROOT / "pyproject.toml").read_text(encoding="utf-8")


def _cli_json(tmp_path, *argv) -> dict:
    out = tmp_path / "report.json"
    assert main(["report", *argv, "--format", "json", "-o", str(out)]) == 0
    return json.loads(out.read_text(encoding="utf-8"))


def test_to_dict_is_the_cli_json_document(tmp_path):
    cli = _cli_json(tmp_path, V2)
    api = json.loads(json.dumps(modelaudit.audit(V2).to_dict()))
    assert api == cli
    assert api["view"] == {"sort": None, "top": None, "by": "node", "depth": None}
    assert {g["op"]: g["count"] for g in api["by_op"]}["Conv"] == 52  # 52 convolutions in MobileNetV2
    assert len(api["findings"]) == 52  # and a foldable BatchNorm after each


def test_audit_takes_the_cli_options(tmp_path):
    training = modelaudit.audit(V2, training=True)
    assert to_data(training.training) == _cli_json(tmp_path, V2, "--training")["training"]
    assert training.training["backward_macs"] > 0
    symbolic = modelaudit.audit(BLOCK, symbolic=True)
    assert symbolic.symbolic["variables"] == ["batch", "seq"]
    assert json.loads(json.dumps(symbolic.to_dict())) == _cli_json(tmp_path, BLOCK, "--symbolic")
    assert modelaudit.audit(V2, findings=False).findings is None


def test_audit_verifies_with_onnxruntime():
    report = modelaudit.audit(BLOCK, dims={"batch": 2, "seq": 16}, verify=True)
    assert report.verification["mismatches"] == [] and report.verification["verified"] >= 29


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_renderers_take_a_report(fmt):
    report = modelaudit.audit(V2)
    assert render(report, fmt, sort="macs", top=5) == render(report.to_dict(), fmt, sort="macs", top=5)
    assert FORMATS[fmt](report) == FORMATS[fmt](report.to_dict())
    assert modelaudit.render(report, fmt) == render(report, fmt)


def test_render_names_an_unknown_format():
    with pytest.raises(ValueError, match="unknown format 'yaml'"):
        render(modelaudit.audit(V2), "yaml")


def test_every_public_name_resolves_and_the_command_imports_the_audit_late():
    """The package binds its public names on first use: each one in __all__ resolves, and the
    command line, imported, has not imported the audit yet (it does so while the forked helper
    infers: cli.common.warm)."""
    import subprocess
    import sys

    import modelaudit

    for name in modelaudit.__all__:
        assert getattr(modelaudit, name) is not None
    assert callable(modelaudit.load) and callable(modelaudit.render)  # not the subpackages of those names
    code = (
        "import sys, modelaudit.cli.main; "
        "print(sorted(m for m in ('modelaudit.costs.analyze', 'modelaudit.analyses.pipeline', "
        "'modelaudit.costs.rules') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
