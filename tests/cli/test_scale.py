"""Past one machine: --shard K/N cuts stable slices, --format jsonl writes each model as it finishes."""

from __future__ import annotations

import hashlib
import json
import shutil
import sys

import pytest
from conftest import SAMPLES

from modelaudit.cli import batch
from modelaudit.cli.main import main

MODELS = sorted(str(p) for p in SAMPLES.glob("*.onnx"))


def _audited(capsys, *argv) -> list[str]:
    assert main(["report", *argv, "--format", "jsonl"]) == 0
    return [json.loads(line)["model"]["path"] for line in capsys.readouterr().out.splitlines()]


def test_shards_partition_the_models_and_are_stable(capsys):
    slices = [_audited(capsys, str(SAMPLES), "--shard", f"{k}/3") for k in (1, 2, 3)]
    assert sorted(p for s in slices for p in s) == MODELS  # every model once, in exactly one slice
    assert slices[1] == _audited(capsys, str(SAMPLES), "--shard", "2/3")  # the same slice on a second run
    for k, audited in enumerate(slices):  # the slice is the path's SHA-256 modulo N, on any machine
        assert audited == [p for p in MODELS if int.from_bytes(hashlib.sha256(p.encode()).digest()[:8], "big") % 3 == k]


def test_a_new_model_moves_no_other_model_between_shards(tmp_path):
    folder = tmp_path / "models"
    shutil.copytree(SAMPLES, folder, ignore=shutil.ignore_patterns("*.py"))
    before = {k: batch.shard(batch.expand_models([str(folder)]), f"{k}/4") for k in (1, 2, 3, 4)}
    shutil.copy(folder / "conv3x3.onnx", folder / "added.onnx")
    after = {k: batch.shard(batch.expand_models([str(folder)]), f"{k}/4") for k in (1, 2, 3, 4)}
    for k in before:
        assert [p for p in after[k] if not p.endswith("added.onnx")] == before[k]


@pytest.mark.parametrize("spec", ["0/3", "4/3", "1", "a/b", "1/0"])
def test_bad_shard_is_a_usage_error(capsys, spec):
    assert main(["report", str(SAMPLES), "--shard", spec]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"modelaudit: error: --shard {spec}: expected K/N") and len(err.splitlines()) == 1


def test_jsonl_one_complete_report_per_line_with_jobs(capsys):
    assert main(["report", str(SAMPLES), "--format", "jsonl", "--jobs", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    reports = {json.loads(line)["model"]["path"]: json.loads(line) for line in lines}
    assert sorted(reports) == MODELS and len(lines) == len(MODELS)
    assert reports[str(SAMPLES / "conv3x3.onnx")]["totals"]["params"]["value"] == ((3 * 3 * 3) + 1) * 128


def test_jsonl_writes_each_model_before_auditing_the_next(monkeypatch):
    events = []
    audit = batch._audit_lenient
    monkeypatch.setattr(batch, "_audit_lenient", lambda job, **kw: events.append(("audit", job[0])) or audit(job, **kw))

    class Recorder:
        def write(self, text):
            events.append(("write", json.loads(text)["model"]["path"]))

        def flush(self):
            pass

    monkeypatch.setattr(sys, "stdout", Recorder())
    models = MODELS[:3]
    assert main(["report", *models, "--format", "jsonl"]) == 0
    assert events == [(kind, p) for p in models for kind in ("audit", "write")]


def test_combined_json_from_workers_is_one_document(capsys, tmp_path):
    out = tmp_path / "all.json"
    assert main(["report", *MODELS[:2], "--format", "json", "--jobs", "2", "-o", str(out)]) == 0
    d = json.loads(out.read_text())
    assert d["schema_version"] == 2 and [r["model"]["path"] for r in d["reports"]] == MODELS[:2]
