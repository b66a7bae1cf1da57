"""Exports torchvision classifiers to ONNX and compares modelaudit's MACs with torchvision's published
figures (`weights.meta["_ops"]`, GMACs despite the name) and params with torch's own count.

Needs torch and torchvision, which modelaudit never depends on. Run it in a separate environment:
    python -m venv /tmp/tv && /tmp/tv/bin/pip install torch torchvision onnx onnxruntime networkx tabulate
    PYTHONPATH=. /tmp/tv/bin/python benchmarks/torchvision_check.py [model names…]
Weights are random (no download). With `--randomize`, every parameter is drawn at random before export
so the exporter cannot merge equal tensors (untrained LayerNorm weights are all ones).
"""

from __future__ import annotations

import argparse
import tempfile
import warnings
from pathlib import Path

import modelaudit

DEFAULT = [
    "resnet18",
    "resnet50",
    "mobilenet_v2",
    "mobilenet_v3_large",
    "shufflenet_v2_x1_0",
    "squeezenet1_1",
    "efficientnet_b0",
    "densenet121",
    "googlenet",
    "inception_v3",
    "regnet_y_400mf",
    "convnext_tiny",
    "vgg16",
    "alexnet",
    "vit_b_16",
]


def main() -> None:
    import torch
    from torchvision import models

    parser = argparse.ArgumentParser()
    parser.add_argument("models", nargs="*", default=DEFAULT)
    parser.add_argument("--randomize", action="store_true")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    print(
        f"{'model':20} {'published GMACs':>15} {'modelaudit':>12} {'error':>8} {'torch params':>14} {'file params':>14}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models:
            extra = {"aux_logits": False, "init_weights": False} if name in ("googlenet", "inception_v3") else {}
            model = models.get_model(name, weights=None, **extra).eval()
            if args.randomize:
                with torch.no_grad():
                    for p in model.parameters():
                        p.uniform_(-0.1, 0.1)
            size = 299 if name == "inception_v3" else 224
            path = Path(tmp) / f"{name}.onnx"
            torch.onnx.export(model, torch.randn(1, 3, size, size), path, dynamo=False, opset_version=17)
            meta = models.get_model_weights(name).DEFAULT.meta
            totals = modelaudit.audit(path).totals
            error = (totals.macs / 1e9 - meta["_ops"]) / meta["_ops"]
            torch_params = sum(p.numel() for p in model.parameters())
            print(
                f"{name:20} {meta['_ops']:>15.3f} {totals.macs / 1e9:>12.4f} {error:>+8.2%} "
                f"{torch_params:>14,} {totals.params:>14,}"
            )


if __name__ == "__main__":
    main()
