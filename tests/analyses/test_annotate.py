"""`modelaudit annotate`: a copy Netron shows with shapes and costs, accepted by onnx.checker."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import onnx
import pytest
from conftest import ROOT, SAMPLES, make_model, tensor, vi
from onnx import TensorProto, helper, numpy_helper

import modelaudit
from modelaudit.cli.main import main

V2 = SAMPLES / "mobilenet_v2.onnx"


def _dims(value_info) -> list:
    return [
        d.dim_value if d.HasField("dim_value") else d.dim_param or None for d in value_info.type.tensor_type.shape.dim
    ]


def test_mobilenet_v2_copy_carries_every_shape_and_cost(tmp_path, capsys):
    out = tmp_path / "annotated.onnx"
    assert main(["annotate", str(V2), "-o", str(out)]) == 0
    assert "151 inferred tensor shapes" in capsys.readouterr().err
    annotated = onnx.load(out)
    onnx.checker.check_model(annotated, full_check=True)
    original = onnx.load(V2)
    assert list(annotated.graph.initializer) == list(original.graph.initializer)  # weights untouched
    assert [n.op_type for n in annotated.graph.node] == [n.op_type for n in original.graph.node]
    # every tensor a node writes, except the graph output, has its inferred shape in value_info
    shapes = {v.name: _dims(v) for v in annotated.graph.value_info}
    report = modelaudit.audit(V2)
    produced = [(o, r) for n, r in zip(original.graph.node, report.rows) for o in n.output]
    assert len(shapes) == len(produced) - 1 == 151
    for name, row in produced[:-1]:
        assert "x".join(map(str, shapes[name])) == row.outputs[0]
    first = annotated.graph.node[0]
    assert first.doc_string == "modelaudit: params 864, MACs 10,838,016, FLOPs 21,676,032; 112*112*(3*3*3)*32 [counted]"
    assert {p.key: p.value for p in first.metadata_props} == {
        "modelaudit.params": str((3 * 3 * 3) * 32),
        "modelaudit.macs": f"{112 * 112 * (3 * 3 * 3) * 32:,}",
        "modelaudit.flops": "21,676,032",
        "modelaudit.formula": "112*112*(3*3*3)*32",
        "modelaudit.status": "counted",
    }
    import onnxruntime

    onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])  # still runs


def test_symbolic_dims_keep_their_names(tmp_path):
    out = tmp_path / "block.onnx"
    assert main(["annotate", str(SAMPLES / "transformer_block.onnx"), "-o", str(out)]) == 0
    shapes = {v.name: _dims(v) for v in onnx.load(out).graph.value_info}
    assert shapes["/attn/scores/MatMul_output_0"] == ["batch", 4, "seq", "seq"]
    assert shapes["/ffn/fc1/Add_output_0"] == ["batch", "seq", 256]


def _external_model(folder):
    """A MatMul whose 64×64 weight lives in weights.bin beside the model."""
    w = numpy_helper.from_array(np.arange(64 * 64, dtype=np.float32).reshape(64, 64), "w")
    model = make_model(
        [helper.make_node("MatMul", ["x", "w"], ["h"], name="mm"), helper.make_node("Relu", ["h"], ["y"], name="relu")],
        [vi("x", [1, 64])],
        [vi("y", None)],
        initializers=[w],
    )
    onnx.save(
        model,
        folder / "model.onnx",
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="weights.bin",
        size_threshold=0,
    )
    return folder / "model.onnx"


def test_external_data_stays_referenced_and_unread(tmp_path):
    path = _external_model(tmp_path)
    out = tmp_path / "annotated.onnx"
    # in a fresh interpreter with an audit hook: the weights file is never opened
    code = f"""
import os, sys
opened = []
sys.addaudithook(lambda event, args: opened.append(os.fsdecode(args[0])) if event == "open" and args
                 and isinstance(args[0], (str, bytes, os.PathLike)) else None)
