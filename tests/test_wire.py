"""Large files are read without their weight bytes: the same model, minus the data of big tensors."""

from __future__ import annotations

import onnx
import pytest

import modelaudit
from modelaudit import graph, wire
from modelaudit.verify import RuntimeOptions, check
from conftest import SAMPLES


def _without_data(model: onnx.ModelProto) -> onnx.ModelProto:
    for t in model.graph.initializer:
        if len(t.raw_data) > wire.STRIP_BYTES:
            t.ClearField("raw_data")
    return model


@pytest.mark.parametrize("sample", ["mobilenet_v1.onnx", "mobilenet_v2.onnx", "lstm.onnx"])
def test_stripped_parse_equals_the_full_model_minus_big_data(sample, monkeypatch):
    monkeypatch.setattr(wire, "STRIP_BYTES", 1024)
    data, stripped = wire.strip_weights(SAMPLES / sample)
    model = onnx.ModelProto()
    model.ParseFromString(data)
    full = onnx.load(SAMPLES / sample)
    big = {t.name for t in full.graph.initializer if len(t.raw_data) > 1024}
    assert set(stripped.spans) == big
    assert model == _without_data(full)


def test_large_file_audits_and_verifies_without_reading_weights_first(monkeypatch):
    monkeypatch.setattr(graph, "STRIP_FILES_FROM", 0)
    monkeypatch.setattr(wire, "STRIP_BYTES", 1024)
    mg = modelaudit.load(SAMPLES / "mobilenet_v2.onnx")
    assert mg.weights_in_file.count > 0
    report = modelaudit.analyze(mg)
    assert report.totals.params == 3_504_872 and report.totals.macs == 300_774_272
    verified, ok = check(mg, report, RuntimeOptions())
    assert ok and verified.verification["verified"] == verified.verification["tensors"]


def test_truncated_large_file_is_invalid(tmp_path, monkeypatch):
    monkeypatch.setattr(graph, "STRIP_FILES_FROM", 0)
    data = (SAMPLES / "mobilenet_v2_block.onnx").read_bytes()
    path = tmp_path / "cut.onnx"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(modelaudit.InvalidModelError, match="protobuf parse failed"):
        modelaudit.audit(path)
