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
    assert page.count(" data-name=") == 152  # every layer
    assert "<th>formula</th>" in page and "112*112*(3*3*3)*32" in page  # the first conv's formula
    assert "<th data-desc>weights</th>" in page and ">32x3x3x3<" in page  # and its weight shape
    # the notes (MA004: foldable BatchNorm) come after the layer table, folded away
    assert page.index('id="layers"') < page.index("<details><summary>52 note(s)") < page.index("MA004")
    assert ">(top level)</text>" not in page  # no empty "(top level) 0 0" bar


def _bar_widths(page: str) -> dict[str, float]:
    """Bar title -> drawn width, from the SVG."""
    return {
        t: float(w)
        for w, t in re.findall(r'class="bar" x="[^"]*" y="[^"]*" width="([^"]*)"[^>]*><title>([^<]*)<', page)
    }


def test_hostile_names_are_escaped(tmp_path):
    import onnx
    from conftest import make_model, vi
    from onnx import helper

    model = make_model(
        [helper.make_node("Relu", ["x"], ["y"], name="<script>alert(1)</script>")], [vi("x", [2])], [vi("y", None)]
    )
    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    page = open(_html(tmp_path, "report", str(path)), encoding="utf-8").read()
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


@pytest.mark.parametrize(
    "by, family, block", [(None, True, True), ("all", True, True), ("op", True, False), ("block", False, True)]
)
def test_compare_page_shows_the_breakdowns_by_asks_for(tmp_path, by, family, block):
    """The page shows both breakdowns unless --by names one (it once ignored --by)."""
    page = open(
        _html(tmp_path, "compare", str(SAMPLES / "mobilenet_v1.onnx"), V2, *(["--by", by] if by else [])),
        encoding="utf-8",
    ).read()
    assert ("<h2>MACs per op family</h2>" in page, "<h2>MACs per block (depth 2)</h2>" in page) == (family, block)
    assert "<h2>Totals</h2>" in page


def test_compare_puts_both_models_on_one_scale(tmp_path):
    page = open(
        _html(tmp_path, "compare", str(SAMPLES / "mobilenet_v1.onnx"), V2, "--by", "all"), encoding="utf-8"
    ).read()
    widths = _bar_widths(page)
    v1, v2 = widths["Conv (dense): mobilenet_v1 MACs 550.3 M"], widths["Conv (dense): mobilenet_v2 MACs 278.8 M"]
    assert v2 / v1 == pytest.approx(278.8 / 550.3, abs=0.002)  # not both full width
    # features.3 (55.0 M in V1) is the longest block bar; V2's 29.2 M features.2 is scaled against it
    assert widths["features/features.2: mobilenet_v2 MACs 29.2 M"] / widths[
        "features/features.3: mobilenet_v1 MACs 55.0 M"
    ] == pytest.approx(29.2 / 55.0, abs=0.002)
    assert "×0.53, −268.0 M" in page  # MACs: ratio and difference against the first model
    # V1 has no features.14: a dash in the chart and in the table, not a zero
    assert re.search(
        r'<td data-v="features/features.14">features/features.14</td><td class="missing" data-v="">—</td>', page
    )
    assert ">(top level)<" not in page  # no bar or row that costs nothing in either model


def test_report_charts_scale_each_metric_on_its_own(tmp_path):
    page = open(_html(tmp_path, "report", V2), encoding="utf-8").read()
    widths = _bar_widths(page)
    # MACs and params are different units: each panel's longest bar has the same full length
    assert widths["features/features.2: MACs 29.2 M"] == widths["classifier/classifier.1: params 1.28 M"]
    assert widths["features/features.3: MACs 25.7 M"] / widths["features/features.2: MACs 29.2 M"] == pytest.approx(
        25.7 / 29.2, abs=0.002
    )


_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# Drives the page as a person would (header clicks, typing in the filter box, a click on a chart
# bar) and writes what it saw into <body data-seen>; the test injects it, the page never ships it.
_DRIVER = """<script>
(function(){
  var seen = {}, table = document.getElementById('layers');
  function names(){ return Array.prototype.filter.call(table.tBodies[0].rows, function(r){return !r.hidden})
                                      .map(function(r){return r.getAttribute('data-name')}); }
  function header(text){ return Array.prototype.find.call(table.tHead.rows[0].cells,
                                                          function(th){return th.textContent === text}); }
  seen.file = names();
  header('MACs').click(); seen.macs1 = names();
  header('MACs').click(); seen.macs2 = names();
  header('MACs').click(); seen.macs3 = names();
  header('output').click(); seen.output1 = names();
  header('output').click();
  header('output').click();
  var box = document.getElementById('filter');
  box.value = 'batchnormalization'; box.dispatchEvent(new Event('input'));
  seen.typed = names(); seen.shown = document.getElementById('shown').textContent;
  var bar = document.querySelector('g.pick[data-filter="block=features/features.3"]');
  bar.dispatchEvent(new MouseEvent('click', {bubbles: true}));
  seen.clicked = names(); seen.box = box.value;
  document.getElementById('clear').click(); seen.cleared = names().length;
  document.body.setAttribute('data-seen', JSON.stringify(seen));
})();
</script>"""


