"""The benchmark script stays runnable: a small graph, one pair of runs, results as JSON."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_bench_script_runs_and_reports_paired_ratios(tmp_path):
    out = tmp_path / "bench.json"
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "bench.py"),
            "--sizes",
            "700",
            "--repeat",
            "2",
            "--skip-weights",
            "--onnx-tool-max-nodes",
            "0",
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    (row,) = json.loads(out.read_text())
    assert row["nodes"] == 10 * 69, row["model"]  # models.transformer: 69 nodes a layer
    base, ours = row["onnx"]["runs"], row["modelaudit"]["runs"]
    assert row["ratios"] == [m / b for b, m in zip(base, ours)]  # each ratio within one adjacent pair
    assert row["ratio"] == statistics.median(row["ratios"])
    for tool in ("onnx", "modelaudit"):
        assert len(row[tool]["runs"]) == 2 and row[tool]["seconds"] > 0 and row[tool]["rss_mb"] > 0
    assert "ratio" in result.stdout and "transformer, 690 nodes" in result.stdout


def test_end_to_end_mode_times_the_command_against_the_floor_process(tmp_path):
    out = tmp_path / "e2e.json"
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "bench.py"),
            "--end-to-end",
            "--sizes",
            "700",
            "--repeat",
            "1",
            "--formats",
            "json",
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    embedded, external, many = json.loads(out.read_text())
    assert (embedded["layout"], external["layout"]) == ("embedded", "external")
    for row in (embedded, external):
        floor, ours = row["floor"]["runs"], row["json"]["runs"]
        assert row["json"]["ratios"] == [m / b for b, m in zip(floor, ours)]
        assert row["floor"]["rss_mb"] > 0 and row["json"]["rss_mb"] > 0
    assert "× the floor" in result.stdout
    for name in ("compare", "jobs 2"):  # each against the two models' own report commands of its round
        runs = many["runs"]
        assert many[name]["ratios"] == [
            t / (a + b) for a, b, t in zip(runs["report first"], runs["report second"], runs[name])
        ]


def test_symbolic_mode_times_report_symbolic_against_report(tmp_path):
    out = tmp_path / "symbolic.json"
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "bench.py"),
            "--end-to-end",
            "--symbolic",
            "700",
            "--repeat",
            "1",
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    (row,) = json.loads(out.read_text())
    assert row["nodes"] == 10 * 69 and row["ratios"] == [
        s / r for r, s in zip(row["runs"]["report"], row["runs"]["symbolic"])
    ]
    assert "report --symbolic" in result.stdout


def test_benchmark_models_pass_the_checker(tmp_path):
    """The benchmarks audit valid models: a graph output with no shape is rejected by onnx.checker
    (MA013 on every bench run), so each builder's outputs carry their shapes."""
    import onnx

    sys.path.insert(0, str(ROOT / "benchmarks"))
    import models

    import modelaudit

    models.transformer(2, tmp_path / "t.onnx")
    models.transformer(1, tmp_path / "te.onnx", external=True)
    models.external_giant(tmp_path / "g.onnx", params=2 * 64 * 64, matrices=2)
    models.embedded(tmp_path / "e.onnx", megabytes=17)
    models.llama_decoder(tmp_path / "l.onnx", layers=1, hidden=64, heads=4, kv_heads=2, ffn=128, vocab=100)
    for name in ("t", "te", "g", "e", "l"):
        path = tmp_path / f"{name}.onnx"
        onnx.checker.check_model(str(path), full_check=True)
        assert not [w for w in modelaudit.audit(path).warnings if "onnx.checker" in w], name
