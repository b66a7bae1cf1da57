"""The command line: formats, views, and one stderr line with a documented exit code per failure."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SAMPLES

from modelaudit.cli.main import main
from modelaudit.cli.main import run as console_script

V2 = str(SAMPLES / "mobilenet_v2.onnx")


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_text_report_of_mobilenet_v2(capsys):
    code, out, err = run(capsys, "report", V2)
    assert code == 0 and err == ""
    assert "/features/features.3/conv/conv.1/conv.1.0/Conv" in out
    assert "3.50 M (3,504,872)" in out
    assert "300.8 M (300,774,272)" in out


def test_markdown_sorted_top(capsys):
    code, out, _ = run(capsys, "report", V2, "--format", "markdown", "--sort", "macs", "--top", "3")
    assert code == 0
    table = [line.split("|")[1:3] for line in out.splitlines() if "| /" in line]
    assert len(table) == 3
    index, name = (cell.strip() for cell in table[0])  # the same index `explain '#N'` takes
    assert name == "/features/features.18/features.18.0/Conv"
    assert run(capsys, "explain", V2, f"#{index}")[1].startswith(name + "  (Conv)")
    assert "_top 3 of 152 nodes shown" in out


def test_json_is_exact_and_complete(capsys, tmp_path):
    target = tmp_path / "report.json"
    code, out, _ = run(capsys, "report", V2, "--format", "json", "-o", str(target))
    assert code == 0 and out == ""
    d = json.loads(target.read_text())
    assert d["schema_version"] == 2
    assert d["totals"]["params"] == {"value": 3_504_872, "bound": "exact"}
    assert d["totals"]["macs"] == {"value": 300_774_272, "bound": "exact"}
    assert sum(r["macs"] for r in d["rows"]) == d["totals"]["macs"]["value"]
    assert {r["op"] for r in d["by_op"]} >= {"Conv", "Gemm", "BatchNormalization"}
    assert d["model"]["inputs"] == [{"name": "input", "shape": "1x3x224x224", "dtype": "float32"}]


def test_by_op(capsys):
    code, out, _ = run(capsys, "report", V2, "--by", "op", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    conv = next(r for r in rows if r["op"] == "Conv")
    assert int(conv["count"]) == 52
    assert sum(int(r["macs"]) for r in rows) == 300_774_272


@pytest.mark.parametrize("fmt", ["text", "markdown", "csv"])
def test_by_op_top_counts_op_types(capsys, fmt):
    code, out, err = run(capsys, "report", V2, "--by", "op", "--top", "3", "--format", fmt)
    assert code == 0 and err == ""
    if fmt == "csv":
        assert [r["op"] for r in csv.DictReader(io.StringIO(out))] == ["Conv", "Gemm", "Add"]
    else:  # Conv, Gemm, Add, BatchNormalization, Clip, Flatten, GlobalAveragePool: 7 op types
        assert "top 3 of 7 op types shown" in out and "of 152 nodes" not in out


def test_csv_node_rows(capsys):
    code, out, _ = run(capsys, "report", str(SAMPLES / "lstm.onnx"), "--format", "csv")
    (row,) = list(csv.DictReader(io.StringIO(out)))
    assert row["op"] == "LSTM" and row["macs"] == str(5 * 1 * 1 * 4 * 20 * (10 + 20))


def test_input_flag(capsys, tmp_path):
    from conftest import make_model, vi
    from onnx import helper, save

    model = make_model([helper.make_node("Relu", ["x"], ["y"])], [vi("x", ["batch", 3, "h", "w"])], [vi("y", None)])
    path = tmp_path / "dyn.onnx"
    save(model, path)
    code, out, _ = run(capsys, "report", str(path))
    assert "resolve with --dim batch=N" in out
    code, out, _ = run(capsys, "report", str(path), "--input", "x=2x3x8x8", "--format", "json")
    assert json.loads(out)["rows"][0]["flops"] == 2 * 3 * 8 * 8
    code, out, _ = run(
        capsys, "report", str(path), "--dim", "batch=1", "--dim", "h=4", "--dim", "w=4", "--format", "json"
    )
    assert json.loads(out)["rows"][0]["flops"] == 3 * 4 * 4


@pytest.mark.parametrize(
    "argv,code,message",
    [
        (["report", "absent.onnx"], 2, "modelaudit: error: absent.onnx: no such file"),
        (
            ["report", V2, "--input", "input=1x3x224"],
            2,
            "modelaudit: error: --input input: the model declares rank 4, the flag gives rank 3",
        ),
        (
            ["report", V2, "--input", "input=1xAx224x224"],
            2,
            "modelaudit: error: --input 'input=1xAx224x224': "
            "the shape must be positive integers joined by 'x', e.g. 1x3x224x224",
        ),
        (
            ["report", V2, "--input", "other=1x3x224x224"],
            2,
            "modelaudit: error: --input other: the model has no input named 'other' (its inputs are: input)",
        ),
        (
            ["report", V2, "--dim", "batch=0"],
            2,
            "modelaudit: error: --dim batch=0: only a KV cache's cached length may be 0 "
            "(this model has no recognisable cache) (give batch a positive value)",
        ),
        (["report", V2, "--format", "yaml"], 2, None),
        (["report", V2, "--top", "0"], 2, "modelaudit: error: --top must be at least 1"),
    ],
)
def test_errors_are_one_line_with_exit_code(capsys, argv, code, message):
    got, out, err = run(capsys, *argv)
    assert got == code
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    if message:
        assert err.strip() == message


def test_not_a_model_exit_3(capsys, tmp_path):
    path = tmp_path / "empty.onnx"
    path.write_bytes(b"")
    code, _, err = run(capsys, "report", str(path))
    assert code == 3 and err.strip() == f"modelaudit: error: {path}: is empty (0 bytes), not an ONNX model"


@pytest.mark.parametrize("argv,code", [(["report", "{empty}"], 3), (["report", "absent.onnx"], 2)])
def test_debug_shows_the_traceback_and_keeps_the_exit_code(capsys, tmp_path, argv, code):
    (tmp_path / "empty.onnx").write_bytes(b"")
    argv = [a.format(empty=tmp_path / "empty.onnx") for a in argv]
    got, _, err = run(capsys, "--debug", *argv)
    assert got == code
    assert "Traceback" in err and err.strip().splitlines()[-1].startswith("modelaudit: error: ")


def _commands() -> list[list[str]]:
    """The installed console script (beside this interpreter, not whichever PATH finds first) and
    `python -m modelaudit`."""
    script = shutil.which("modelaudit", path=str(Path(sys.executable).parent))
    if script is None:
        pytest.skip("the console script is not installed beside this Python (pip install -e . installs it)")
    return [[script], [sys.executable, "-m", "modelaudit"]]


def test_console_entry_point_and_module():
    for cmd in _commands():
        result = subprocess.run(
            [*cmd, "report", str(SAMPLES / "conv3x3.onnx"), "--format", "json"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["totals"]["params"]["value"] == 3584


def test_the_hard_exit_loses_no_output(capsys, tmp_path):
    """The command leaves with os._exit (no teardown): what it printed and wrote is whole, its exit
    code kept, whether stdout is a pipe or a file."""
    model = str(SAMPLES / "mobilenet_v2.onnx")
    code, expected, _ = run(capsys, "report", model, "--format", "json")
    assert code == 0 and len(expected) > 1 << 16  # more than one pipe buffer
    for cmd in _commands():
        piped = subprocess.run([*cmd, "report", model, "--format", "json"], capture_output=True, text=True, check=False)
        assert (piped.returncode, piped.stdout) == (0, expected)
        out = tmp_path / "out.json"
        written = subprocess.run(
            [*cmd, "report", model, "--format", "json", "-o", str(out)], capture_output=True, check=False
        )
        assert written.returncode == 0 and out.read_text() == expected
        missing = subprocess.run(
            [*cmd, "report", str(tmp_path / "none.onnx")], capture_output=True, text=True, check=False
        )
        assert missing.returncode == 2 and missing.stderr.startswith("modelaudit: error: ")


def test_only_the_hard_exit_keeps_the_audit_and_the_collector_off(capsys, monkeypatch):
    """main() called from a program frees what it made and turns the collector back on; the console
    script (run(), which ends with os._exit) keeps the model and the report and leaves it off."""
    import gc

    from modelaudit.cli import common

    model = str(SAMPLES / "conv3x3.onnx")
    assert gc.isenabled()
    code, _, _ = run(capsys, "report", model, "--format", "json")
    assert code == 0 and gc.isenabled() and not common.leaving()
    common.keep("anything")  # nothing is held for a caller that goes on
    assert common._KEPT is None
    monkeypatch.setattr(common, "_KEPT", None)
    monkeypatch.setattr(sys, "argv", ["modelaudit", "report", model, "--format", "json"])
    exits = []
    monkeypatch.setattr(os, "_exit", exits.append)
    try:
        console_script()
        kept = list(common._KEPT)
        assert exits == [0] and not gc.isenabled()
    finally:
        gc.enable()
    assert [type(k).__name__ for k in kept] == ["ModelGraph", "Report"]
    assert json.loads(capsys.readouterr().out)["totals"]["params"]["value"] == 3584


def test_no_traceback_on_bad_file_from_a_real_process(tmp_path):
    path = tmp_path / "junk.onnx"
    path.write_bytes(b"\x08\x07junkjunkjunk" * 50)
    result = subprocess.run(
        [sys.executable, "-m", "modelaudit", "report", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 3
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_a_directory_without_models(capsys, tmp_path):
    code, out, err = run(capsys, "report", str(tmp_path))
    assert code == 2 and out == ""
    assert err.strip() == f"modelaudit: error: {tmp_path}: a directory with no .onnx file in it"


@pytest.mark.parametrize(
    "flag",
    [
        ["--runs", "3"],
        ["--warmup", "4"],
        ["--ort-optimization", "all"],
        ["--seed", "7"],
        ["--threads", "1"],
        ["--timeout", "5"],
        ["--max-memory", "1GiB"],
    ],
)
def test_runtime_flags_without_a_run_are_refused(capsys, flag):
    """--runs 3 (and the other onnxruntime settings) without --profile, --verify or --hardware
    calibrate printed the static report as if the flag had not been given; a value other than the
    default, with nothing to apply it to, exits 2 naming the flags it needs."""
    assert main(["report", str(SAMPLES / "conv3x3.onnx"), *flag]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and flag[0] in err[0] and "--profile" in err[0]
    assert main(["report", str(SAMPLES / "conv3x3.onnx"), "--runs", "10"]) == 0  # the default: nothing is lost


def test_output_that_is_a_file_the_command_reads_is_refused(capsys, tmp_path):
    """-o naming the model (or a hard link to it), a compared model, a model of a folder, or the
    file the model's external data lives in: exit 2, one line, and the file is left as it was."""
    import onnx
    from conftest import make_model, tensor, vi
    from onnx import helper

    model = tmp_path / "m.onnx"
    model.write_bytes((SAMPLES / "conv3x3.onnx").read_bytes())
    other = tmp_path / "other.onnx"
    other.write_bytes((SAMPLES / "lstm.onnx").read_bytes())
    linked = tmp_path / "linked.onnx"
    os.link(model, linked)
    ext = make_model(
        [helper.make_node("MatMul", ["x", "w"], ["y"])], [vi("x", [1, 64])], [vi("y", [1, 64])], [tensor("w", (64, 64))]
    )
    (tmp_path / "ext").mkdir()
    onnx.save(ext, tmp_path / "ext" / "e.onnx", save_as_external_data=True, location="e.weights", size_threshold=0)
    weights = tmp_path / "ext" / "e.weights"
    before = {p: p.read_bytes() for p in (model, other, weights)}
    for argv in (
        ["report", str(model), "-o", str(model)],
        ["report", str(model), "-o", str(linked)],
        ["report", str(tmp_path), "--format", "json", "-o", str(other)],
        ["compare", str(model), str(other), "-o", str(other)],
        ["lint", str(model), "-o", str(model)],
        ["report", str(tmp_path / "ext" / "e.onnx"), "-o", str(weights)],
        ["compare", str(model), str(tmp_path / "ext" / "e.onnx"), "-o", str(weights)],
    ):
        code, out, err = run(capsys, *argv)
        assert code == 2 and out == "" and len(err.strip().splitlines()) == 1, argv
        assert "which this command reads; the report would replace it" in err
    assert {p: p.read_bytes() for p in before} == before
    code, _, _ = run(capsys, "report", str(model), "-o", str(tmp_path / "report.txt"))
    assert code == 0 and (tmp_path / "report.txt").read_text().startswith(str(model))
