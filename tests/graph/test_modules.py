"""Module paths from each exporter's naming scheme (graph/modules.py), on graphs built the way each
exporter writes them: the names, metadata and variables below are those of real files (a dynamo
export of torchvision's ResNet-18, paddle2onnx 2.x's PP-OCRv4 detector, paddle2onnx 0.x's PP-OCR
classifier, onnxruntime's saved optimized graphs), cut down to a few nodes."""

from __future__ import annotations

import onnx
import pytest
from conftest import make_model, tensor, vi
from onnx import helper

import modelaudit
from modelaudit.graph.links import NodeView
from modelaudit.graph.modules import REWRITE_RULE, TORCH_SCOPES, module_paths, scheme_of, unqualified


def _node(op, inputs, outputs, name="", scopes=None, rule=None):
    node = helper.make_node(op, inputs, outputs, name=name)
    if scopes is not None:
        node.metadata_props.add(key="namespace", value="…")  # the exporter's other keys come first
        node.metadata_props.add(key=TORCH_SCOPES, value=repr(scopes))
    if rule is not None:
        node.metadata_props.add(key=REWRITE_RULE, value=rule)
    return node


def _paths(nodes, producer=""):
    return module_paths([NodeView(n) for n in nodes], producer)


def test_unqualified_is_torchscripts_segment():
    """TorchScript names a scope by the module's qualified name from its last atom that is not a
    number (torch.onnx's _unqualified_variable_name): `/layer1/layer1.0/conv1/Conv`."""
    assert [unqualified(q) for q in ("layer1", "layer1.0", "layer1.0.conv1", "model.2.m.0", "0.1")] == [
        "layer1",
        "layer1.0",
        "conv1",
        "m.0",
        "0.1",
    ]


def _dynamo_nodes():
    """torch.onnx.export(resnet18, dynamo=True), its first block: every Conv has a BatchNorm folded
    in by the exporter's rewriter, which leaves the BatchNorm's scope on it; a Split the optimizer
    made carries no metadata."""
    bn = "RemoveOptionalBiasFromConv, FuseBatchNormIntoConv, RemoveOptionalBiasFromConv"
    return [
        _node("Conv", ["x", "conv1.weight"], ["c0"], "node_Conv_292", ["", "bn1", "_native_batch_norm"], bn),
        _node("Relu", ["c0"], ["r0"], "node_relu", ["", "relu", "relu"]),
        _node(
            "Conv",
            ["r0", "layer1.0.conv1.weight"],
            ["c1"],
            "node_Conv_295",
            ["", "layer1", "layer1.0", "layer1.0.bn1", "_native_batch_norm_1"],
            bn,
        ),
        _node("Relu", ["c1"], ["r1"], "node_relu_1", ["", "layer1", "layer1.0", "layer1.0.relu", "relu_1"]),
        _node(
            "Conv",
            ["r0", "layer1.0.downsample.0.weight"],
            ["d"],
            "node_Conv_313",
            ["", "layer1", "layer1.0", "layer1.0.downsample", "layer1.0.downsample.1", "_native_batch_norm_7"],
            bn,
        ),
        _node("Add", ["r1", "d"], ["a"], "node_add", ["", "layer1", "layer1.0", "add"]),
        _node("Relu", ["a"], ["r2"], "node_relu_2", ["", "layer1", "layer1.0", "layer1.0.relu", "relu_2"]),
        _node("Split", ["r2"], ["s0", "s1"], "node_Split_255"),
        _node("Relu", ["s0"], ["y0"], "node_relu_3", ["", "layer1", "layer1.1", "layer1.1.relu", "relu_3"]),
        _node("Relu", ["s1"], ["y1"], "node_relu_4", ["", "layer1", "layer1.2", "relu_4"]),
    ]


def test_dynamo_scopes_give_torchscripts_modules():
    nodes = _dynamo_nodes()
    assert scheme_of([NodeView(n) for n in nodes], "pytorch") == "dynamo"
    assert _paths(nodes, "pytorch") == [
        "conv1",  # the folded BatchNorm's scope is bn1; its weight conv1.weight names the module
        "relu",
        "layer1/layer1.0/conv1",
        "layer1/layer1.0/relu",
        "layer1/layer1.0/downsample/downsample.0",  # the Conv of Sequential downsample, not its BatchNorm .1
        "layer1/layer1.0",  # a functional add: the module that called it
        "layer1/layer1.0/relu",  # the module's second call is the module
        "layer1",  # no scopes: what its producer (layer1.0) and readers (layer1.1, layer1.2) share
        "layer1/layer1.1/relu",
        "layer1/layer1.2",
    ]


