"""Blocks of real exports and shipped files (graph/modules.py): torch's dynamo exporter (module paths
in node metadata, BatchNorms folded into Convs by its rewriter) and its TorchScript exporter (scoped
node names) give the same blocks, layer for layer, at depths 1 to 3; an onnxscript model's local
functions give its call tree; and on YOLOv8n and PP-OCR files from PyPI wheels every view of the
blocks (compare, the HTML chart, the flat listing) is the --depth tree's partition."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch", reason="the exports need torch")
torchvision = pytest.importorskip("torchvision", reason="the vision models come from torchvision")
pytest.importorskip("onnxscript", reason="torch's dynamo exporter needs onnxscript")

from block_views import check_block_views  # noqa: E402
from function_exports import export_with_functions  # noqa: E402
from onnxscript import FLOAT, script  # noqa: E402  (onnxscript reads a function's annotations from this module)
from onnxscript import opset18 as op  # noqa: E402
from onnxscript.values import Opset  # noqa: E402
from torch import nn  # noqa: E402

import modelaudit  # noqa: E402
from modelaudit.costs.blocks import by_block  # noqa: E402

IMAGE = 64


class Conv(nn.Module):
    """YOLOv8's Conv: Conv2d, BatchNorm2d, SiLU."""

    def __init__(self, c_in, c_out, k=1, s=1):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, k, s, k // 2, bias=False)
        self.bn = nn.BatchNorm2d(c_out)
        self.act = nn.SiLU()

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class Bottleneck(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.cv1, self.cv2 = Conv(c, c, 3), Conv(c, c, 3)

    def forward(self, x):
        return x + self.cv2(self.cv1(x))


class C2f(nn.Module):
    def __init__(self, c_in, c_out, n=1):
        super().__init__()
        self.c = c_out // 2
        self.cv1 = Conv(c_in, 2 * self.c)
        self.cv2 = Conv((2 + n) * self.c, c_out)
        self.m = nn.ModuleList(Bottleneck(self.c) for _ in range(n))

    def forward(self, x):
        y = list(self.cv1(x).chunk(2, 1))
        y.extend(m(y[-1]) for m in self.m)
        return self.cv2(torch.cat(y, 1))


class Yolo(nn.Module):
    """YOLOv8's layout: the network iterates `model` (a Sequential it never calls), so TorchScript
    names the layers model.0, model.1 … each holding cv1, cv2, m.0 (Ultralytics' DetectionModel)."""

    def __init__(self):
        super().__init__()
        self.model = nn.Sequential(
            Conv(3, 8, 3, 2), Conv(8, 16, 3, 2), C2f(16, 16, 1), Conv(16, 32, 3, 2), C2f(32, 32, 2)
        )

    def forward(self, x):
        for layer in self.model:
            x = layer(x)
        return x


def _trained(module: nn.Module) -> nn.Module:
    """Statistics and weights a trained network would have: a fresh BatchNorm (mean 0, bias 0)
    folds into a Conv with a zero bias, which the dynamo exporter drops and TorchScript keeps, and
    fresh inits repeat tensors (zero biases), which TorchScript stores once."""
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn(p.shape, generator=generator) * 0.01)
        for m in module.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=generator) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=generator) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=generator) * 0.1)
    return module.eval()


def _vision(name):
    if name == "yolo":
        return _trained(Yolo())
    return _trained(getattr(torchvision.models, name)())


def _export(module, args, path, dynamo: bool) -> None:
    kwargs = dict(dynamo=True, external_data=False) if dynamo else dict(dynamo=False, opset_version=17)
    torch.onnx.export(module, args, str(path), **kwargs)


def _blocks(report, depth: int, params: bool) -> dict[str, tuple]:
    """The blocks that compute (MACs), with their MACs, and params where the files store the same weights."""
    return {
        path: (g["macs"], g["params"] if params else None)
        for path, g in by_block(report.columns(), depth).items()
        if g["macs"]
    }


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2", "yolo"])
def test_dynamo_and_torchscript_give_the_same_blocks(name, tmp_path, capsys):
    module = _vision(name)
    x = torch.randn(1, 3, IMAGE, IMAGE, generator=torch.Generator().manual_seed(1))
    reports = {}
    for dynamo in (False, True):
        path = tmp_path / f"{name}.{'dynamo' if dynamo else 'torchscript'}.onnx"
        _export(module, (x,), path, dynamo)
        reports[dynamo] = modelaudit.audit(path)
    assert reports[True].totals.macs == reports[False].totals.macs
    for depth in (1, 2, 3):
        torchscript, dynamo = (_blocks(reports[d], depth, params=True) for d in (False, True))
        assert dynamo == torchscript, depth
    assert len(_blocks(reports[True], 3, True)) > 5  # a tree, not one top-level row
    if name == "yolo":
        assert {"model.2/m.0", "model.4/m.0", "model.4/m.1"} <= set(_blocks(reports[True], 2, True))
        check_block_views(str(tmp_path / "yolo.dynamo.onnx"), tmp_path, capsys)


class _Logits(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask):
        return self.model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).logits


