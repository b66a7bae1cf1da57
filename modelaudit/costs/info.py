"""What a report says of the model as a whole: its file, opsets, inputs and outputs, onnx.checker's
verdict, and which flag resolves each unresolved dim."""

from __future__ import annotations

import os
import re

from modelaudit.graph.model import ModelGraph
from modelaudit.load.dtypes import dtype_name
from modelaudit.shapes.annotations import symbols_of
from modelaudit.shapes.tensor import Shape

from .cost import dims_str

__all__ = [
    "MISSING_DATA",
    "checker_warning",
    "input_dim_names",
    "missing_data_warning",
    "unknown_ort_op",
    "model_info",
    "unresolved_hints",
]


def input_dim_names(mg: ModelGraph) -> tuple[dict[str, str], list[str]]:
    """Symbolic dim name -> the input declaring it; inputs with anonymous dynamic dims."""
    named: dict[str, str] = {}
    anonymous: list[str] = []
    for name in mg.inputs:
        info = mg.info(name)
        if info is None or info.shape is None:
            anonymous.append(name)
            continue
        for d in info.shape:
            if isinstance(d, str):
                named.setdefault(d, name)
            elif d is None and name not in anonymous:
                anonymous.append(name)
    return named, anonymous


def unresolved_hints(mg: ModelGraph, counts: dict[str, int]) -> list[dict]:
    named, anonymous = input_dim_names(mg)
    inputs = {s for d in named for s in symbols_of(d)}
    hints = []
    for dim, nodes in sorted(counts.items()):
        own = symbols_of(dim) if dim != "?" else []
        if dim in named or (own and set(own) <= inputs):  # fixed through its symbols: floor(height/2) by height
            flag = " ".join(f"--dim {s}=N" for s in own)
        elif anonymous:
            flag = " ".join(f"--input {n}={dims_str(_shape_of(mg, n))}" for n in anonymous).replace("?", "N")
        elif named:  # an unknown derived from a symbolic input dim: fixing those resolves it
            flag = " ".join(f"--dim {s}=N" for s in sorted(inputs))
        else:  # every input dim is fixed: the shape comes from data, or from an op onnx cannot infer
            flag = "--verify (onnxruntime's run gives the shapes that static inference cannot)"
        hints.append({"dim": dim, "nodes": nodes, "flag": flag})
    return hints


# ops onnxruntime registers in onnx's own domain, which onnx.checker does not know (the transformers
# optimizer writes SimplifiedLayerNormalization there for RMSNorm)
ORT_ONNX_DOMAIN_OPS = frozenset(
    {"SimplifiedLayerNormalization", "Affine", "Crop", "DynamicSlice", "GivenTensorFill", "GRUUnit", "ImageScaler"}
    | {"ParametricSoftplus", "Scale", "ScaledTanh", "MemcpyFromHost", "MemcpyToHost"}
)


def unknown_ort_op(error: str) -> str | None:
    """The op named by the checker's 'No Op registered for X' when onnxruntime registers X in onnx's
    domain: not a sign of an invalid model, only that the checker could not go on."""
    match = re.search(r"No Op registered for (\w+) with domain_version", error)
    return match.group(1) if match and match.group(1) in ORT_ONNX_DOMAIN_OPS else None


def checker_warning(mg: ModelGraph) -> list[str]:
    verdict = mg.checker
    if verdict is None or verdict["valid"]:
        return []
    op = unknown_ort_op(verdict["error"])
    if op is not None:
        return [
            f"onnx.checker stops at {op}, which onnxruntime registers in onnx's domain and onnx does not "
            "know: the rest of the model is not checked"
        ]
    return [
        f"onnx.checker rejects the model ({'full check' if verdict['full_check'] else 'structure only'}): "
        f"{verdict['error']}; onnxruntime will likely refuse it, and its figures describe a model that cannot run"
    ]


def missing_data_warning(mg: ModelGraph) -> list[str]:
    """External-data files the model names that are not there: counting never reads them, but no
    runtime can load the model without them (lint's MA015)."""
    missing = [p.name for p in mg.data_files if not os.path.lexists(p)]
    if not missing:
        return []
    return [
        f"{MISSING_DATA}: {', '.join(missing)}; the figures come from the tensors' dims, "
        "but no runtime can load the model without its weights"
    ]


MISSING_DATA = "external-data file missing"


def model_info(mg: ModelGraph) -> dict:
    m = mg.model

    def tensor(name: str) -> dict:
        info = mg.info(name)
        return {
            "name": name,
            "shape": dims_str(info.shape if info else None),
            "dtype": dtype_name(info.dtype) if info else "?",
        }

    def text(value) -> str:  # protobuf hands back bytes for invalid UTF-8
        return value.decode("utf-8", "replace") if isinstance(value, bytes) else value

    return {
        "path": os.fspath(mg.path) if mg.path else None,
        "graph": text(m.graph.name),
        "producer": f"{text(m.producer_name)} {text(m.producer_version)}".strip(),
        "ir_version": m.ir_version,
        "opsets": {(k or "ai.onnx"): v for k, v in sorted(mg.opsets.items())},
        "inputs": [tensor(n) for n in mg.inputs],
        "outputs": [tensor(n) for n in mg.outputs],
        "checker": mg.checker,
    }


def _shape_of(mg: ModelGraph, name: str) -> Shape | None:
    info = mg.info(name)
    return info.shape if info is not None else None