def test_a_rewritten_node_keeps_its_scope_where_its_weight_names_no_module_beside_it():
    """A Gemm the rewriter only trimmed keeps its module; a weight of another branch of the model
    (tied or shared) does not move a node out of its own."""
    gemm = _node(
        "Gemm",
        ["h", "model.transformer.h.0.attn.c_attn.weight"],
        ["g"],
        "node_Gemm_273",
        [
            "",
            "model",
            "model.transformer",
            "model.transformer.h.0",
            "model.transformer.h.0.attn",
            "model.transformer.h.0.attn.c_attn",
            "addmm",
        ],
        "RemoveOptionalBiasFromGemm",
    )
    shared = _node(
        "MatMul",
        ["g", "encoder.proj.weight"],
        ["y"],
        "node_MatMul_9",
        ["", "model", "model.decoder", "model.decoder.out", "matmul"],
        "MatMulAddToGemm",
    )
    encoder = _node("Relu", ["x"], ["h"], "node_relu", ["", "encoder", "encoder.proj", "relu"])
    assert _paths([encoder, gemm, shared]) == ["encoder/proj", "model/transformer/h.0/attn/c_attn", "model/decoder/out"]


def test_name_scopes_written_with_quotes_still_parse():
    odd = _node("Relu", ["x"], ["y"], "n", ["", "a", "a.it's", "op"])  # repr() switches to double quotes
    assert _paths([odd]) == ["a/it's"]


def test_torchscript_calls_of_one_module_are_one_block():
    """TorchScript names the second call of a module `relu_1` (and of a child of a module called
    twice, `m/c_1`); under producer pytorch these join the module, as dynamo's scopes do. Keras
    names distinct layers conv2d, conv2d_1: those stay apart."""
    names = [
        "/m/c/Gemm",
        "/m/Mul",
        "/m/act/Relu",
        "/relu/Relu",
        "/m/c_1/Gemm",
        "/m_1/Mul",
        "/m/act_1/Relu",
        "/x_1/Relu",
    ]
    nodes = [helper.make_node("Relu", [f"t{i}"], [f"t{i + 1}"], name=n) for i, n in enumerate(names)]
    assert _paths(nodes, "pytorch") == ["m/c", "m", "m/act", "relu", "m/c", "m", "m/act", "x_1"]
    assert _paths(nodes, "") == ["m/c", "m", "m/act", "relu", "m/c_1", "m_1", "m/act_1", "x_1"]


def test_tf2onnx_names_lose_their_wrappers_and_model_root():
    """tf2onnx keeps TensorFlow's op names: tf.function's StatefulPartitionedCall wraps every scope,
    and the Keras model's own name leads them (where torch leaves its root module out)."""
    names = [
        "StatefulPartitionedCall/sequential/conv2d/Conv2D",
        "StatefulPartitionedCall/sequential/conv2d/BiasAdd",
        "StatefulPartitionedCall/sequential/conv2d_1/Conv2D__6",  # a node tf2onnx added: `__6`
        "StatefulPartitionedCall/sequential/dense/MatMul",
        "Transpose__12",  # tf2onnx's own, at the top: no path
    ]
    nodes = [helper.make_node("Relu", [f"t{i}"], [f"{n}:0"], name=n) for i, n in enumerate(names)]
    assert _paths(nodes, "tf2onnx") == [
        "sequential/conv2d",
        "sequential/conv2d",
        "sequential/conv2d_1",
        "sequential/dense",
        "",
    ]
    nodes.pop()  # every node under the model's root: it goes, as torch's root module does
    assert _paths(nodes, "tf2onnx") == ["conv2d", "conv2d", "conv2d_1", "dense"]


def test_onnxruntime_optimized_names():
    """onnxruntime's saved optimized graph: a fusion appends `/<Name>Fusion/` to the node it keeps,
    NCHWc convs are named after the tensor they write, and nodes it makes anew (`GPT2Gelu`,
    `SkipLayerNormalization`) keep the name of the tensor the replaced nodes wrote."""
    nodes = [
        helper.make_node("FusedMatMul", ["a"], ["b"], name="/h.0/attn/MatMul/MatMulScaleFusion/"),
        helper.make_node("Gemm", ["b"], ["c"], name="/h.0/attn/c_proj/MatMul/MatMulAddFusion"),
        helper.make_node("Conv", ["c"], ["reorder_token_3"], name="/layer1/layer1.0/relu/Relu_output_0_nchwc"),
        helper.make_node("FastGelu", ["d"], ["/h.0/mlp/act/Mul_3_output_0"], name="GPT2Gelu_token_1"),
        helper.make_node("Gelu", ["e"], ["gelu"], name="GeluFusion"),
    ]
    assert _paths(nodes) == ["h.0/attn", "h.0/attn/c_proj", "layer1/layer1.0/relu", "h.0/mlp/act", ""]