def _drive(tmp_path, page: str) -> dict:
    import html as html_lib
    import json

    driven = tmp_path / "driven.html"
    driven.write_text(open(page, encoding="utf-8").read().replace("</body>", _DRIVER + "</body>"), encoding="utf-8")
    dom = subprocess.run(
        [CHROMIUM, *_FLAGS, f"--user-data-dir={tmp_path / 'b'}", "--dump-dom", f"file://{driven}"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    ).stdout
    match = re.search(r'data-seen="([^"]*)"', dom)
    assert match, dom[-2000:]
    return json.loads(html_lib.unescape(match.group(1)))


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (.ci/run installs it)")
def test_sort_filter_and_click_to_filter_in_headless_chromium(tmp_path):
    import modelaudit
    from modelaudit.costs.blocks import block_names

    page = _html(tmp_path, "report", V2)
    shot = tmp_path / "report.png"
    subprocess.run(
        [
            CHROMIUM,
            *_FLAGS,
            f"--user-data-dir={tmp_path / 'a'}",
            "--window-size=1280,1800",
            f"--screenshot={shot}",
            f"file://{page}",
        ],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert shot.exists() and shot.stat().st_size > 20_000  # a page with a chart rendered
    seen = _drive(tmp_path, page)
    report = modelaudit.audit(V2)
    rows = report.to_dict()["rows"]
    file_order = [r["name"] for r in rows]
    assert seen["file"] == file_order
    # MACs: largest first, then smallest first (ties keep file order), then file order again
    by_macs = sorted(rows, key=lambda r: -r["macs"])
    assert seen["macs1"] == [r["name"] for r in by_macs]
    assert seen["macs1"][0] == "/features/features.18/features.18.0/Conv"
    assert seen["macs2"] == [r["name"] for r in sorted(rows, key=lambda r: r["macs"])]
    assert seen["macs3"] == file_order
    # shapes sort by element count: 1x32x112x112 (401,408) before 1x1280 (1,280), whatever the text says
    elements = {r["name"]: eval("*".join(r["outputs"][0].split("x"))) for r in rows}
    assert [elements[n] for n in seen["output1"]] == sorted(elements.values(), reverse=True)
    assert elements[seen["output1"][0]] == 1 * 96 * 112 * 112
    # typing filters on name and op; the bar of block features.3 lists exactly that block's layers
    norms = [r["name"] for r in rows if r["op"] == "BatchNormalization"]
    assert seen["typed"] == norms and seen["shown"] == f"{len(norms)} of 152 layers shown"
    blocks = block_names(report.columns(), 2)
    assert seen["box"] == "block=features/features.3"
    assert seen["clicked"] == [r["name"] for r, b in zip(rows, blocks) if b == "features/features.3"]
    assert len(seen["clicked"]) == 3 + 3 + 2 + 1 and seen["cleared"] == 152  # 3 Conv, 3 BN, 2 Clip, the residual Add


def test_sweep_is_a_line_chart(tmp_path):
    from builders import attention_block as _attention_block
    from builders import saved as _save

    page = _html(tmp_path, "report", _save(_attention_block()), "--sweep", "seq=128,512,2048", "--dim", "batch=1")
    text = open(page, encoding="utf-8").read()
    assert text.count('class="series"') >= 4 and "seq=2,048" in text
    assert 'data-x-axis="log"' in text and "log scale" in text  # 128, 512, 2048: each ×4


def test_sweep_axis_is_log_only_for_geometric_values():
    from modelaudit.render.html_page import log_axis

    assert log_axis([128, 512, 2048]) and log_axis([1, 2, 4, 8, 16]) and log_axis([1, 10, 100, 1000])
    assert not log_axis([100, 200, 300, 400]) and not log_axis([1, 2]) and not log_axis([0, 8, 64])


def test_sort_and_top_pick_the_rows_shown(tmp_path):
    page = open(_html(tmp_path, "report", V2, "--sort", "macs", "--top", "3"), encoding="utf-8").read()
    names = re.findall(r'<tr data-i="(\d+)" data-name="([^"]*)"', page)
    # the three dearest layers, each keeping its file position for the "file order" click
    assert [n for _, n in names][0] == "/features/features.18/features.18.0/Conv" and len(names) == 3
    assert "3 of 152 nodes shown" in page


def test_bar_labels_and_values_never_overlap(tmp_path):
    for argv in (["report", V2], ["compare", str(SAMPLES / "mobilenet_v1.onnx"), V2]):
        page = open(_html(tmp_path, *argv), encoding="utf-8").read()
        for chart in re.findall(r'<svg class="chart".*?</svg>', page, re.S):
            texts = [(float(x), float(y)) for x, y in re.findall(r'<text x="([\d.]+)" y="([\d.]+)"', chart)]
            for column in {round(x) for x, _ in texts if x < 200}:  # the labels, right-aligned at one x
                ys = sorted(y for x, y in texts if round(x) == column)
                assert all(b - a >= 13 for a, b in zip(ys, ys[1:])), ys  # 11px text needs 13px rows
            values = sorted(y for x, y in texts if x >= 200)
            rows = sorted(set(values))
            assert all(b - a >= 13 for a, b in zip(rows, rows[1:]))


def test_verify_and_symbolic_sections_reach_the_page(tmp_path):
    """report --verify --format html exited 0 (or 1 on a mismatch) with a page that said nothing of
    the run: the verification, the runtime and --symbolic's lines were in text and Markdown only."""
    from pathlib import Path

    from conftest import make_model, vi
    from onnx import helper, save

    page = Path(_html(tmp_path, "report", str(SAMPLES / "conv3x3.onnx"), "--verify")).read_text(encoding="utf-8")
    assert re.search(r"all \d+ statically known tensor shapes verified", page) and "onnxruntime" in page
    path = tmp_path / "relu.onnx"
    save(make_model([helper.make_node("Relu", ["x"], ["y"], name="r")], [vi("x", ["seq", 8])], [vi("y", None)]), path)
    page = Path(_html(tmp_path, "report", str(path), "--symbolic")).read_text(encoding="utf-8")
    assert "symbolic: the totals above" in page
