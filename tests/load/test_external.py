"""External data pointing many tensors into one file: each location is checked once, each tensor's
offset and length on its own, and the guarantees stay those of tests/load/test_untrusted.py."""

from __future__ import annotations

import os

import numpy as np
import onnx
import pytest
from conftest import make_model, vi
from onnx import TensorProto, external_data_helper, helper, numpy_helper

import modelaudit
from modelaudit.errors import InvalidModelError, UnsafeExternalDataError
from modelaudit.load import external
from modelaudit.load.wire import encode_field

LAYERS = 50


def _chain(folder, locations) -> str:
    """A MatMul chain of 4x4 weights written into the files `locations` names, one after another."""
    nodes, inits, x, offsets = [], [], "x", {}
    for i, location in enumerate(locations):
        data = np.full((4, 4), i, np.float32)
        w = numpy_helper.from_array(data, f"w{i}")
        with open(folder / location, "ab") as fh:
            fh.write(data.tobytes())
        external_data_helper.set_external_data(w, location, offsets.get(location, 0), 64)
        offsets[location] = offsets.get(location, 0) + 64
        w.ClearField("raw_data")
        w.data_location = TensorProto.EXTERNAL
        inits.append(w)
        nodes.append(helper.make_node("MatMul", [x, w.name], [f"h{i}"]))
        x = f"h{i}"
    path = folder / "model.onnx"
    onnx.save(make_model(nodes, [vi("x", [1, 4])], [vi(x, None)], inits), path)
    return str(path)


def test_one_realpath_per_location_not_per_tensor(tmp_path, monkeypatch):
    path = _chain(tmp_path, ["a.bin"] * LAYERS + ["b.bin"] * LAYERS)
    calls = []
    real = os.path.realpath
    monkeypatch.setattr(external.os.path, "realpath", lambda p, *a, **k: calls.append(p) or real(p, *a, **k))
    report = modelaudit.audit(path)
    assert report.totals.params == 2 * LAYERS * 4 * 4
    assert sorted(os.path.basename(p) for p in calls if str(p).endswith(".bin")) == ["a.bin", "b.bin"]


def test_every_tensor_read_from_its_own_offset(tmp_path):
    path = _chain(tmp_path, ["a.bin"] * LAYERS)
    model = onnx.load(path, load_external_data=False)
    external.load_external(model, tmp_path)
    for i, t in enumerate(model.graph.initializer):
        assert (numpy_helper.to_array(t) == i).all()


def test_a_bad_location_after_good_ones_is_still_refused(tmp_path):
    (tmp_path / "sub").mkdir()
    os.symlink(tmp_path, tmp_path / "sub" / "up")
    path = _chain(tmp_path, ["a.bin"] * 3)
    model = onnx.load(path, load_external_data=False)
    bad = model.graph.initializer[2]
    for entry in bad.external_data:
        if entry.key == "location":
            entry.value = "sub/up/a.bin"
    with pytest.raises(UnsafeExternalDataError, match="tensor 'w2' .*symbolic link"):
        external.check_all(model, tmp_path)


def test_offsets_checked_per_tensor_in_a_shared_file(tmp_path):
    path = _chain(tmp_path, ["a.bin"] * 3)
    model = onnx.load(path, load_external_data=False)
    last = model.graph.initializer[2]
    for entry in last.external_data:
        if entry.key == "offset":
            entry.value = str(3 * 64 - 8)  # its 64 bytes would run 56 past the end of the file
    with pytest.raises(InvalidModelError, match="tensor 'w2'.* 192 bytes, shorter than offset 184 \\+ length 64"):
        external.load_external(model, tmp_path)


