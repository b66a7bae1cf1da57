"""check: budgets, baselines and config files; each breach one line, exit 1."""

from __future__ import annotations

import json

import pytest
from conftest import SAMPLES

from modelaudit.cli.main import main

V1, V2 = str(SAMPLES / "mobilenet_v1.onnx"), str(SAMPLES / "mobilenet_v2.onnx")
BLOCK = str(SAMPLES / "mobilenet_v2_block.onnx")


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_within_budget(capsys):
    code, out, _ = run(capsys, "check", V2, "--max-params", "4M", "--max-macs", "600M", "--max-weight-bytes", "16MiB")
    assert code == 0 and out.strip() == f"within budget: {V2}"


@pytest.mark.parametrize(
    "flag,limit,metric,actual",
    [
        ("--max-params", "4M", "params", "4,231,976"),
        ("--max-macs", "500M", "macs", "568,740,352"),
        ("--max-flops", "1G", "flops", "1,152,659,944"),
        ("--max-weight-bytes", "16MiB", "weight_bytes", "17,015,456"),
        ("--max-peak-memory", "1MiB", "peak_activation_bytes", None),
        ("--max-nodes", "50", "nodes", "84"),
        ("--max-non-trainable", "1K", "non_trainable", "21,888"),
    ],
)
def test_each_breach_exits_1_and_names_the_metric(capsys, flag, limit, metric, actual):
    code, out, _ = run(capsys, "check", V1, flag, limit)
    assert code == 1
    line = out.splitlines()[0]
    assert line.startswith(f"over budget: {V1}: {metric} ")
    assert f"[limit {limit}]" in line
    if actual:
        assert f"({actual})" in line


def test_baseline_growth(capsys, tmp_path):
    base = tmp_path / "main-report.json"
    assert main(["report", BLOCK, "--format", "json", "-o", str(base)]) == 0
    conv = str(SAMPLES / "conv3x3.onnx")  # 2,709,504 MACs against the block's 1,975,680: +37%
    code, out, _ = run(capsys, "check", conv, "--baseline", str(base))
    assert code == 1 and "macs 2.71 M (2,709,504) > 1.98 M (1,975,680) [baseline 1,975,680 + 0" in out
    code, out, _ = run(
        capsys,
        "check",
        conv,
        "--baseline",
        str(base),
        "--max-increase",
        "macs=40%",
        "--max-increase",
        "flops=40%",
        "--max-increase",
        "params=1K",
        "--max-increase",
        "weight_bytes=4KiB",
    )
    assert code == 0, out
    code, out, _ = run(capsys, "check", BLOCK, "--baseline", str(base))  # the same model: no growth
    assert code == 0


def _version_1(report: dict) -> dict:
    """A report as schema 1 wrote it: plain totals beside their completeness flags."""
    totals = {k: (v["value"] or 0) if isinstance(v, dict) and "bound" in v else v for k, v in report["totals"].items()}
    bounds = {k: v["bound"] for k, v in report["totals"].items() if isinstance(v, dict) and "bound" in v}
    totals["macs_complete"] = bounds["macs"] == "exact"
    totals["peak_activation_complete"] = bounds["peak_activation_bytes"] == "exact"
    totals["params_complete"] = bounds["params"] == "exact"
    return report | {"schema_version": 1, "totals": totals}


