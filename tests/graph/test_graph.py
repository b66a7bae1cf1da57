"""Loading: topological walk, clear errors for what is not a usable model."""

from __future__ import annotations

import pytest
from conftest import SAMPLES, make_model, tensor, vi
from onnx import helper

import modelaudit
from modelaudit import InvalidModelError, UsageError
from modelaudit.graph.model import load


def _chain():
    return [
        helper.make_node("Relu", ["x"], ["a"], name="first"),
        helper.make_node("Neg", ["a"], ["b"], name="second"),
        helper.make_node("Abs", ["b"], ["y"], name="third"),
    ]


def test_unsorted_file_is_walked_in_topological_order():
    first, second, third = _chain()
    model = make_model([third, first, second], [vi("x", [2, 3])], [vi("y", None)])
    report = modelaudit.audit(model)
    assert [r.name for r in report.rows] == ["first", "second", "third"]
    assert all(r.outputs == ["2x3"] for r in report.rows)
    assert any("not topological" in w for w in report.warnings)


def test_cycle_is_an_invalid_model_naming_a_node():
    nodes = [
        helper.make_node("Relu", ["x", "c"], ["a"], name="loop_a"),
        helper.make_node("Neg", ["a"], ["c"], name="loop_b"),
    ]
    model = make_model(nodes, [vi("x", [2])], [vi("c", None)])
    with pytest.raises(InvalidModelError) as info:
        modelaudit.audit(model)
    assert info.value.exit_code == 3
    assert "cycle" in info.value.message and "loop_a" in info.value.message


def test_missing_input_is_reported_as_truncated_or_inconsistent():
    model = make_model([helper.make_node("Add", ["x", "ghost"], ["y"], name="adder")], [vi("x", [2])], [vi("y", None)])
    with pytest.raises(InvalidModelError, match="reads tensor 'ghost'.*truncated or inconsistent"):
        modelaudit.audit(model)


def test_tensor_produced_twice():
    nodes = [helper.make_node("Relu", ["x"], ["y"], name="one"), helper.make_node("Neg", ["x"], ["y"], name="two")]
    with pytest.raises(InvalidModelError, match="tensor 'y' is produced twice"):
        modelaudit.audit(make_model(nodes, [vi("x", [2])], [vi("y", None)]))


def test_unknown_op_is_uncounted_never_zero():
    nodes = [
        helper.make_node("Relu", ["x"], ["a"]),
        helper.make_node("Frobnicate", ["a"], ["y"], domain="com.example", name="mystery"),
    ]
    model = make_model(nodes, [vi("x", [4])], [vi("y", None)])
    model.opset_import.append(helper.make_opsetid("com.example", 1))
    report = modelaudit.audit(model)
    row = report.rows[-1]
    assert row.status == "uncounted" and row.macs is None and row.flops is None
    assert report.uncounted == {"com.example:Frobnicate": 1}
    assert not report.totals.macs.complete


@pytest.mark.parametrize(
    "content,message",
    [
        (b"", "is empty (0 bytes), not an ONNX model"),
        (
            b"version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 123\n",
            "is a Git LFS pointer, not the model (run git lfs pull)",
        ),
        (b"<!DOCTYPE html><html><body>model</body></html>", "is an HTML/XML page, not an ONNX model"),
        (b"\xff\xfe\x00garbage" * 10, "is not a valid ONNX model (protobuf parse failed"),
    ],
)
def test_files_that_are_not_models(tmp_path, content, message):
    path = tmp_path / "bad.onnx"
    path.write_bytes(content)
    with pytest.raises(InvalidModelError) as info:
        modelaudit.audit(path)
    assert message in info.value.one_line()
    assert info.value.exit_code == 3


def test_truncated_model(tmp_path):
    data = (SAMPLES / "mobilenet_v2_block.onnx").read_bytes()
    for cut in (len(data) - 1, len(data) // 2):
        path = tmp_path / "cut.onnx"
        path.write_bytes(data[:cut])
        with pytest.raises(InvalidModelError):
            modelaudit.audit(path)


def test_directory_and_missing_file(tmp_path):
    with pytest.raises(InvalidModelError, match="is a directory"):
        modelaudit.audit(tmp_path)
    with pytest.raises(UsageError, match="no such file"):
        modelaudit.audit(tmp_path / "absent.onnx")


def test_binary_model_with_another_extension_still_loads(tmp_path):
    path = tmp_path / "model.json"
    path.write_bytes((SAMPLES / "conv3x3.onnx").read_bytes())
    assert modelaudit.audit(path).totals.params == 3584


def test_subgraphs_of_custom_ops_are_walked_and_the_dag_is_built_on_demand():
    """A standard op has subgraphs only where its schema declares them (If, Loop, Scan,
    SequenceMap); a custom op's graph attributes are read from the node itself."""
    inner = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["t"], name="inner_mm")],
        "body",
        [],
        [vi("t", None)],
        initializer=[tensor("w", (4, 3))],
    )
    nodes = [
        helper.make_node("Relu", ["x"], ["a"], name="first"),
        helper.make_node("Decode", ["a"], ["y"], domain="com.example", name="custom", decoder=inner),
    ]
    model = make_model(nodes, [vi("x", [2, 4])], [vi("y", None)])
    model.opset_import.append(helper.make_opsetid("com.example", 1))
    mg = load(model)
    assert [v.has_graph for v in mg.nodes] == [False, True]
    assert "dag" not in vars(mg)  # the audit walks mg.order; the networkx graph waits until asked for
    assert list(mg.dag.edges) == [(0, 1)] and "dag" in vars(mg)
    report = modelaudit.audit(model)
    assert [r.name for r in report.rows] == ["first", "custom", "custom/decoder/inner_mm"]
    assert report.rows[-1].macs == 2 * 4 * 3 and report.totals.params == 4 * 3


def test_standard_ops_with_subgraphs_are_those_whose_schemas_declare_graph_attributes():
    """NodeView asks an ai.onnx op's newest schema; every older version must agree with it."""
    from onnx import AttributeProto, defs

    from modelaudit.graph.links import _schema_has_graph

    history: dict[str, bool] = {}
    for schema in defs.get_all_schemas_with_history():
        if schema.domain in ("", "ai.onnx"):
            graphs = any(a.type in (AttributeProto.GRAPH, AttributeProto.GRAPHS) for a in schema.attributes.values())
            history[schema.name] = history.get(schema.name, False) or graphs
    assert {op for op, graphs in history.items() if graphs} >= {"If", "Loop", "Scan"}
    assert all(_schema_has_graph(op) == graphs for op, graphs in history.items())
    assert _schema_has_graph("Frobnicate") is None  # unknown to onnx: its attributes are read instead


def test_shared_names_are_one_object_each_and_unchanged():
    from conftest import SAMPLES
    from onnx import load as onnx_load

    from modelaudit.graph.links import NodeView, share_names

    model = onnx_load(SAMPLES / "transformer_block.onnx")
    views = [NodeView(n) for n in model.graph.node]
    before = [(v.op_type, list(v.input), list(v.output)) for v in views]
    share_names(views)
    assert [(v.op_type, v.input, v.output) for v in views] == before
    by_name: dict[str, int] = {}
    for v in views:
        for name in [v.op_type, *v.input, *v.output]:
            assert by_name.setdefault(name, id(name)) == id(name)  # every equal name: the same object
    producer = {o: v for v in views for o in v.output}
    reads = [(n, producer[n]) for v in views for n in v.input if n in producer]
    assert reads and all(n is next(o for o in p.output if o == n) for n, p in reads)