def _constants(folder, bad: int, location: str) -> str:
    """Ten named Constant nodes whose tensors sit in `a.bin`, but the `bad`-th names `location`."""
    (folder / "a.bin").write_bytes(b"\0" * 64)
    nodes, x = [], "x"
    for i in range(10):
        w = numpy_helper.from_array(np.zeros((4, 4), np.float32), f"k{i}")
        external_data_helper.set_external_data(w, location if i == bad else "a.bin", 0, 64)
        w.ClearField("raw_data")
        w.data_location = TensorProto.EXTERNAL
        nodes += [
            helper.make_node("Constant", [], [f"k{i}"], name=f"const{i}", value=w),
            helper.make_node("MatMul", [x, f"k{i}"], [f"h{i}"], name=f"mm{i}"),
        ]
        x = f"h{i}"
    path = folder / "model.onnx"
    onnx.save(make_model(nodes, [vi("x", [1, 4])], [vi(x, None)]), path)
    return str(path)


def test_a_refused_location_names_its_node_and_attribute(tmp_path):
    # the walk keeps each tensor's place as parts and describes it only on refusal: the text is
    # the one a string built per attribute gave, naming the seventh Constant, not its neighbours
    model = onnx.load(_constants(tmp_path, 7, "../secret.bin"), load_external_data=False)
    with pytest.raises(UnsafeExternalDataError) as refused:
        external.check_all(model, tmp_path)
    assert str(refused.value) == (
        "tensor 'k7' (node 'const7' attribute value): external data location '../secret.bin' leaves the model's folder"
    )


def test_a_hard_linked_file_names_the_first_node_that_points_into_it(tmp_path):
    path = _constants(tmp_path, 3, "b.bin")
    os.link(tmp_path / "a.bin", tmp_path / "b.bin")
    model = onnx.load(path, load_external_data=False)
    with pytest.raises(UnsafeExternalDataError) as refused:
        external.check_all(model, tmp_path)
    assert str(refused.value).startswith(
        "tensor 'k0' (node 'const0' attribute value): external data file 'a.bin' has other hard links"
    )
    refs = external.external_refs(model)
    assert [r.where for r in refs[2:5]] == [f"node 'const{i}' attribute value" for i in (2, 3, 4)]
    assert refs[3].location == "b.bin"


def test_an_external_tensor_in_a_node_is_found_however_the_file_encodes_it(tmp_path):
    """The node walk is skipped when the nodes' canonical serialization shows no data_location =
    EXTERNAL; a file that writes that field with padded varints (legal protobuf: the key as
    0xF0 0x00, the value as 0x81 0x00) still has its tensor found and its location refused."""
    entry = encode_field(1, b"location") + encode_field(2, b"../secret.bin")
    tensor = (
        b"\x08\x04\x08\x04" + b"\x10\x01" + encode_field(8, b"k") + encode_field(13, entry) + b"\xf0\x00" + b"\x81\x00"
    )  # dims 4, 4; FLOAT; name; external_data; data_location, padded
    attribute = encode_field(1, b"value") + encode_field(5, tensor) + b"\xa0\x01\x04"  # name, t, type TENSOR (20 = 4)
    constant = (
        encode_field(2, b"k") + encode_field(3, b"const") + encode_field(4, b"Constant") + encode_field(5, attribute)
    )
    graph = onnx.GraphProto()
    graph.ParseFromString(encode_field(1, constant))
    assert graph.node[0].attribute[0].t.data_location == TensorProto.EXTERNAL  # protobuf reads it so
    assert b"\xf0\x00\x81\x00" in encode_field(1, constant)
    model = make_model([helper.make_node("MatMul", ["x", "k"], ["y"], name="mm")], [vi("x", [1, 4])], [vi("y", None)])
    rest = onnx.ModelProto()
    rest.CopyFrom(model)
    rest.ClearField("graph")  # the graph written by hand: the Constant's padded bytes, then the rest of it
    raw = rest.SerializeToString() + encode_field(7, encode_field(1, constant) + model.graph.SerializeToString())
    assert b"\xf0\x00\x81\x00" in raw
    path = tmp_path / "model.onnx"
    path.write_bytes(raw)
    loaded = onnx.load(str(path), load_external_data=False)
    with pytest.raises(UnsafeExternalDataError, match="'../secret.bin' leaves the model's folder"):
        external.check_all(loaded, tmp_path)
    with pytest.raises(UnsafeExternalDataError, match="leaves the model's folder"):
        modelaudit.audit(str(path))