def test_baselines_of_either_schema(capsys, tmp_path):
    """A baseline written before schema 2 still works; one whose MACs were unknown (schema 1 wrote 0
    and macs_complete false) allows no growth that can be proven."""
    assert main(["report", BLOCK, "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    for document in (report, _version_1(report)):
        base = tmp_path / f"base{document['schema_version']}.json"
        base.write_text(json.dumps(document))
        code, out, _ = run(capsys, "check", BLOCK, "--baseline", str(base))
        assert code == 0, out
        code, out, _ = run(capsys, "check", str(SAMPLES / "conv3x3.onnx"), "--baseline", str(base))
        assert code == 1 and "over budget: " in out and "macs 2.71 M (2,709,504) > 1.98 M (1,975,680)" in out
    unknown = _version_1(report)
    unknown["totals"] |= {"macs": 0, "macs_complete": False}
    base = tmp_path / "unknown.json"
    base.write_text(json.dumps(unknown))
    code, out, _ = run(capsys, "check", BLOCK, "--baseline", str(base))
    (line,) = [x for x in out.splitlines() if ": macs " in x]
    assert code == 1 and line.startswith("budget not proven: ") and "baseline unknown + 0" in line
    assert "the baseline is incomplete" in line


def test_config_file_with_several_models(capsys, tmp_path):
    config = tmp_path / "pyproject.toml"
    config.write_text(f'''
[tool.modelaudit]
max-params = "5M"

[[tool.modelaudit.models]]
path = "{V1}"
max-macs = "600M"

[[tool.modelaudit.models]]
path = "{V2}"
max-macs = "250M"
inputs = {{ input = "1x3x224x224" }}
''')
    code, out, _ = run(capsys, "check", "--config", str(config))
    assert code == 1
    assert f"within budget: {V1}" in out
    assert f"over budget: {V2}: macs 300.8 M (300,774,272) > 250.0 M (250,000,000) [limit 250M]" in out
    code, out, _ = run(capsys, "check", "--config", str(config), V1)  # pre-commit passes changed files
    assert code == 0 and out.strip() == f"within budget: {V1}"


@pytest.mark.parametrize(
    "argv,message",
    [
        (
            ["check", V1, "--max-macs", "six"],
            "--max-macs 'six': expected a number with an optional unit, e.g. 4M, 600M, 1.5G",
        ),
        (["check", V1, "--max-weight-bytes", "16Qi"], "--max-weight-bytes '16Qi': unknown unit 'Qi'"),
        (["check", V1, "--max-params", "1.5"], "--max-params '1.5' is not a whole number"),
        (["check", V1, "--max-increase", "macs=2%"], "--max-increase needs --baseline"),
        (["check", V1, "--baseline", "x.json", "--max-increase", "speed=2%"], "unknown metric 'speed'"),
        (["check", V1], "no budget for"),
        (["check"], "check needs MODEL paths or --config"),
    ],
)
def test_malformed_budgets_exit_2(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert message in err and len(err.strip().splitlines()) == 1


def test_config_errors(capsys, tmp_path):
    bad = tmp_path / "modelaudit.toml"
    bad.write_text('[[models]]\npath = "m.onnx"\nmax-macz = "1M"\n')
    code, _, err = run(capsys, "check", "--config", str(bad))
    assert code == 2 and "unknown key(s) max-macz" in err
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    code, _, err = run(capsys, "check", "--config", str(tmp_path / "pyproject.toml"))
    assert code == 2 and "has no [tool.modelaudit] section" in err
    (tmp_path / "pyproject.toml").write_text('[tool.modelaudit]\nmax-macs = "600M"\n')  # budgets, no models
    code, out, err = run(capsys, "check", "--config", str(tmp_path / "pyproject.toml"))
    assert code == 2 and out == "" and "lists no models to check" in err


def test_incomplete_count_cannot_prove_a_mac_budget(capsys, tmp_path):
    from conftest import make_model, vi
    from onnx import helper, save

    nodes = [helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Mystery", ["a"], ["y"], domain="x.y")]
    model = make_model(nodes, [vi("x", [4])], [vi("y", None)])
    model.opset_import.append(helper.make_opsetid("x.y", 1))
    path = tmp_path / "m.onnx"
    save(model, path)
    code, out, _ = run(capsys, "check", str(path), "--max-macs", "1G")
    # the Relu's 0 MACs and the Mystery's unknown ones: the total is unknown, never 0, and the line
    # says what would prove the budget
    assert code == 1 and "budget not proven:" in out and "macs unknown, limit 1.00 G" in out
    assert "no rule for x.y:Mystery ×1" in out and "macs 0" not in out


def test_json_output(capsys):
    code, out, _ = run(capsys, "check", V1, V2, "--max-macs", "400M", "--format", "json")
    d = json.loads(out)
    assert code == 1 and d["ok"] is False
    assert [m["ok"] for m in d["models"]] == [False, True]
