"""Untrusted models: every bad input gets one stderr line and its exit code; nothing outside the
model's folder is opened; the runtime is fenced."""

from __future__ import annotations

import os
import sys

import numpy as np
import onnx
import pytest
from conftest import SAMPLES, make_model, tensor, vi
from onnx import TensorProto, helper, numpy_helper

import modelaudit
from modelaudit.cli.main import main

OPENED: list[str] = []
_WATCHING = [False]


def _hook(event, args):
    if _WATCHING[0] and event == "open" and args and isinstance(args[0], (str, bytes, os.PathLike)):
        OPENED.append(os.path.realpath(os.fsdecode(args[0])))


sys.addaudithook(_hook)  # audit hooks cannot be removed; it records only while a test watches


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err.strip()


def one_line(err: str) -> str:
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


# 1-5: files that are not models
def test_device_fifo_directory_refused_without_reading(capsys, tmp_path):
    fifo = tmp_path / "pipe.onnx"
    os.mkfifo(fifo)
    for path, why in (
        (fifo, "is not a regular file (a pipe, socket or device)"),
        ("/dev/zero", "is not a regular file (a pipe, socket or device)"),
    ):
        code, out, err = run(capsys, "report", path)
        assert code == 3 and one_line(err) == f"modelaudit: error: {path}: {why}"
    with pytest.raises(modelaudit.InvalidModelError, match="is a directory, not an ONNX model file"):
        modelaudit.audit(tmp_path)  # the command line audits the models in a directory instead


def test_file_over_2_gib_refused_from_its_size(capsys, tmp_path):
    path = tmp_path / "huge.onnx"
    with open(path, "wb") as fh:
        fh.truncate(2**31 + 10)  # sparse: nothing is written, nothing may be read
    _WATCHING[0] = True
    try:
        code, _, err = run(capsys, "report", path)
    finally:
        _WATCHING[0] = False
    assert code == 3
    assert one_line(err) == (
        f"modelaudit: error: {path}: is 2.0 GiB; a single ONNX protobuf cannot exceed 2 GiB "
        "(save the weights as external data: onnx.save(model, path, save_as_external_data=True))"
    )
    assert str(path.resolve()) not in OPENED


