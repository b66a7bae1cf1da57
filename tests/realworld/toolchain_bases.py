"""The nine bases of the toolchain matrix (issue 24), small enough to export in seconds: torchvision's
MobileNetV2, ResNet-50 and ViT-B/16 (the same modules at a small input; ViT with a small config),
GPT-2, BERT and a GQA Llama from transformers configs, and PP-OCRv4 det and YOLOv8n as shipped in
PyPI wheels (rapidocr-onnxruntime's ch_PP-OCRv4_det_infer.onnx, nudenet's 320n.onnx)."""

from __future__ import annotations

from pathlib import Path

from toolchain import Base

__all__ = ["BASES", "build"]

IMAGE = 64


def _torch_export(module, args, names, path: Path, axes: dict) -> None:
    import torch

    torch.manual_seed(0)
    module.eval()
    generator = torch.Generator().manual_seed(5)
    with torch.no_grad():  # noise: no two tensors equal, so the exporter merges none of them
        for p in module.parameters():
            p.add_(torch.randn(p.shape, generator=generator) * 0.01)
    torch.onnx.export(
        module, args, path, dynamo=False, opset_version=17, input_names=names, output_names=["out"], dynamic_axes=axes
    )


def _vision(name: str, module, folder: Path, image: int = IMAGE) -> Base:
    import torch

    path = folder / f"{name}.onnx"
    x = torch.randn(1, 3, image, image, generator=torch.Generator().manual_seed(3))
    _torch_export(module, (x,), ["image"], path, {"image": {0: "batch"}, "out": {0: "batch"}})
    return Base(name, path, {"image": (1, 3, image, image)}, "cnn")


def mobilenet_v2(folder: Path) -> Base:
    import torch
    import torchvision

    torch.manual_seed(0)
    return _vision("mobilenet_v2", torchvision.models.mobilenet_v2(num_classes=10), folder)


def resnet50(folder: Path) -> Base:
    import torch
    import torchvision

    torch.manual_seed(0)
    return _vision("resnet50", torchvision.models.resnet50(num_classes=10), folder, image=32)


def vit_b_16(folder: Path) -> Base:
    """torchvision's VisionTransformer with ViT-B/16's patch size, 2 layers of width 64."""
    import torch
    from torchvision.models.vision_transformer import VisionTransformer

    torch.manual_seed(0)
    module = VisionTransformer(
        image_size=32, patch_size=16, num_layers=2, num_heads=4, hidden_dim=64, mlp_dim=128, num_classes=10
    )
    base = _vision("vit_b_16", module, folder, image=32)
    base.kind, base.heads, base.hidden = "vit", 4, 64
    return base


def _transformer(name: str, folder: Path, kind: str) -> Base:
    import torch
    from test_transformers import BUILDERS, _distinct

    torch.manual_seed(0)
    spec = BUILDERS[name]()
    spec["module"].eval()
    _distinct(spec["module"])
    path = folder / f"{name}.onnx"
    torch.onnx.export(
        spec["module"],
        spec["args"],
        path,
        dynamo=False,
        opset_version=17,
        input_names=spec["names"],
        output_names=spec["outputs"],
        dynamic_axes=spec["axes"],
    )
    inputs = {n: tuple(a.shape) for n, a in zip(spec["names"], spec["args"])}
    return Base(name, path, inputs, kind, heads=4, hidden=64)


def gpt2(folder: Path) -> Base:
    return _transformer("gpt2", folder, "gpt2")


def gpt2_kv(folder: Path) -> Base:
    """GPT-2 decoding one token over 16 cached ones (optimum's layout)."""
    return _transformer("gpt2_kv", folder, "gpt2")


def bert(folder: Path) -> Base:
    return _transformer("bert", folder, "bert")


def llama_gqa(folder: Path) -> Base:
    return _transformer("llama_gqa", folder, "gpt2")


def vit_hf(folder: Path) -> Base:
    """transformers' ViT (the attention onnxruntime fuses into FusedMatMul with transBatch)."""
    return _transformer("vit", folder, "vit")


def _wheel(requirement: str, file: str, name: str, folder: Path, input_name: str) -> Base:
    """The wheel's file with its input fixed to 1×3×160×160 (onnxruntime's transformers optimizer
    spends minutes in sympy on its symbolic dims) and its Constant nodes' tensors lifted into
    initializers (onnxruntime's quantizers want initializers): the same graph, the same figures."""
    import onnx
    from test_wheels import _wheel as fetch

    model = onnx.load(fetch(requirement) / file)
    shape = (1, 3, 160, 160)
    (vi,) = [i for i in model.graph.input if i.name == input_name]
    for dim, value in zip(vi.type.tensor_type.shape.dim, shape):
        dim.Clear()
        dim.dim_value = value
    kept = []
    for node in model.graph.node:
        value = next((a.t for a in node.attribute if a.name == "value"), None)
        if node.op_type == "Constant" and value is not None:
            value.name = node.output[0]
            model.graph.initializer.append(value)
        else:
            kept.append(node)
    del model.graph.node[:]
    model.graph.node.extend(kept)
    path = folder / f"{name}.onnx"
    onnx.save(model, path)
    return Base(name, path, {input_name: shape}, "cnn")


def ppocr_v4_det(folder: Path) -> Base:
    return _wheel("rapidocr-onnxruntime==1.4.4", "ch_PP-OCRv4_det_infer.onnx", "ppocr_v4_det", folder, "x")


def yolov8n(folder: Path) -> Base:
    return _wheel("nudenet==3.4.2", "320n.onnx", "yolov8n", folder, "images")


BASES = {
    "mobilenet_v2": mobilenet_v2,
    "resnet50": resnet50,
    "vit_b_16": vit_b_16,
    "gpt2": gpt2,
    "gpt2_kv": gpt2_kv,
    "bert": bert,
    "llama_gqa": llama_gqa,
    "vit_hf": vit_hf,
    "ppocr_v4_det": ppocr_v4_det,
    "yolov8n": yolov8n,
}


def build(name: str, folder: Path) -> Base:
    folder.mkdir(parents=True, exist_ok=True)
    return BASES[name](folder)
