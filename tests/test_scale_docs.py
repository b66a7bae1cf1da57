"""docs/scale.md's Ray and Dask examples run on the sample models where the engine is installed."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
from conftest import ROOT, SAMPLES

import modelaudit


def _example(engine: str) -> str:
    text = (ROOT / "docs" / "scale.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(# scale example: (\w+)\n.*?)```", text, re.S)
    return {name: code for code, name in blocks}[engine]


@pytest.mark.parametrize("engine", ["dask", "ray"])
def test_engine_example_writes_one_report_line_per_model(engine, tmp_path):
    pytest.importorskip(engine, reason=f"{engine} is not installed: docs/scale.md's {engine} example is not run")
    script = tmp_path / f"audit_with_{engine}.py"
    script.write_text(_example(engine), encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    result = subprocess.run(
        [sys.executable, str(script), str(SAMPLES)], capture_output=True, text=True, timeout=600, env=env
    )
    assert result.returncode == 0, result.stderr[-2000:]
    reports = [json.loads(line) for line in result.stdout.splitlines()]
    expected = sorted(str(p) for p in SAMPLES.rglob("*.onnx"))
    assert sorted(r["model"]["path"] for r in reports) == expected
    by_path = {r["model"]["path"]: r for r in reports}
    assert by_path[str(SAMPLES / "conv3x3.onnx")]["totals"]["params"]["value"] == ((3 * 3 * 3) + 1) * 128
    assert (
        by_path[str(SAMPLES / "mobilenet_v2.onnx")]["totals"]
        == modelaudit.audit(SAMPLES / "mobilenet_v2.onnx").to_dict()["totals"]
    )


def test_examples_are_in_the_doc():
    for engine in ("dask", "ray"):
        code = _example(engine)
        compile(code, f"scale.md ({engine})", "exec")
        assert f"import {engine}" in code and 'render(modelaudit.audit(path).to_dict(), "jsonl")' in code
