"""Several models at once: directories, a process pool, one report each or one combined JSON."""

from __future__ import annotations

import io
import json

from conftest import SAMPLES

from modelaudit.cli.batch import Progress
from modelaudit.cli.main import main


def test_directory_combined_json_with_jobs(capsys):
    assert main(["report", str(SAMPLES), "--format", "json", "--jobs", "2"]) == 0
    d = json.loads(capsys.readouterr().out)
    paths = [r["model"]["path"] for r in d["reports"]]
    assert len(paths) == len(list(SAMPLES.glob("*.onnx"))) and paths == sorted(paths)
    params = {p.rsplit("/", 1)[-1]: r["totals"]["params"]["value"] for p, r in zip(paths, d["reports"])}
    assert params["mobilenet_v2.onnx"] == 3_504_872 and params["conv3x3.onnx"] == 3584


def test_one_report_per_model(tmp_path):
    out = tmp_path / "reports"
    assert (
        main(
            [
                "report",
                str(SAMPLES / "conv3x3.onnx"),
                str(SAMPLES / "lstm.onnx"),
                "--output-dir",
                str(out),
                "--format",
                "csv",
            ]
        )
        == 0
    )
    assert sorted(p.name for p in out.iterdir()) == ["conv3x3.csv", "lstm.csv"]


def test_a_bad_model_does_not_stop_the_others(capsys, tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"")
    code = main(["report", str(bad), str(SAMPLES / "conv3x3.onnx"), "--format", "json"])
    out, err = capsys.readouterr()
    assert code == 3
    assert err.strip() == f"modelaudit: error: {bad}: is empty (0 bytes), not an ONNX model"
    assert len(json.loads(out)["reports"]) == 1


class _Terminal(io.StringIO):
    def __init__(self, tty: bool):
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def test_progress_bar_only_on_a_terminal_and_only_when_slow():
    quiet = _Terminal(tty=False)
    bar = Progress(4, stream=quiet, delay=0)
    bar.update("a.onnx", advance=1)
    assert quiet.getvalue() == ""
    tty = _Terminal(tty=True)
    bar = Progress(4, stream=tty, delay=0)
    bar.update("b.onnx", advance=2)
    assert "[############------------] 2/4 b.onnx" in tty.getvalue()
    bar.close()
    fast = _Terminal(tty=True)
    Progress(4, stream=fast, delay=60).update("c.onnx", advance=1)
    assert fast.getvalue() == ""  # a run under the delay stays quiet


def test_one_model_flags_are_refused_with_several_models(capsys):
    """--symbolic and --sweep with several models printed each model's plain report: the flag was
    silently dropped. Like --verify or --decode, they take one model at a time."""
    models = [str(SAMPLES / "conv3x3.onnx"), str(SAMPLES / "lstm.onnx")]
    for flag in (["--symbolic"], ["--sweep", "batch=1,2"]):
        assert main(["report", *models, *flag]) == 2, flag
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and flag[0] in err[0] and "one model at a time" in err[0]
    assert main(["report", str(SAMPLES), "--shard", "1/1", "--symbolic"]) == 2
    assert "--symbolic" in capsys.readouterr().err


def test_output_dir_and_output_file_together_are_refused(tmp_path, capsys):
    """--output-dir D -o FILE wrote one report per model into D and never FILE, without a word."""
    argv = [
        "report",
        str(SAMPLES / "conv3x3.onnx"),
        str(SAMPLES / "lstm.onnx"),
        "--output-dir",
        str(tmp_path / "d"),
        "-o",
        str(tmp_path / "all.txt"),
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--output-dir" in err[0] and "-o" in err[0]
    assert not (tmp_path / "d").exists() and not (tmp_path / "all.txt").exists()


def test_output_dir_that_is_a_file_is_a_usage_error(tmp_path, capsys):
    """mkdir raised FileExistsError: exit 70."""
    (tmp_path / "d").write_text("a file")
    argv = ["report", str(SAMPLES / "conv3x3.onnx"), str(SAMPLES / "lstm.onnx"), "--output-dir", str(tmp_path / "d")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"--output-dir {tmp_path / 'd'}: cannot be made a folder" in err[0], err
    assert (tmp_path / "d").read_text() == "a file"
