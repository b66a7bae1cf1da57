"""Every view of a model's blocks groups by the same full module path: `report --depth` (the tree),
its flat `--sort` listing, `compare --by block` and the HTML chart, on a YOLOv8-shaped graph (its
modules model.0 … model.4 each hold cv1, cv2 and m.0, which a grouping by leaf name summed
together) and on a paddle2onnx one."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from block_views import check_block_views, cli_json
from conftest import make_model, tensor, vi
from onnx import helper

from modelaudit.cli.main import main
from modelaudit.figures import Figure

SIZE = 32  # input 1x3x32x32


class _Graph:
    def __init__(self):
        self.nodes, self.inits, self.count = [], [], 0

    def conv(self, x: str, c_in: int, c_out: int, k: int, stride: int, scope: str) -> str:
        """YOLOv8's Conv module: Conv2d (BatchNorm folded) and SiLU, as TorchScript names them."""
        self.count += 1
        w = f"w{self.count}"
        self.inits += [tensor(w, (c_out, c_in, k, k), seed=self.count), tensor(f"b{self.count}", (c_out,))]
        pad = k // 2
        y = f"{scope}/conv/Conv_output_0"
        self.nodes.append(
            helper.make_node(
                "Conv", [x, w, f"b{self.count}"], [y], name=f"{scope}/conv/Conv", strides=[stride] * 2, pads=[pad] * 4
            )
        )
        self.nodes.append(
            helper.make_node("Sigmoid", [y], [f"{scope}/act/Sigmoid_output_0"], name=f"{scope}/act/Sigmoid")
        )
        out = f"{scope}/act/Mul_output_0"
        self.nodes.append(helper.make_node("Mul", [y, f"{scope}/act/Sigmoid_output_0"], [out], name=f"{scope}/act/Mul"))
        return out

    def c2f(self, x: str, c: int, scope: str) -> str:
        """YOLOv8's C2f: cv1, a Split and a Concat of its own, bottleneck m.0 (cv1, cv2, a residual
        Add of its own), cv2."""
        h = self.conv(x, c, c, 1, 1, f"{scope}/cv1")
        halves = [f"{scope}/Split_output_0", f"{scope}/Split_output_1"]
        split = f"{scope}/split"
        self.inits.append(onnx.numpy_helper.from_array(np.array([c // 2, c // 2]), split))
        self.nodes.append(helper.make_node("Split", [h, split], halves, name=f"{scope}/Split", axis=1))
        m = self.conv(
            self.conv(halves[1], c // 2, c // 2, 3, 1, f"{scope}/m.0/cv1"), c // 2, c // 2, 3, 1, f"{scope}/m.0/cv2"
        )
        added = f"{scope}/m.0/Add_output_0"
        self.nodes.append(helper.make_node("Add", [halves[1], m], [added], name=f"{scope}/m.0/Add"))
        cat = f"{scope}/Concat_output_0"
        self.nodes.append(helper.make_node("Concat", [*halves, added], [cat], name=f"{scope}/Concat", axis=1))
        return self.conv(cat, c // 2 * 3, c, 1, 1, f"{scope}/cv2")


def yolo_like() -> onnx.ModelProto:
    g = _Graph()
    x = g.conv("images", 3, 8, 3, 2, "/model.0")
    x = g.conv(x, 8, 16, 3, 2, "/model.1")
    x = g.c2f(x, 16, "/model.2")
    x = g.conv(x, 16, 32, 3, 2, "/model.3")
    x = g.c2f(x, 32, "/model.4")
    model = make_model(g.nodes, [vi("images", [1, 3, SIZE, SIZE])], [vi(x, None)], g.inits)
    model.producer_name = "pytorch"
    return model


def paddle_like() -> onnx.ModelProto:
    """paddle2onnx 2.x's names (tests/graph/test_modules.py has where each comes from)."""
    nodes = [
        helper.make_node("Conv", ["x", "conv2d_0.w_0"], ["conv2d_450.tmp_0"], name="p2o.Conv.0", pads=[1, 1, 1, 1]),
        helper.make_node("Add", ["conv2d_450.tmp_0", "three"], ["p2o.Add.1"], name="p2o.Add.0"),
        helper.make_node("Clip", ["p2o.Add.1", "zero", "six"], ["p2o.Clip.1"], name="p2o.Clip.0"),
        helper.make_node("Mul", ["conv2d_450.tmp_0", "p2o.Clip.1"], ["p2o.Mul.1"], name="p2o.Mul.0"),
        helper.make_node("Div", ["p2o.Mul.1", "six"], ["hardswish_58.tmp_0"], name="p2o.Div.0"),
        helper.make_node("Conv", ["hardswish_58.tmp_0", "conv2d_1.w_0"], ["conv2d_451.tmp_0"], name="p2o.Conv.1"),
        helper.make_node("Relu", ["conv2d_451.tmp_0"], ["relu_3.tmp_0"], name="p2o.Relu.0"),
    ]
    inits = [
        tensor("conv2d_0.w_0", (8, 3, 3, 3)),
        tensor("conv2d_1.w_0", (16, 8, 1, 1)),
        *(onnx.numpy_helper.from_array(np.array(v, np.float32), n) for n, v in (("three", 3), ("zero", 0), ("six", 6))),
    ]
    return make_model(nodes, [vi("x", [1, 3, 16, 16])], [vi("relu_3.tmp_0", None)], inits)


@pytest.mark.parametrize("build", [yolo_like, paddle_like])
def test_compare_html_and_the_flat_listing_group_as_the_tree_does(build, tmp_path, capsys):
    path = str(tmp_path / "m.onnx")
    onnx.save(build(), path)
    check_block_views(path, tmp_path, capsys)


def test_yolo_blocks_of_the_same_leaf_name_stay_apart(tmp_path, capsys):
    """model.2/m.0 and model.4/m.0 are two blocks (grouped by leaf name they were one 'm.0'), with
    the MACs of their own two 3x3 convs: H·W·(3·3·C)·C each, at 8x8 (c=8) and at 4x4 (c=16)."""
    path = str(tmp_path / "yolo.onnx")
    onnx.save(yolo_like(), path)
    blocks = {b["block"]: b["values"][0] for b in cli_json(capsys, "compare", path, path, "--depth", "2")["blocks"]}
    macs = {name: Figure.from_dict(b["macs"]) for name, b in blocks.items()}  # JSON: {"value", "bound"}
    assert macs["model.2/m.0"] == 2 * (8 * 8 * (3 * 3 * 8) * 8)
    assert macs["model.4/m.0"] == 2 * (4 * 4 * (3 * 3 * 16) * 16)
    assert macs["model.2/cv1"] == 8 * 8 * 16 * 16 and "cv1" not in blocks and "m.0" not in blocks
    assert blocks["model.2"]["nodes"] == 2 and macs["model.2"] == 0  # its own Split and Concat


def test_explain_takes_a_module(tmp_path, capsys):
    """explain MODEL MODULE explains the nodes that compute in it, by its path or by torch's name
    for it; a dynamo export's node names say nothing, so the module is named beside each."""
    from onnx import TensorProto

    from modelaudit.analyses.explain import qualified
    from modelaudit.graph.modules import TORCH_SCOPES

    assert [
        qualified(p) for p in ("layer1/layer1.0/conv1", "layer2/layer2.0/downsample/downsample.0", "model.2/m.0")
    ] == [
        "layer1.0.conv1",
        "layer2.0.downsample.0",
        "model.2.m.0",
    ]
    conv = helper.make_node("Conv", ["x", "layer1.0.conv1.weight"], ["y"], name="node_Conv_7", pads=[1, 1, 1, 1])
    conv.metadata_props.add(key=TORCH_SCOPES, value="['', 'layer1', 'layer1.0', 'layer1.0.conv1', 'conv2d']")
    relu = helper.make_node("Relu", ["y"], ["z"], name="node_relu")
    relu.metadata_props.add(key=TORCH_SCOPES, value="['', 'layer1', 'layer1.0', 'layer1.0.relu', 'relu']")
    model = make_model(
        [conv, relu],
        [vi("x", [1, 2, 4, 4])],
        [vi("z", None, TensorProto.FLOAT)],
        [tensor("layer1.0.conv1.weight", (2, 2, 3, 3))],
    )
    path = str(tmp_path / "dynamo.onnx")
    onnx.save(model, path)
    for module in ("layer1.0.conv1", "layer1/layer1.0/conv1"):
        assert main(["explain", path, module]) == 0
        out = capsys.readouterr().out
        assert out.startswith("node_Conv_7  (Conv, module layer1/layer1.0/conv1)") and "node_relu" not in out
        assert "= 4·4·(3·3·2/1)·2 = 576" in out  # H_out·W_out·(m·n·d/g)·k
    assert main(["explain", path, "layer1.0"]) == 0
    out = capsys.readouterr().out
    assert "node_Conv_7" in out and "node_relu" in out
    assert main(["explain", path, "layer1/layer1.0/conv9"]) == 2
    assert "did you mean: layer1/layer1.0/conv1" in capsys.readouterr().err
