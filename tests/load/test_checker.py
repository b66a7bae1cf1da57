"""onnx.checker's verdict on the weightless model (issue 17 item 5, issue 14 item 7): on every report,
never reading or looking up a weight."""

from __future__ import annotations

import json

import numpy as np
import onnx
from conftest import make_model, tensor, vi
from onnx import TensorProto, helper

import modelaudit
from modelaudit.cli.main import main
from modelaudit.load.checker import structural_check


def _split17() -> onnx.ModelProto:
    """torch's default opset-17 export keeps Split-18's num_outputs: onnx.checker and onnxruntime refuse it."""
    return make_model([helper.make_node("Split", ["x"], ["a", "b"], axis=1, num_outputs=2, name="split")],
                      [vi("x", [1, 4])], [vi("a", [1, 2]), vi("b", [1, 2])], opset=17)


def test_split_num_outputs_at_opset_17_is_flagged_everywhere(tmp_path, capsys):
    path = tmp_path / "split17.onnx"
    onnx.save(_split17(), path)
    assert main(["report", str(path), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    verdict = report["model"]["checker"]
    assert verdict["valid"] is False and verdict["full_check"] is True
    assert "Unrecognized attribute: num_outputs for operator Split" in verdict["error"]
    assert any(w.startswith("onnx.checker rejects the model (full check): Unrecognized attribute: num_outputs")
               for w in report["warnings"])
    assert main(["lint", str(path)]) == 1
    assert "MA013 error: model: onnx.checker: Unrecognized attribute: num_outputs" in capsys.readouterr().out
    assert main(["report", str(path), "--verify"]) == 1  # onnxruntime refuses it: nothing was verified
    assert capsys.readouterr().err.strip().endswith("nothing was verified")


def test_valid_model_with_weights_left_in_the_file_or_outside_is_valid(tmp_path):
    """Stripped weights and external data stand in as empty sparse tensors: the checker never asks
    for the bytes, and never looks for the external file (it would stat it relative to the
    working directory: here the file does not exist at all)."""
    big = tensor("w", (64, 64))
    const = helper.make_node("Constant", [], ["k"], value=tensor("k", (64, 64), seed=1))
    nodes = [helper.make_node("MatMul", ["x", "w"], ["a"]), const, helper.make_node("MatMul", ["a", "k"], ["y"])]
    model = make_model(nodes, [vi("x", [1, 64])], [vi("y", [1, 64])], [big])
    path = tmp_path / "stripped.onnx"
    onnx.save(model, path)
    mg = modelaudit.load(path)
    assert mg.weights_in_file is not None and mg.checker == {"valid": True, "full_check": True, "error": None}
    ext = onnx.ModelProto()
    ext.CopyFrom(model)
    ext.graph.initializer[0].ClearField("raw_data")
    ext.graph.initializer[0].data_location = TensorProto.EXTERNAL
    entry = ext.graph.initializer[0].external_data.add()
    entry.key, entry.value = "location", "absent.bin"
    onnx.save(ext, tmp_path / "external.onnx")
    assert modelaudit.load(tmp_path / "external.onnx").checker["valid"] is True


def test_short_raw_data_is_caught_when_the_bytes_are_in_memory():
    """A small tensor keeps its bytes: the checker sees 8 bytes where 4x4 float32 needs 64."""
    w = onnx.TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[4, 4], raw_data=np.zeros(2, np.float32).tobytes())
    model = make_model([helper.make_node("MatMul", ["x", "w"], ["y"])], [vi("x", [1, 4])], [vi("y", [1, 4])], [w])
    verdict = structural_check(model)
    assert not verdict["valid"] and "raw_data size (8 bytes) is too small" in verdict["error"]



def test_opset_newer_than_onnx_defines_is_invalid():
    """onnx.checker passes opset 99; onnxruntime refuses it: the verdict says so."""
    latest = onnx.defs.onnx_opset_version()
    model = make_model([helper.make_node("Relu", ["x"], ["y"])], [vi("x", [2])], [vi("y", [2])], opset=99)
    verdict = structural_check(model)
    assert verdict == {"valid": False, "full_check": True,
                       "error": f"default-domain opset 99 is newer than any onnx defines ({latest})"}


def test_stand_in_inputs_as_wire_bytes_equal_the_messages_built_field_by_field():
    from onnx import GraphProto, TensorShapeProto

    from modelaudit.load.checker import _inputs_field

    tensors = [TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[768, 3072]),
               TensorProto(name="scalé", data_type=TensorProto.INT64),  # rank 0, a name outside ASCII
               TensorProto(name="big", data_type=TensorProto.FLOAT16, dims=[1, 2**40, 127, 128]),  # multi-byte varints
               TensorProto(name="v", data_type=TensorProto.FLOAT, dims=[768, 3072]),  # a type met before
               TensorProto(name="declared", data_type=TensorProto.FLOAT, dims=[2])]
    got = GraphProto()
    got.MergeFromString(_inputs_field(tensors, {"declared"}))
    expected = GraphProto()
    for t in tensors[:4]:
        vi = expected.input.add()
        vi.name = t.name
        vi.type.tensor_type.elem_type = t.data_type
        vi.type.tensor_type.shape.dim.extend(TensorShapeProto.Dimension(dim_value=d) for d in t.dims)
    assert got == expected and got.SerializeToString() == expected.SerializeToString()