@pytest.mark.parametrize("cut", ["one byte short", "half"])
def test_truncated_model_exact_message(capsys, tmp_path, cut):
    data = (SAMPLES / "mobilenet_v2_block.onnx").read_bytes()
    path = tmp_path / "cut.onnx"
    path.write_bytes(data[: len(data) - 1] if cut == "one byte short" else data[: len(data) // 2])
    code, _, err = run(capsys, "report", path)
    assert code == 3
    assert one_line(err) == (
        f"modelaudit: error: {path}: is not a valid ONNX model (protobuf parse failed: the file "
        "is corrupt, truncated or of another type)"
    )


def test_random_bytes(capsys, tmp_path):
    path = tmp_path / "noise.onnx"
    path.write_bytes(np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    code, _, err = run(capsys, "report", path)
    assert code == 3 and one_line(err).startswith(f"modelaudit: error: {path}: is not ")


# 6-7: unsafe external data, wherever it sits
def _external(tensor_proto: onnx.TensorProto, location: str) -> onnx.TensorProto:
    tensor_proto.ClearField("raw_data")
    tensor_proto.data_location = TensorProto.EXTERNAL
    entry = tensor_proto.external_data.add()
    entry.key, entry.value = "location", location
    return tensor_proto


def _model_with_external(folder, location: str, where: str = "initializer") -> str:
    w = _external(tensor("w", (4, 4)), location)
    node = helper.make_node("MatMul", ["x", "w"], ["y"])
    if where == "initializer":
        model = make_model([node], [vi("x", [1, 4])], [vi("y", None)], [w])
    elif where == "Constant":
        const = helper.make_node("Constant", [], ["w"], value=w)
        model = make_model([const, node], [vi("x", [1, 4])], [vi("y", None)])
    elif where == "sparse_initializer":
        indices = numpy_helper.from_array(np.array([0, 5], np.int64), "w_indices")
        sparse = helper.make_sparse_tensor(_external(tensor("w_values", (2,)), location), indices, [4, 4])
        model = make_model([node], [vi("x", [1, 4])], [vi("y", None)], sparse_initializer=[sparse])
    elif where == "subgraph":
        body = helper.make_graph(
            [helper.make_node("MatMul", ["x", "w"], ["t"])], "then", [], [vi("t", None)], initializer=[w]
        )
        other = helper.make_graph([helper.make_node("Identity", ["x"], ["e"])], "else", [], [vi("e", None)])
        node = helper.make_node("If", ["c"], ["y"], then_branch=body, else_branch=other)
        model = make_model([node], [vi("x", [1, 4]), vi("c", [], TensorProto.BOOL)], [vi("y", None)])
    elif where == "function":
        fnode = helper.make_node("Constant", [], ["k"], value=w)
        function = helper.make_function(
            "local",
            "AddK",
            ["a"],
            ["b"],
            [fnode, helper.make_node("MatMul", ["a", "k"], ["b"])],
            [helper.make_opsetid("", 17)],
        )
        call = helper.make_node("AddK", ["x"], ["y"], domain="local")
        model = make_model([call], [vi("x", [1, 4])], [vi("y", None)])
        model.functions.append(function)
        model.opset_import.append(helper.make_opsetid("local", 1))
    elif where in ("Constant sparse_value indices", "sparse_initializer indices", "sparse attribute list"):
        # the values are inline; only the indices point outside (issue 17 item 4)
        indices = _external(numpy_helper.from_array(np.array([0, 5], np.int64), "w_indices"), location)
        sparse = helper.make_sparse_tensor(tensor("w_values", (2,)), indices, [4, 4])
        if where == "Constant sparse_value indices":
            const = helper.make_node("Constant", [], ["w"], sparse_value=sparse)
            model = make_model([const, node], [vi("x", [1, 4])], [vi("y", None)])
        elif where == "sparse_initializer indices":
            model = make_model(
                [node], [vi("x", [1, 4])], [vi("y", None)], [tensor("w", (4, 4))], sparse_initializer=[sparse]
            )
        else:  # a SPARSE_TENSORS attribute of a custom op
            custom = helper.make_node("Holder", [], ["h"], domain="my.domain")
            custom.attribute.append(helper.make_attribute("tables", [sparse]))
            model = make_model([custom, node], [vi("x", [1, 4])], [vi("y", None)], [tensor("w", (4, 4))])
            model.opset_import.append(helper.make_opsetid("my.domain", 1))
    elif where == "subgraph of a function body":
        then = helper.make_graph([helper.make_node("Constant", [], ["t"], value=w)], "then", [], [vi("t", None)])
        other = helper.make_graph(
            [helper.make_node("Constant", [], ["e"], value=tensor("e", (4, 4)))], "else", [], [vi("e", None)]
        )
        body = [
            helper.make_node("If", ["c"], ["k"], then_branch=then, else_branch=other),
            helper.make_node("MatMul", ["a", "k"], ["b"]),
        ]
        function = helper.make_function("local", "Pick", ["a", "c"], ["b"], body, [helper.make_opsetid("", 17)])
        call = helper.make_node("Pick", ["x", "c"], ["y"], domain="local")
        model = make_model([call], [vi("x", [1, 4]), vi("c", [], TensorProto.BOOL)], [vi("y", None)])
        model.functions.append(function)
        model.opset_import.append(helper.make_opsetid("local", 1))
    elif where in ("graphs beside g", "tensor beside g"):
        # an attribute typed GRAPH whose other fields are set too: the walk reads every field
        custom = helper.make_node("Holder", [], ["h"], domain="my.domain")
        innocent = helper.make_graph([], "innocent", [], [])
        attr = helper.make_attribute("body", innocent)
        if where == "graphs beside g":
            attr.graphs.append(helper.make_graph([], "hidden", [], [], initializer=[w]))
        else:
            attr.t.CopyFrom(w)
        custom.attribute.append(attr)
        model = make_model([custom, node], [vi("x", [1, 4])], [vi("y", None)], [tensor("w", (4, 4))])
        model.opset_import.append(helper.make_opsetid("my.domain", 1))
    elif where == "training_info":
        model = make_model([node], [vi("x", [1, 4])], [vi("y", None)], [tensor("w", (4, 4))])
        info = model.training_info.add()
        info.initialization.CopyFrom(helper.make_graph([], "init", [], [], initializer=[w]))
    path = folder / "model.onnx"
    onnx.save(model, path)
    return str(path)


@pytest.fixture
def layout(tmp_path):
    """model/ holds the model; secret.bin lies outside it."""
    folder = tmp_path / "model"
    folder.mkdir()
    secret = tmp_path / "secret.bin"
    secret.write_bytes(b"\0" * 64)
    return folder, secret


@pytest.mark.parametrize(
    "kind", ["dotdot", "nested dotdot", "absolute", "/dev/zero", "symlinked file", "symlinked folder", "hardlink"]
)
def test_unsafe_locations_exit_4_and_nothing_outside_is_opened(capsys, layout, kind):
    folder, secret = layout
    location = {
        "dotdot": "../secret.bin",
        "nested dotdot": "a/../../secret.bin",
        "absolute": str(secret),
        "/dev/zero": "/dev/zero",
        "symlinked file": "link.bin",
        "symlinked folder": "sub/secret.bin",
        "hardlink": "hard.bin",
    }[kind]
    if kind == "symlinked file":
        os.symlink(secret, folder / "link.bin")
    elif kind == "symlinked folder":
        os.symlink(secret.parent, folder / "sub")
    elif kind == "hardlink":
        os.link(secret, folder / "hard.bin")
    path = _model_with_external(folder, location)
    OPENED.clear()
    _WATCHING[0] = True
    try:
        code, out, err = run(capsys, "report", path, "--verify")
    finally:
        _WATCHING[0] = False
    assert code == 4 and out == ""
    assert one_line(err).startswith("modelaudit: error: tensor 'w' (initializer): external data")
    assert str(secret.resolve()) not in OPENED and "/dev/zero" not in OPENED


@pytest.mark.parametrize(
    "where",
    [
        "Constant",
        "sparse_initializer",
        "subgraph",
        "function",
        "training_info",
        "Constant sparse_value indices",
        "sparse_initializer indices",
        "sparse attribute list",
        "subgraph of a function body",
        "graphs beside g",
        "tensor beside g",
    ],
)
def test_every_place_a_location_can_hide_is_walked(capsys, layout, where):
    folder, secret = layout
    path = _model_with_external(folder, "../secret.bin", where)
    code, _, err = run(capsys, "report", path)
    assert code == 4 and "leaves the model's folder" in one_line(err)


# 8: broken external files: counting works, reading fails with exit 3
@pytest.mark.parametrize(
    "problem,message",
    [
        ("missing", "external data file 'w.bin' is missing"),
        ("fifo", "external data 'w.bin' is not a regular file"),
        ("directory", "external data 'w.bin' is not a regular file"),
        ("offset past end", "shorter than offset 1,000 + length 64"),
        ("negative offset", "external data offset -8 is negative"),
        ("length 2^62", f"shorter than offset 0 + length {2**62:,}"),
        ("short file", "external data holds 16 bytes, its dims need 64"),
    ],
)
def test_broken_external_files(capsys, layout, problem, message):
    folder, _ = layout
    target = folder / "w.bin"
    if problem == "fifo":
        os.mkfifo(target)
    elif problem == "directory":
        target.mkdir()
    elif problem != "missing":
        target.write_bytes(b"\0" * (16 if problem == "short file" else 64))
    w = _external(tensor("w", (4, 4)), "w.bin")
    extra = {
        "offset past end": ("offset", "1000"),
        "negative offset": ("offset", "-8"),
        "length 2^62": ("length", str(2**62)),
        "short file": ("length", "16"),
    }.get(problem)
    if extra:
        entry = w.external_data.add()
        entry.key, entry.value = extra
    if problem == "offset past end":
        entry = w.external_data.add()
        entry.key, entry.value = "length", "64"
    model = make_model([helper.make_node("MatMul", ["x", "w"], ["y"])], [vi("x", [1, 4])], [vi("y", None)], [w])
    path = folder / "m.onnx"
    onnx.save(model, path)
    assert modelaudit.audit(path).totals.params == 16  # counting needs no bytes
    code, out, err = run(capsys, "report", path, "--verify")
    assert code == 3 and out == ""
    assert message in one_line(err)


# 9-11: structure
def test_self_loop_is_a_cycle(capsys, tmp_path):
    model = make_model([helper.make_node("Add", ["x", "y"], ["y"], name="selfish")], [vi("x", [2])], [vi("y", None)])
    path = tmp_path / "loop.onnx"
    onnx.save(model, path)
    code, _, err = run(capsys, "report", path)
    assert code == 3 and one_line(err) == "modelaudit: error: the graph has a cycle through #0 Add 'selfish'"


def _nested_if(depth: int) -> onnx.ModelProto:
    g = helper.make_graph([helper.make_node("Relu", ["x"], ["y0"])], "leaf", [], [vi("y0", None)])
    for d in range(1, depth + 1):
        other = helper.make_graph([helper.make_node("Neg", ["x"], [f"n{d}"])], f"e{d}", [], [vi(f"n{d}", None)])
        node = helper.make_node("If", ["c"], [f"y{d}"], then_branch=g, else_branch=other, name=f"if{d}")
        g = helper.make_graph([node], f"g{d}", [], [vi(f"y{d}", None)])
    return make_model(list(g.node), [vi("x", [2]), vi("c", [], TensorProto.BOOL)], [vi(f"y{depth}", None)])


def test_subgraphs_31_deep_work_and_32_are_refused(capsys, tmp_path):
    report = modelaudit.audit(_nested_if(31))
    assert report.totals.flops == 2 and len(report.rows) == 63
    path = tmp_path / "deep.onnx"
    onnx.save(_nested_if(32), path)
    code, _, err = run(capsys, "report", path)
    assert code == 3 and "subgraphs are nested 32 or more deep" in one_line(err)


def test_recursive_local_function(capsys, tmp_path):
    f = helper.make_function(
        "local",
        "F",
        ["a"],
        ["b"],
        [helper.make_node("F", ["a"], ["b"], domain="local")],
        [helper.make_opsetid("local", 1)],
    )
    model = make_model([helper.make_node("F", ["x"], ["y"], domain="local")], [vi("x", [2])], [vi("y", None)])
    model.functions.append(f)
    model.opset_import.append(helper.make_opsetid("local", 1))
    path = tmp_path / "rec.onnx"
    onnx.save(model, path)
    code, _, err = run(capsys, "report", path)
    assert code == 3 and one_line(err) == (
        "modelaudit: error: local function local::F calls itself "
        "(local::F → local::F); local functions must not be recursive"
    )


@pytest.mark.parametrize(
    "build,message",
    [
        (
            lambda: make_model(
                [helper.make_node("MatMul", ["x", "w"], ["y"])],
                [vi("x", [1, 4])],
                [vi("y", None)],
                [tensor("w", (4, 4)), tensor("w", (4, 4))],
            ),
            "initializer 'w' is defined twice",
        ),
        (
            lambda: make_model([helper.make_node("Relu", ["x"], ["y"])], [vi("x", [2]), vi("", [2])], [vi("y", None)]),
            "graph input #1 has no name",
        ),
        (
            lambda: make_model([helper.make_node("Relu", ["x"], [""])], [vi("x", [2])], [vi("x", None)]),
            "node #0 Relu has only empty output names",
        ),
        (
            lambda: make_model(
                [helper.make_node("MatMul", ["x", "w"], ["y"])],
                [vi("x", [1, 4])],
                [vi("y", None)],
                [onnx.TensorProto(name="w", data_type=1, dims=[4, -5])],
            ),
            "initializer 'w' has a negative dim [4, -5]",
        ),
    ],
)
def test_malformed_structure(build, message):
    with pytest.raises(modelaudit.InvalidModelError) as info:
        modelaudit.audit(build())
    assert info.value.one_line() == message


def test_duplicate_node_names_are_keyed_by_index():
    nodes = [helper.make_node("Relu", ["x"], ["a"], name="same"), helper.make_node("Neg", ["a"], ["y"], name="same")]
    report = modelaudit.audit(make_model(nodes, [vi("x", [3])], [vi("y", None)]))
    assert [(r.index, r.name, r.flops) for r in report.rows] == [(0, "same", 3), (1, "same", 3)]


# 12-13: odd versions, types and dims
@pytest.mark.parametrize("change", ["opset 999", "ir_version 0", "ir_version 99", "element type 999"])
def test_odd_versions_and_types_still_count_params(change):
    model = make_model(
        [helper.make_node("MatMul", ["x", "w"], ["y"]), helper.make_node("Relu", ["y"], ["z"])],
        [vi("x", [1, 4])],
        [vi("z", None)],
        [tensor("w", (4, 8))],
    )
    if change == "opset 999":
        model.opset_import[0].version = 999
    elif change.startswith("ir_version"):
        model.ir_version = int(change.split()[1])
    else:
        model.graph.input[0].type.tensor_type.elem_type = 999
    report = modelaudit.audit(model)
    assert report.totals.params == 4 * 8


def test_huge_dims_are_exact_python_ints():
    big = 2**62
    model = make_model(
        [helper.make_node("MatMul", ["x", "w"], ["y"])], [vi("x", [big, 4])], [vi("y", None)], [tensor("w", (4, 8))]
    )
    report = modelaudit.audit(model)
    assert report.rows[0].macs == big * 4 * 8  # np.prod would overflow to a wrong number
    assert np.prod([big, 4, 8]) != big * 4 * 8
    model = make_model([helper.make_node("Relu", ["x"], ["y"])], [vi("x", [2**40, 2**40])], [vi("y", None)])
    assert modelaudit.audit(model).rows[0].flops == 2**80


def test_zero_and_negative_declared_dims():
    model = make_model([helper.make_node("Relu", ["x"], ["y"])], [vi("x", [0, 4])], [vi("y", None)])
    assert modelaudit.audit(model).rows[0].flops == 0
    model = make_model([helper.make_node("Relu", ["x"], ["y"])], [vi("x", [-5, 4])], [vi("y", None)])
    row = modelaudit.audit(model).rows[0]
    assert row.flops is None and row.status == "unresolved"  # a negative dim is unknown, never guessed


# 14: runtime bombs
def test_constant_of_shape_bomb_is_fenced(capsys, tmp_path):
    """A shape only known at run time: the child's address-space limit stops it, exit 5."""
    nodes = [
        helper.make_node("ConstantOfShape", ["shape"], ["big"], value=helper.make_tensor("v", 1, [1], [1.0])),
        helper.make_node("ReduceSum", ["big"], ["y"], keepdims=0),
    ]
    model = make_model(nodes, [vi("shape", [2], TensorProto.INT64)], [vi("y", None)])
    path = tmp_path / "bomb.onnx"
    onnx.save(model, path)
    np.save(tmp_path / "shape.npy", np.array([2**17, 2**17], np.int64))
    code, out, err = run(
        capsys, "report", path, "--verify", "--input-data", tmp_path / "shape.npy", "--max-memory", "256MiB"
    )
    assert code == 5 and out == ""
    assert one_line(err).startswith("modelaudit: error: onnxruntime needed more than --max-memory")


# 15: hostile names in every format
def test_hostile_names_escaped_and_truncated(capsys, tmp_path):
    name = "\x1b[2J\n::error::owned\r" + "N" * (10 * 2**20)
    model = make_model([helper.make_node("Relu", ["x"], ["y"], name=name)], [vi("x", [2])], [vi("y", None)])
    path = tmp_path / "names.onnx"
    onnx.save(model, path)
    for fmt in ("text", "markdown", "json", "csv"):
        code, out, _ = run(capsys, "report", path, "--format", fmt)
        assert code == 0 and "\x1b" not in out and "\n::error::" not in out and "\r" not in out
        assert len(out) < 200_000, fmt


# 16: a 200,000-node chain finishes
@pytest.mark.slow
def test_200k_node_chain(tmp_path):
    n = 200_000
    nodes = [helper.make_node("Relu" if i % 2 else "Neg", [f"t{i}"], [f"t{i + 1}"]) for i in range(n)]
    model = make_model(nodes, [vi("t0", [1, 16])], [vi(f"t{n}", None)])
    report = modelaudit.audit(model)
    assert report.totals.nodes == n and report.totals.flops == n * 16


def test_model_reached_through_a_symlink_reads_beside_the_link(capsys, tmp_path):
    """The model's folder is the folder the user named: before, the link was resolved and --verify read
    the target folder's w.bin (issue 17 item 6)."""
    named, target = tmp_path / "named", tmp_path / "target"
    named.mkdir()
    target.mkdir()
    weights = np.ones((4, 4), np.float32)
    (target / "w.bin").write_bytes(weights.tobytes())
    w = _external(tensor("w", (4, 4)), "w.bin")
    model = make_model([helper.make_node("MatMul", ["x", "w"], ["y"])], [vi("x", [1, 4])], [vi("y", None)], [w])
    onnx.save(model, target / "model.onnx")
    os.symlink(target / "model.onnx", named / "model.onnx")
    OPENED.clear()
    _WATCHING[0] = True
    try:
        code, _, err = run(capsys, "report", named / "model.onnx", "--verify")
    finally:
        _WATCHING[0] = False
    assert code == 3 and "external data file 'w.bin' is missing" in one_line(err)
    assert str((target / "w.bin").resolve()) not in OPENED
    (named / "w.bin").write_bytes(weights.tobytes())  # beside the link: read from there
    code, out, err = run(capsys, "report", named / "model.onnx", "--verify")
    assert code == 0 and "verified" in out, err


def _wire(field: int, payload: bytes) -> bytes:
    def varint(n):
        out = b""
        while True:
            low, n = n & 0x7F, n >> 7
            if not n:
                return out + bytes([low])
            out += bytes([low | 0x80])

    return varint(field << 3 | 2) + varint(len(payload)) + payload


def test_nesting_past_protobufs_limit_names_the_depth(capsys, tmp_path):
    """40 nested If levels, written at the wire level (protobuf's API refuses to build them): the
    message blamed corruption; it names the depth limit (issue 17 item 6)."""
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y0"])], "leaf", [], [vi("y0", None)]
    ).SerializeToString()
    for d in range(1, 41):
        other = helper.make_graph([helper.make_node("Neg", ["x"], [f"n{d}"])], f"e{d}", [], [vi(f"n{d}", None)])
        node = helper.make_node("If", ["c"], [f"y{d}"], name=f"if{d}").SerializeToString()
        for name, body in (("then_branch", graph), ("else_branch", other.SerializeToString())):
            attr = onnx.AttributeProto(name=name, type=onnx.AttributeProto.GRAPH).SerializeToString()
            node += _wire(5, attr + _wire(6, body))
        graph = onnx.GraphProto(name=f"g{d}", output=[vi(f"y{d}", None)]).SerializeToString() + _wire(1, node)
    model = helper.make_model(onnx.GraphProto(), opset_imports=[helper.make_opsetid("", 17)])
    model.ClearField("graph")
    path = tmp_path / "deep40.onnx"
    path.write_bytes(model.SerializeToString() + _wire(7, graph))
    code, _, err = run(capsys, "report", path)
    assert code == 3 and "nested past protobuf's depth limit of 100" in one_line(err)
    assert "modelaudit audits subgraphs up to 31 deep" in err and "corrupt" not in err