from modelaudit.cli.main import main
assert main(["annotate", {str(path)!r}, "-o", {str(out)!r}]) == 0
assert any(p.endswith("model.onnx") for p in opened), opened  # the hook sees the reads
assert not [p for p in opened if p.endswith("weights.bin")], opened
"""
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    annotated = onnx.load(out, load_external_data=False)
    (w,) = annotated.graph.initializer
    assert w.data_location == onnx.TensorProto.EXTERNAL and not w.raw_data
    assert {e.key: e.value for e in w.external_data}["location"] == "weights.bin"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["annotated.onnx", "model.onnx", "weights.bin"]  # no copy
    onnx.checker.check_model(str(out), full_check=True)  # the reference resolves beside the copy
    assert annotated.graph.node[0].doc_string.startswith(f"modelaudit: params {64 * 64:,}, MACs {64 * 64:,}")


def test_external_data_copy_elsewhere_is_refused(tmp_path, capsys):
    path = _external_model(tmp_path)
    (tmp_path / "out").mkdir()
    assert main(["annotate", str(path), "-o", str(tmp_path / "out" / "a.onnx")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "write the copy beside the model" in err


def test_annotating_onto_the_model_itself_is_refused(tmp_path, capsys):
    model = make_model([helper.make_node("Relu", ["x"], ["y"], name="r")], [vi("x", [2])], [vi("y", None)])
    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    before = path.read_bytes()
    assert main(["annotate", str(path), "-o", str(path)]) == 2
    assert "annotate writes a copy" in capsys.readouterr().err and path.read_bytes() == before


@pytest.mark.parametrize("bad", [b"", b"<html>not a model</html>"])
def test_not_a_model_is_exit_3(tmp_path, capsys, bad):
    path = tmp_path / "bad.onnx"
    path.write_bytes(bad)
    assert main(["annotate", str(path), "-o", str(tmp_path / "out.onnx")]) == 3
    assert not (tmp_path / "out.onnx").exists()


def test_loop_body_nodes_carry_their_costs(tmp_path):
    from builders import loop_model

    path, out = tmp_path / "loop.onnx", tmp_path / "annotated.onnx"
    model = loop_model(10)
    model.graph.output[0].CopyFrom(vi("h_final", [1, 8]))  # the checker wants a declared output shape
    onnx.save(model, path)
    assert main(["annotate", str(path), "-o", str(out)]) == 0
    annotated = onnx.load(out)
    onnx.checker.check_model(annotated, full_check=True)
    (loop,) = annotated.graph.node
    assert loop.doc_string.endswith(f"; body {8 * 8} MACs × 10 (trip count) [counted]")  # its rows carry the costs
    step_mm = loop.attribute[0].g.node[0]
    # the body's MatMul: 1×8 by 8×8 per iteration, ten iterations
    assert step_mm.doc_string.startswith(f"modelaudit: params {8 * 8:,}, MACs {10 * 1 * 8 * 8:,}")
    assert {p.key: p.value for p in step_mm.metadata_props}["modelaudit.formula"] == "1*8*8"


def test_value_info_the_file_gave_is_kept_or_replaced_by_the_inferred_shape(tmp_path):
    nodes = [helper.make_node("Relu", ["x"], ["a"], name="relu"), helper.make_node("Neg", ["a"], ["y"], name="neg")]
    # an entry for `a` without a shape, and one for a name no node writes
    model = make_model(nodes, [vi("x", [2, 3])], [vi("y", [2, 3])], value_info=[vi("a", None), vi("unrelated", [5])])
    path, out = tmp_path / "m.onnx", tmp_path / "annotated.onnx"
    onnx.save(model, path)
    assert main(["annotate", str(path), "-o", str(out)]) == 0
    shapes = {v.name: _dims(v) for v in onnx.load(out).graph.value_info}
    assert shapes == {"a": [2, 3], "unrelated": [5]}


def test_output_onto_the_external_data_file_is_refused(tmp_path, capsys):
    """`-o weights.bin` beside the model overwrote the weights the model references."""
    path = _external_model(tmp_path)
    before = (tmp_path / "weights.bin").read_bytes()
    assert main(["annotate", str(path), "-o", str(tmp_path / "weights.bin")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "holds the model's external data" in err
    assert (tmp_path / "weights.bin").read_bytes() == before


def test_output_hard_linked_to_the_model_is_refused(tmp_path, capsys):
    """A hard link resolves to another path but is the same file: writing it rewrote the model."""
    model = make_model([helper.make_node("Relu", ["x"], ["y"], name="r")], [vi("x", [2])], [vi("y", None)])
    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    before = path.read_bytes()
    (tmp_path / "h.onnx").hardlink_to(path)
    assert main(["annotate", str(path), "-o", str(tmp_path / "h.onnx")]) == 2
    assert "annotate writes a copy" in capsys.readouterr().err and path.read_bytes() == before


@pytest.mark.parametrize("target_exists", [True, False])
def test_output_that_is_a_symlink_is_never_written_through(tmp_path, capsys, target_exists):
    model = make_model([helper.make_node("Relu", ["x"], ["y"], name="r")], [vi("x", [2])], [vi("y", None)])
    (tmp_path / "model").mkdir()
    path = tmp_path / "model" / "m.onnx"
    onnx.save(model, path)
    victim = tmp_path / "victim"
    if target_exists:
        victim.write_text("kept")
    (tmp_path / "model" / "out.onnx").symlink_to(victim)
    assert main(["annotate", str(path), "-o", str(tmp_path / "model" / "out.onnx")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "symbolic link" in err
    assert (victim.read_text() == "kept") if target_exists else not victim.exists()


def test_external_data_in_a_constant_node_also_keeps_the_copy_beside_the_model(tmp_path, capsys):
    """Only initializers were looked at: a Constant's external tensor let the copy go elsewhere,
    where its relative location no longer names the weights."""
    value = onnx.TensorProto(name="c", data_type=onnx.TensorProto.FLOAT, dims=[4])
    value.data_location = onnx.TensorProto.EXTERNAL  # onnx.save leaves Constant values inline: by hand
    value.external_data.add(key="location", value="c.bin")
    (tmp_path / "c.bin").write_bytes(np.ones(4, dtype=np.float32).tobytes())
    model = make_model(
        [
            helper.make_node("Constant", [], ["c"], name="k", value=value),
            helper.make_node("Add", ["x", "c"], ["y"], name="add"),
        ],
        [vi("x", [4])],
        [vi("y", None)],
    )
    onnx.save(model, tmp_path / "m.onnx")
    (tmp_path / "out").mkdir()
    assert main(["annotate", str(tmp_path / "m.onnx"), "-o", str(tmp_path / "out" / "a.onnx")]) == 2
    assert "write the copy beside the model" in capsys.readouterr().err
    assert not (tmp_path / "out" / "a.onnx").exists()


def test_subgraph_tensors_get_their_inferred_shapes_and_the_copy_still_runs(tmp_path):
    """If branches and Loop bodies have their own value_info: the shapes inferred inside them are
    written there too (a body's per-iteration shapes), and the copy runs as the model does."""
    import onnxruntime
    from builders import loop_model

    def branch(tag: str, op: str):
        return helper.make_graph(
            [helper.make_node("MatMul", ["x", "w"], [f"{tag}_mm"]), helper.make_node(op, [f"{tag}_mm"], [f"{tag}_y"])],
            tag,
            [],
            [vi(f"{tag}_y", None)],
        )

    choose = helper.make_node("If", ["c"], ["y"], then_branch=branch("then", "Relu"), else_branch=branch("else", "Neg"))
    branches = make_model(
        [choose], [vi("x", [2, 4]), vi("c", [], TensorProto.BOOL)], [vi("y", [2, 3])], [tensor("w", (4, 3))]
    )
    looped = loop_model(10)
    looped.graph.output[0].CopyFrom(vi("h_final", [1, 8]))
    feeds = {
        "if": {"x": np.ones((2, 4), np.float32), "c": np.array(False)},
        "loop": {"h0": np.ones((1, 8), np.float32)},
    }
    # a branch's own outputs were declared without a shape: they get the inferred one, as the graph's do
    for name, model, expected in (
        ("if", branches, {"then_mm": [2, 3], "else_mm": [2, 3], "then_y": [2, 3], "else_y": [2, 3]}),
        ("loop", looped, {"h_mm": [1, 8], "cond_out": [], "h_out": [1, 8]}),
    ):
        path, out = tmp_path / f"{name}.onnx", tmp_path / f"{name}.annotated.onnx"
        onnx.save(model, path)
        assert main(["annotate", str(path), "-o", str(out)]) == 0
        annotated = onnx.load(out)
        onnx.checker.check_model(annotated, full_check=True)
        inside = {
            v.name: _dims(v)
            for node in annotated.graph.node
            for a in node.attribute
            if a.type == onnx.AttributeProto.GRAPH
            for v in [*a.g.value_info, *a.g.output]
        }
        assert inside == expected
        runs = [
            onnxruntime.InferenceSession(str(p), providers=["CPUExecutionProvider"]).run(None, feeds[name])
            for p in (path, out)
        ]
        assert all(np.array_equal(a, b) for a, b in zip(*runs))


def test_a_sequence_tensor_keeps_no_value_info_and_the_copy_loads(tmp_path):
    """A tensor that is a sequence (or an optional) has no element type to write: it once got a
    tensor value_info of type 0, and onnxruntime refused the copy ("Invalid tensor data type 0";
    onnx's expanded SequenceMap test models, 6 of them)."""
    import onnxruntime

    nodes = [
        helper.make_node("SequenceConstruct", ["x", "x"], ["seq"]),
        helper.make_node("SequenceAt", ["seq", "zero"], ["y"]),
    ]
    model = make_model(
        nodes, [vi("x", [2, 3])], [vi("y", [2, 3])], [numpy_helper.from_array(np.array(0, np.int64), "zero")]
    )
    path, out = tmp_path / "seq.onnx", tmp_path / "annotated.onnx"
    onnx.save(model, path)
    assert main(["annotate", str(path), "-o", str(out)]) == 0
    assert "seq" not in {v.name for v in onnx.load(out).graph.value_info}
    feeds = {"x": np.arange(6, dtype=np.float32).reshape(2, 3)}
    runs = [
        onnxruntime.InferenceSession(str(p), providers=["CPUExecutionProvider"]).run(None, feeds) for p in (path, out)
    ]
    assert np.array_equal(runs[0][0], runs[1][0])