def _paddle_v2_nodes():
    """paddle2onnx 2.x (PP-OCRv4 det): nodes `p2o.<Op>.<n>`, the node finishing each Paddle op
    writes its variable (`conv2d_450.tmp_0`), helper nodes write `p2o.<Op>.<n>`; weights are
    unnamed Constants; a layer's own parameters are `<layer>.w_0`."""
    return [
        helper.make_node("Constant", [], ["conv2d_0.w_0"], value=helper.make_tensor("w", 1, [2, 3, 1, 1], [0.5] * 6)),
        helper.make_node("Conv", ["x", "conv2d_0.w_0"], ["conv2d_450.tmp_0"], name="p2o.Conv.0"),
        helper.make_node("Mul", ["mobile_one_block_0.w_0", "conv2d_450.tmp_0"], ["p2o.Mul.1"], name="p2o.Mul.0"),
        helper.make_node("Add", ["p2o.Mul.1", "three"], ["p2o.Add.3"], name="p2o.Add.2"),
        helper.make_node("Clip", ["p2o.Add.3"], ["p2o.Clip.1"], name="p2o.Clip.0"),
        helper.make_node("Mul", ["p2o.Mul.1", "p2o.Clip.1"], ["p2o.Mul.3"], name="p2o.Mul.2"),
        helper.make_node("Div", ["p2o.Mul.3", "six"], ["hardswish_58.tmp_0"], name="p2o.Div.0"),
        helper.make_node("Relu", ["hardswish_58.tmp_0"], ["p2o.pd_op.relu.3.0"], name="p2o.Relu.0"),  # PIR's
    ]


def test_paddle2onnx_nodes_join_the_paddle_op_they_make():
    nodes = _paddle_v2_nodes()
    assert scheme_of([NodeView(n) for n in nodes], "") == "paddle"
    assert _paths(nodes) == [
        "conv2d_450",  # the weight's Constant: with its reader
        "conv2d_450",
        "mobile_one_block_0",  # a helper reading a layer's parameter: that layer
        "hardswish_58",  # helpers: with the node that finishes their op
        "hardswish_58",
        "hardswish_58",
        "hardswish_58",
        "pd_op.relu.3",  # Paddle 3's PIR names its values p2o.pd_op.<op>.<n>.<output>
    ]


def test_paddle2onnx_0x_names():
    """paddle2onnx 0.x (PP-OCR cls, producer PaddlePaddle): `Conv@0`, variables as in 2.x."""
    nodes = [
        helper.make_node("Conv", ["x", "conv2_se_1_weights"], ["conv2d_55.tmp_0"], name="Conv@3"),
        helper.make_node("Reshape", ["conv2_se_1_offset", "Constant@4"], ["Reshape@0"], name="Reshape@0"),
        helper.make_node("Add", ["conv2d_55.tmp_0", "Reshape@0"], ["conv2d_55.tmp_1"], name="Add@1"),
        helper.make_node("Relu", ["conv2d_55.tmp_1"], ["relu_2.tmp_0"], name="Relu@2"),
    ]
    assert scheme_of([NodeView(n) for n in nodes], "PaddlePaddle") == "paddle"
    assert _paths(nodes, "PaddlePaddle") == ["conv2d_55", "conv2d_55", "conv2d_55", "relu_2"]


def test_names_that_only_look_like_paddles_are_names():
    nodes = [
        helper.make_node("Relu", ["a"], ["b"], name="/a/Relu"),
        helper.make_node("Relu", ["b"], ["c"], name="p2o.Relu.0"),
    ]
    assert scheme_of([NodeView(n) for n in nodes], "") == "names"


def test_rows_carry_their_module_through_the_audit():
    """The audit gives each row its module (report.tables["modules"], JSON "module"); a Loop's body
    rows are in the Loop's module."""
    nodes = _dynamo_nodes()[:2]
    model = make_model(nodes, [vi("x", [1, 3, 8, 8])], [vi("r0", None)], [tensor("conv1.weight", (4, 3, 3, 3))])
    report = modelaudit.audit(model)
    assert report.columns().column("module") == ["conv1", "relu"]
    assert [r["module"] for r in report.to_dict()["rows"]] == ["conv1", "relu"]


@pytest.mark.parametrize("fresh", [True, False])
def test_scheme_needs_no_metadata_on_every_node(fresh):
    """A dynamo export is told by nodes sampled across the graph (it tags every node it writes)."""
    nodes = [_node("Relu", [f"t{i}"], [f"t{i + 1}"], f"node_relu_{i}", ["", "a", f"r{i}"]) for i in range(1000)]
    if not fresh:
        for node in nodes[::2]:
            del node.metadata_props[:]
    assert scheme_of([NodeView(n) for n in nodes], "pytorch") == "dynamo"
    onnx.checker.check_node(nodes[0])
