"""The HTML report: self-contained, and working in a real browser (where Chromium is installed)."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from conftest import SAMPLES

from modelaudit.cli.main import main

V2 = str(SAMPLES / "mobilenet_v2.onnx")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def _html(tmp_path, *argv) -> str:
    out = tmp_path / "report.html"
    assert main([*argv, "--format", "html", "-o", str(out)]) == 0
    return str(out)


def test_report_is_self_contained(tmp_path):
    page = open(_html(tmp_path, "report", V2), encoding="utf-8").read()
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r'(src|href)="(https?:)?//', page), "no network, no CDN"
    assert "<svg" in page and page.count('class="bar"') > 20
    assert page.count("<tr data-name=") == 152  # every layer
    assert "MA004" in page  # the findings (notes folded away)


def test_hostile_names_are_escaped(tmp_path):
    import onnx
    from conftest import make_model, vi
    from onnx import helper

    model = make_model([helper.make_node("Relu", ["x"], ["y"], name="<script>alert(1)</script>")],
                       [vi("x", [2])], [vi("y", None)])
    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    page = open(_html(tmp_path, "report", str(path)), encoding="utf-8").read()
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_compare_has_grouped_bars(tmp_path):
    page = open(_html(tmp_path, "compare", str(SAMPLES / "mobilenet_v1.onnx"), V2), encoding="utf-8").read()
    assert "mobilenet_v1 MACs" in page and "mobilenet_v2 MACs" in page and "<svg" in page


_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
          "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (.ci/run installs it)")
def test_chart_and_sortable_table_work_in_headless_chromium(tmp_path):
    page = _html(tmp_path, "report", V2)
    shot = tmp_path / "report.png"
    subprocess.run([CHROMIUM, *_FLAGS, f"--user-data-dir={tmp_path / 'a'}", "--window-size=1280,1800",
                    f"--screenshot={shot}", f"file://{page}"], capture_output=True, timeout=120, check=False)
    assert shot.exists() and shot.stat().st_size > 20_000  # a page with a chart rendered
    dom = subprocess.run([CHROMIUM, *_FLAGS, f"--user-data-dir={tmp_path / 'b'}", "--dump-dom",
                          f"file://{page}#selftest"], capture_output=True, text=True, timeout=120, check=False).stdout
    # the page's self-test clicked the MACs header twice (descending): the dearest layer comes first
    assert 'data-selftest="/features/features.18/features.18.0/Conv"' in dom
    assert dom.count('class="bar"') > 20


def test_sweep_is_a_line_chart(tmp_path):
    from builders import attention_block as _attention_block
    from builders import saved as _save

    page = _html(tmp_path, "report", _save(_attention_block()), "--sweep", "seq=128,512,2048", "--dim", "batch=1")
    text = open(page, encoding="utf-8").read()
    assert text.count('class="series"') >= 4 and "seq=2,048" in text
