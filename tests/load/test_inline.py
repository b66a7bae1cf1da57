"""Local functions: inlined for costing, scoped by their call, and an exponential expansion refused."""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import modelaudit
from modelaudit.errors import ResourceLimitError
from modelaudit.load.inline import MAX_INLINED_NODES, inline_functions, inlined_size

OPSETS = [helper.make_opsetid("", 17), helper.make_opsetid("local", 1)]
IR = 10  # what every onnxruntime since 1.20 runs (onnx writes its newest, which Python 3.10's onnxruntime refuses)


def _conv_block() -> onnx.FunctionProto:
    """conv(x, w, b) then LeakyRelu(alpha = the call's `slope`, default 0.1): a function with an
    attribute reference and a default."""
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv", pads=[1, 1, 1, 1]),
        helper.make_node("LeakyRelu", ["c"], ["y"], name="act"),
    ]
    nodes[1].attribute.append(onnx.AttributeProto(name="alpha", ref_attr_name="slope", type=onnx.AttributeProto.FLOAT))
    return helper.make_function(
        "local",
        "ConvBlock",
        ["x", "w", "b"],
        ["y"],
        nodes,
        OPSETS,
        attributes=[],
        attribute_protos=[helper.make_attribute("slope", 0.1)],
    )


def _two_blocks() -> onnx.FunctionProto:
    """Calls ConvBlock twice (a nested call), the second with slope 0.2."""
    nodes = [
        helper.make_node("ConvBlock", ["x", "w1", "b1"], ["h"], domain="local", name="first"),
        helper.make_node("ConvBlock", ["h", "w2", "b2"], ["y"], domain="local", name="second", slope=0.2),
    ]
    return helper.make_function("local", "TwoBlocks", ["x", "w1", "b1", "w2", "b2"], ["y"], nodes, OPSETS)


def _model() -> onnx.ModelProto:
    rng = np.random.default_rng(0)
    inits = [
        numpy_helper.from_array(rng.standard_normal(s).astype(np.float32), n)
        for n, s in (("w1", (8, 3, 3, 3)), ("b1", (8,)), ("w2", (16, 8, 3, 3)), ("b2", (16,)))
    ]
    graph = helper.make_graph(
        [helper.make_node("TwoBlocks", ["x", "w1", "b1", "w2", "b2"], ["y"], domain="local", name="/body/TwoBlocks")],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 10, 10])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        inits,
    )
    return helper.make_model(graph, opset_imports=OPSETS, functions=[_conv_block(), _two_blocks()], ir_version=IR)


def test_nested_local_functions_are_costed_and_scoped():
    report = modelaudit.audit(_model())
    assert report.uncounted == {}
    # conv 3->8 and 8->16, 3x3, pads 1 on 10x10: params (k·k·C_in + 1)·C_out, MACs H·W·k·k·C_in·C_out
    assert report.totals.params == (3 * 3 * 3 + 1) * 8 + (3 * 3 * 8 + 1) * 16
    assert report.totals.macs == 10 * 10 * (3 * 3 * 3) * 8 + 10 * 10 * (3 * 3 * 8) * 16
    assert report.totals.macs.complete
    # each call is named as the module it stands for: "/body/TwoBlocks" is module "body" (a
    # scoped name, as TorchScript writes a call), and the calls named "first" and "second" in it
    names = [r.name for r in report.rows]
    assert names == ["/body/first/conv", "/body/first/act", "/body/second/conv", "/body/second/act"]
    assert report.columns().column("module") == ["body/first", "body/first", "body/second", "body/second"]


def test_inlined_model_computes_what_the_functions_compute():
    """onnxruntime runs both: the attribute reference, its default and the renaming are right."""
    ort = pytest.importorskip("onnxruntime")
    model = _model()
    flat = onnx.ModelProto()
    flat.CopyFrom(model)
    assert inline_functions(flat) == 3  # TwoBlocks, then ConvBlock twice inside it
    assert not flat.functions
    alphas = [a.f for n in flat.graph.node for a in n.attribute if a.name == "alpha"]
    assert alphas == pytest.approx([0.1, 0.2])
    x = np.random.default_rng(1).standard_normal((1, 3, 10, 10)).astype(np.float32)
    run = [
        ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
        for m in (model, flat)
    ]
    np.testing.assert_allclose(run[0], run[1], rtol=1e-6)