def test_gpt2_blocks_are_the_same_from_every_exporter(tmp_path, monkeypatch):
    """TorchScript (plain, and with each GPT2Block and GPT2MLP a local function) and dynamo. The
    files differ in their weights (TorchScript stores the tied LM head twice), not in their blocks."""
    transformers = pytest.importorskip("transformers")

    config = transformers.GPT2Config(
        n_layer=2, n_embd=64, n_head=4, vocab_size=1000, n_positions=128, attn_implementation="sdpa"
    )
    torch.manual_seed(0)
    model = transformers.GPT2LMHeadModel(config).eval()
    module = _Logits(model)
    args = (torch.zeros(1, 16, dtype=torch.long), torch.ones(1, 16, dtype=torch.long))
    functions = {type(m) for m in model.modules() if type(m).__name__ in ("GPT2Block", "GPT2MLP")}
    export_with_functions(module, args, tmp_path / "functions.onnx", functions, monkeypatch)
    torch.onnx.export(module, args, str(tmp_path / "torchscript.onnx"), dynamo=False, opset_version=17)
    torch.onnx.export(module, args, str(tmp_path / "dynamo.onnx"), dynamo=True, external_data=False)
    reports = {label: modelaudit.audit(tmp_path / f"{label}.onnx") for label in ("torchscript", "functions", "dynamo")}
    for depth in (1, 2, 3):
        blocks = {label: _blocks(report, depth, params=False) for label, report in reports.items()}
        assert blocks["dynamo"] == blocks["torchscript"] == blocks["functions"], depth
    assert set(_blocks(reports["dynamo"], 3, False)) == {
        "model/transformer/h.0",
        "model/transformer/h.1",
        "model/lm_head",
    }


def test_onnxscript_local_functions_give_their_call_tree(tmp_path):
    """A model written in onnxscript as functions (Block calls MLP, which calls Linear twice),
    called twice: each call is a block named after its function, the second `Block#2`. MACs by
    hand: a Linear of [1, 16] by [16, 32] is 16·32, its partner 32·16."""
    local = Opset("local", 1)

    @script(local, default_opset=op)
    def Linear(x, w, b):
        return op.Add(op.MatMul(x, w), b)

    @script(local, default_opset=op)
    def MLP(x, w1, b1, w2, b2):
        return Linear(op.Relu(Linear(x, w1, b1)), w2, b2)

    @script(local, default_opset=op)
    def Block(x, w1, b1, w2, b2):
        return op.Add(x, MLP(x, w1, b1, w2, b2))

    @script(default_opset=op)
    def model(x: FLOAT[1, 16], w1: FLOAT[16, 32], b1: FLOAT[32], w2: FLOAT[32, 16], b2: FLOAT[16]) -> FLOAT[1, 16]:
        return Block(Block(x, w1, b1, w2, b2), w1, b1, w2, b2)

    report = modelaudit.audit(model.to_model_proto())
    linear = 16 * 32
    assert {p: g["macs"] for p, g in by_block(report.columns(), 1).items()} == {
        "Block": 2 * linear,
        "Block#2": 2 * linear,
    }
    assert {p: g["macs"] for p, g in by_block(report.columns(), 2).items()} == {
        "Block": 0,  # its own residual Add
        "Block/MLP": 2 * linear,
        "Block#2": 0,
        "Block#2/MLP": 2 * linear,
    }
    assert {p: g["macs"] for p, g in by_block(report.columns(), 3).items() if g["macs"]} == {
        "Block/MLP/Linear": linear,
        "Block/MLP/Linear#2": linear,
        "Block#2/MLP/Linear": linear,
        "Block#2/MLP/Linear#2": linear,
    }


def _shipped(requirement: str, file: str):
    from test_wheels import _wheel  # the realworld suite's cached download of a PyPI wheel

    return str(_wheel(requirement) / file)


@pytest.mark.parametrize(
    "requirement, file, shape",
    [
        ("nudenet==3.4.2", "320n.onnx", "images=1x3x320x320"),  # YOLOv8n, TorchScript-exported
        ("rapidocr-onnxruntime==1.4.4", "ch_PP-OCRv4_det_infer.onnx", "x=1x3x320x320"),  # paddle2onnx 2.x
        ("rapidocr-onnxruntime==1.4.4", "ch_ppocr_mobile_v2.0_cls_infer.onnx", "x=1x3x48x192"),  # paddle2onnx 0.x
    ],
)
def test_block_views_agree_on_shipped_files(requirement, file, shape, tmp_path, capsys):
    path = _shipped(requirement, file)
    check_block_views(path, tmp_path, capsys, ("--input", shape))
    report = modelaudit.audit(path, inputs={shape.split("=")[0]: tuple(map(int, shape.split("=")[1].split("x")))})
    blocks = by_block(report.columns(), 2)
    assert len([g for g in blocks.values() if g["macs"]]) > 10  # a tree of the model's layers, not one row
    if file == "320n.onnx":
        assert {"model.2/m.0", "model.4/m.0", "model.22/cv2.0"} <= set(blocks) and "m.0" not in blocks
