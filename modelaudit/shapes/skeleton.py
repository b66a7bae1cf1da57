"""The weightless skeleton that onnx's inference runs on: weight bytes dropped, small integer constants
kept, --input/--dim applied.
"""

from __future__ import annotations

import math

import numpy as np
from onnx import ModelProto, NodeProto, TensorProto, helper, numpy_helper

from modelaudit.load.dtypes import is_integer
from modelaudit.load.initializers import Initializer, holds_data, read_initializers

from .annotations import rewrite_annotations
from .tensor import TensorInfo

__all__ = ["build_skeleton", "is_small", "KEEP_INT_ELEMENTS", "KEEP_FLOAT_ELEMENTS"]

KEEP_INT_ELEMENTS = 4096  # integer constants this small keep their values in the skeleton


KEEP_FLOAT_ELEMENTS = 16  # float ones too (Resize scales, Clip bounds); larger ones are weights


def _small_enough(tensor: TensorProto) -> bool:
    if not holds_data(tensor):
        return False  # external, or its bytes were left in the file: its shape is all we need
    return is_small(tensor.data_type, tensor.dims)


def is_small(dtype: int, dims) -> bool:
    return math.prod(dims) <= (KEEP_INT_ELEMENTS if is_integer(dtype) else KEEP_FLOAT_ELEMENTS)


def _stripped(tensor: TensorProto) -> TensorProto:
    """The tensor's name, dims and type, without its bytes."""
    out = TensorProto(name=tensor.name, data_type=tensor.data_type)
    out.dims.extend(tensor.dims)
    return out


def _skeleton_node(node: NodeProto) -> NodeProto:
    if node.op_type != "Constant" or node.domain not in ("", "ai.onnx"):
        return node
    for attr in node.attribute:
        if attr.name == "value" and not _small_enough(attr.t):
            light = NodeProto()
            light.CopyFrom(node)
            for a in light.attribute:
                if a.name == "value":
                    a.t.CopyFrom(_stripped(a.t))
            return light
    return node


def build_skeleton(
    model: ModelProto,
    inputs,
    bound: dict[str, int],
    folded: dict[str, np.ndarray],
    hints: dict[str, TensorInfo],
    constants: list[int] | None = None,
    inits: list[Initializer] | None = None,
) -> ModelProto:
    """A copy of the model without weight bytes; folded tensors become initializers. `inputs` are
    --input's shapes, `bound` the symbols fixed (shapes.annotations.bind_symbols)."""
    src = model.graph
    skel = ModelProto(ir_version=max(model.ir_version, 4))
    skel.opset_import.extend(model.opset_import)
    skel.functions.extend(model.functions)
    g = skel.graph
    if src.name.__class__ is str:  # protobuf hands back bytes for invalid UTF-8; the name is not needed
        g.name = src.name
    init_names = set()
    for t in read_initializers(src) if inits is None else inits:
        init_names.add(t.name)
        if not t.external and is_small(t.dtype, t.dims) and holds_data(t.proto):
            g.initializer.append(t.proto)
        else:
            g.input.append(helper.make_tensor_value_info(t.name, t.dtype, list(t.dims)))
    g.input.extend(vi for vi in src.input if vi.name not in init_names)
    if folded:
        g.node.extend(
            _skeleton_node(n) for n in src.node if not (n.output and all(o in folded or not o for o in n.output))
        )
    else:  # one C-level copy, then the few large Constant nodes lose their bytes
        g.node.extend(src.node)
        for i in constants if constants is not None else range(len(g.node)):
            if g.node[i].op_type == "Constant":
                light = _skeleton_node(g.node[i])
                if light is not g.node[i]:
                    g.node[i].CopyFrom(light)
    for name, value in folded.items():
        g.initializer.append(numpy_helper.from_array(value, name))
    g.output.extend(src.output)
    g.value_info.extend(vi for vi in src.value_info if vi.name not in folded)
    rewrite_annotations(g, inputs, bound, init_names)
    for name, info in hints.items():
        if name not in folded and info.dtype:
            shape = None if info.shape is None else list(info.shape)
            g.value_info.append(helper.make_tensor_value_info(name, info.dtype, shape))
    return skel