def test_function_called_inside_a_subgraph():
    relu = helper.make_function("local", "Act", ["a"], ["b"], [helper.make_node("Relu", ["a"], ["b"])], OPSETS)
    branch = helper.make_graph(
        [helper.make_node("Act", ["x"], ["out"], domain="local", name="act")],
        "then",
        [],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [4])],
    )
    other = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["out2"])],
        "else",
        [],
        [helper.make_tensor_value_info("out2", TensorProto.FLOAT, [4])],
    )
    graph = helper.make_graph(
        [helper.make_node("If", ["c"], ["y"], then_branch=branch, else_branch=other)],
        "g",
        [
            helper.make_tensor_value_info("c", TensorProto.BOOL, []),
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [4]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])],
    )
    report = modelaudit.audit(helper.make_model(graph, opset_imports=OPSETS, functions=[relu], ir_version=IR))
    assert report.uncounted == {}
    relu_row = next(r for r in report.rows if r.op == "Relu")
    assert relu_row.flops == 4 and relu_row.name.endswith("act/Relu_0")


def _doubling_chain(depth: int, leaf_nodes: int = 2) -> onnx.ModelProto:
    """f0 calls f1 twice, f1 calls f2 twice … the last runs `leaf_nodes` Relus: 2^(depth−1)·leaf nodes."""
    functions = []
    for i in range(depth):
        if i == depth - 1:
            nodes = [
                helper.make_node("Relu", ["x" if j == 0 else f"t{j}"], [f"t{j + 1}" if j < leaf_nodes - 1 else "y"])
                for j in range(leaf_nodes)
            ]
        else:
            nodes = [
                helper.make_node(f"f{i + 1}", ["x"], ["t"], domain="local"),
                helper.make_node(f"f{i + 1}", ["t"], ["y"], domain="local"),
            ]
        functions.append(helper.make_function("local", f"f{i}", ["x"], ["y"], nodes, OPSETS))
    graph = helper.make_graph(
        [helper.make_node("f0", ["x"], ["y"], domain="local")],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])],
    )
    return helper.make_model(graph, opset_imports=OPSETS, functions=functions, ir_version=IR)


def test_expansion_size_is_counted_without_expanding():
    assert inlined_size(_doubling_chain(5, leaf_nodes=3)) == 2**4 * 3
    report = modelaudit.audit(_doubling_chain(5, leaf_nodes=3))
    assert report.totals.nodes == 2**4 * 3 and report.totals.flops == 2**4 * 3 * 2


def test_exponential_expansion_is_refused_fast():
    """Issue 17 item 2: 40 levels that each call the next twice (2^40 nodes) hung onnx's shape inference."""
    model = _doubling_chain(40)
    assert inlined_size(model) > MAX_INLINED_NODES
    start = time.perf_counter()
    with pytest.raises(ResourceLimitError, match="more than 1,000,000 nodes"):
        modelaudit.audit(model)
    assert time.perf_counter() - start < 2


def test_exponential_expansion_exits_5_with_one_line(tmp_path):
    path = tmp_path / "bomb.onnx"
    onnx.save(_doubling_chain(40), path)
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "modelaudit", "report", str(path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 5
    assert done.stderr.count("\n") == 1 and "local functions" in done.stderr and "Traceback" not in done.stderr
    assert time.perf_counter() - start < 30  # the interpreter's start-up included, on a loaded machine


def test_verify_runs_the_inlined_graph(tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    from modelaudit.cli.main import main

    path = tmp_path / "blocks.onnx"
    onnx.save(_model(), path)
    assert main(["report", str(path), "--verify"]) == 0
    assert "verification: all" in capsys.readouterr().out
