"""Large files are read without their weight bytes: the same model, minus the data of big tensors."""

from __future__ import annotations

import onnx
import pytest
from conftest import SAMPLES

import modelaudit
from modelaudit.load import reader, wire
from modelaudit.runtime.verify import RuntimeOptions, check


def _without_data(model: onnx.ModelProto) -> onnx.ModelProto:
    for t in model.graph.initializer:
        if len(t.raw_data) > wire.KEEP_OTHER_BYTES:  # the samples' initializers are all float
            t.ClearField("raw_data")
    return model


@pytest.mark.parametrize("sample", ["mobilenet_v1.onnx", "mobilenet_v2.onnx", "lstm.onnx"])
def test_stripped_parse_equals_the_full_model_minus_weight_data(sample):
    data, stripped = wire.strip_weights(SAMPLES / sample)
    model = onnx.ModelProto()
    model.ParseFromString(data)
    full = onnx.load(SAMPLES / sample)
    weights = {t.name for t in full.graph.initializer if len(t.raw_data) > wire.KEEP_OTHER_BYTES}
    assert set(stripped.spans) == weights
    assert model == _without_data(full)


def test_integer_constants_keep_their_values():
    import numpy as np
    from conftest import make_model, vi
    from onnx import helper, numpy_helper

    shape = numpy_helper.from_array(np.arange(2000, dtype=np.int64), "ids")  # 16 KB of integers: kept
    big = numpy_helper.from_array(np.arange(5000, dtype=np.int64), "big_ids")  # 40 KB: left in the file
    model = make_model(
        [helper.make_node("Gather", ["x", "ids"], ["y"]), helper.make_node("Gather", ["x", "big_ids"], ["z"])],
        [vi("x", [5000])],
        [vi("y", None), vi("z", None)],
        [shape, big],
    )
    import tempfile

    path = tempfile.NamedTemporaryFile(suffix=".onnx", delete=False).name
    onnx.save(model, path)
    data, stripped = wire.strip_weights(path)
    assert set(stripped.spans) == {"big_ids"}


def test_weights_stay_in_the_file_until_verify_reads_them(monkeypatch):
    monkeypatch.setattr(reader, "WHOLE_BYTES", 0)  # as if the sample were over 16 MiB
    mg = modelaudit.load(SAMPLES / "mobilenet_v2.onnx")
    assert mg.weights_in_file.count > 0
    report = modelaudit.analyze(mg)
    assert report.totals.params == 3_504_872 and report.totals.macs == 300_774_272
    verified, ok = check(mg, report, RuntimeOptions())
    assert ok and verified.verification["verified"] == verified.verification["tensors"]


def test_a_file_of_16_mib_or_less_is_read_whole_and_audited_the_same(monkeypatch):
    """Walking a small file's fields costs more than holding its bytes (0.04 s against 0.006 s
    on the 9.7 MB file of a 52,000-node model whose weights are external): it is read whole.
    Its report is the same as when its weights stay in the file."""
    path = SAMPLES / "mobilenet_v2.onnx"
    assert path.stat().st_size <= reader.WHOLE_BYTES
    whole = modelaudit.load(path)
    assert whole.weights_in_file is None
    monkeypatch.setattr(reader, "WHOLE_BYTES", 0)
    light = modelaudit.load(path)
    assert light.weights_in_file.count > 0
    assert modelaudit.analyze(whole).to_dict() == modelaudit.analyze(light).to_dict()


def test_truncated_file_is_invalid(tmp_path):
    data = (SAMPLES / "mobilenet_v2_block.onnx").read_bytes()
    path = tmp_path / "cut.onnx"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(modelaudit.InvalidModelError, match="protobuf parse failed"):
        modelaudit.audit(path)
