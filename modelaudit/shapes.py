"""Shape inference on a weightless skeleton of the model, with integer shape folding fed back.

onnx's inference alone leaves shapes unknown wherever a shape is computed at run time
(Shape→Gather→Div→Slice→Reshape in a ShuffleNet channel split). We evaluate those small integer
computations on known values (modelaudit.fold), turn the results into constants or shape hints,
and infer again, until nothing new is learned.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import GraphProto, ModelProto, NodeProto, TensorProto, helper, numpy_helper

from . import fold
from .dtypes import is_integer

__all__ = ["TensorInfo", "ShapeResult", "infer", "tensor_numel", "Dim", "Shape"]

log = logging.getLogger(__name__)

Dim = "int | str | None"
Shape = "tuple[int | str | None, ...] | None"

KEEP_INT_ELEMENTS = 4096  # integer constants this small keep their values in the skeleton
KEEP_FLOAT_ELEMENTS = 16  # float ones too (Resize scales, Clip bounds); larger ones are weights
MAX_ROUNDS = 6


@dataclass(frozen=True)
class TensorInfo:
    """What is known statically about one tensor: name, shape (None = rank unknown), dtype."""

    name: str
    shape: tuple | None
    dtype: int = 0
    constant: bool = False

    @property
    def known(self) -> bool:
        return self.shape is not None and all(isinstance(d, int) for d in self.shape)


@dataclass
class ShapeResult:
    tensors: dict[str, TensorInfo]
    values: dict[str, np.ndarray]
    rounds: int = 0
    warnings: list[str] = field(default_factory=list)


def tensor_numel(tensor: TensorProto) -> int:
    return math.prod(tensor.dims)


def _is_external(tensor: TensorProto) -> bool:
    return tensor.data_location == TensorProto.EXTERNAL


def _small_enough(tensor: TensorProto) -> bool:
    if _is_external(tensor):
        return False  # never read to count; its shape is all we need
    limit = KEEP_INT_ELEMENTS if is_integer(tensor.data_type) else KEEP_FLOAT_ELEMENTS
    return tensor_numel(tensor) <= limit


def _stripped(tensor: TensorProto) -> TensorProto:
    """The tensor's name, dims and type, without its bytes."""
    out = TensorProto(name=tensor.name, data_type=tensor.data_type)
    out.dims.extend(tensor.dims)
    return out


def _value_info_of(tensor: TensorProto) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(tensor.name, tensor.data_type, list(tensor.dims))


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


def _apply_overrides(graph: GraphProto, inputs: dict[str, tuple], dims: dict[str, int]) -> None:
    for vi in graph.input:
        shape = vi.type.tensor_type.shape
        if vi.name in inputs:
            shape.ClearField("dim")
            for d in inputs[vi.name]:
                shape.dim.add().dim_value = d
            continue
        for d in shape.dim:
            if d.HasField("dim_param") and d.dim_param in dims:
                d.dim_value = dims[d.dim_param]


def _build_skeleton(model: ModelProto, inputs, dims, folded: dict[str, np.ndarray],
                    hints: dict[str, tuple]) -> ModelProto:
    """A copy of the model without weight bytes; folded tensors become initializers."""
    src = model.graph
    skel = ModelProto(ir_version=max(model.ir_version, 4))
    skel.opset_import.extend(model.opset_import)
    skel.functions.extend(model.functions)
    g = skel.graph
    g.name = src.name
    init_names = set()
    for t in src.initializer:
        init_names.add(t.name)
        if _small_enough(t):
            g.initializer.append(t)
        else:
            g.input.append(_value_info_of(t))
    g.input.extend(vi for vi in src.input if vi.name not in init_names)
    _apply_overrides(g, inputs, dims)
    for node in src.node:
        if node.output and all(o in folded or not o for o in node.output):
            continue
        g.node.append(_skeleton_node(node))
    for name, value in folded.items():
        g.initializer.append(numpy_helper.from_array(value, name))
    g.output.extend(src.output)
    g.value_info.extend(vi for vi in src.value_info if vi.name not in folded)
    for name, (dtype, shape) in hints.items():
        g.value_info.append(helper.make_tensor_value_info(name, dtype, list(shape)))
    return skel


def _dims_of(type_proto) -> tuple | None:
    if not type_proto.HasField("tensor_type"):
        return None
    tt = type_proto.tensor_type
    if not tt.HasField("shape"):
        return None
    dims = []
    for d in tt.shape.dim:
        if d.HasField("dim_value") and d.dim_value >= 0:
            dims.append(int(d.dim_value))
        elif d.HasField("dim_param") and d.dim_param:
            dims.append(d.dim_param)
        else:
            dims.append(None)
    return tuple(dims)


def _collect(inferred: ModelProto) -> dict[str, TensorInfo]:
    g = inferred.graph
    infos: dict[str, TensorInfo] = {}
    for vi in (*g.input, *g.value_info, *g.output):
        dtype = vi.type.tensor_type.elem_type if vi.type.HasField("tensor_type") else 0
        shape = _dims_of(vi.type)
        old = infos.get(vi.name)
        if old is None or (old.shape is None and shape is not None):
            infos[vi.name] = TensorInfo(vi.name, shape, dtype)
    for t in g.initializer:
        infos[t.name] = TensorInfo(t.name, tuple(int(d) for d in t.dims), t.data_type, True)
    return infos


def _run_onnx_inference(skel: ModelProto, warnings: list[str]) -> ModelProto:
    try:
        return onnx.shape_inference.infer_shapes(skel, check_type=False, strict_mode=False, data_prop=True)
    except Exception as first:  # onnx raises several types (InferenceError, ValidationError, RuntimeError)
        try:
            return onnx.shape_inference.infer_shapes(skel, check_type=False, strict_mode=False)
        except Exception:
            warnings.append(f"onnx shape inference failed ({str(first).splitlines()[0][:200]}); "
                            "shapes come from the model's own annotations only")
            return skel


def _node_attrs(node: NodeProto) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _initial_values(model: ModelProto) -> dict[str, np.ndarray]:
    values: dict[str, np.ndarray] = {}
    for t in model.graph.initializer:
        if _small_enough(t) and t.data_type != TensorProto.STRING:
            values[t.name] = numpy_helper.to_array(t)
    return values


def _unknown(info: TensorInfo | None) -> bool:
    return info is None or info.shape is None or any(d is None for d in info.shape)


def _shape_hint(node: NodeProto, values: dict, infos: dict) -> tuple | None:
    """The output shape of a Reshape/Expand/ConstantOfShape whose shape input is partly known."""
    target = values.get(node.input[1] if node.op_type != "ConstantOfShape" else node.input[0])
    if target is None or target.ndim != 1:
        return None
    dims = [d if isinstance(d, (str, type(None))) else int(d) for d in target]
    if node.op_type == "Reshape":
        data = infos.get(node.input[0])
        if data is None or data.shape is None:
            return None
        allowzero = any(a.name == "allowzero" and a.i for a in node.attribute)
        dims = [data.shape[i] if d == 0 and not allowzero and i < len(data.shape) else d
                for i, d in enumerate(dims)]
        if -1 in dims:
            known = [d for d in dims if d != -1]
            if data.known and all(isinstance(d, int) for d in known) and math.prod(known):
                dims[dims.index(-1)] = math.prod(data.shape) // math.prod(known)
            else:
                dims[dims.index(-1)] = None
    elif node.op_type == "Expand":
        data = infos.get(node.input[0])
        if data is None or data.shape is None or len(data.shape) > len(dims):
            return None
        pad = (1,) * (len(dims) - len(data.shape)) + tuple(data.shape)
        dims = [s if d == 1 else d for d, s in zip(dims, pad)]
    if all(d is None for d in dims):
        return None
    return tuple(dims)


def _fold(model: ModelProto, order: list[int], consumers: dict[str, list[int]], infos: dict,
          values: dict, folded: dict, hints: dict) -> bool:
    """One pass of integer folding in topological order. True if anything new was learned."""
    nodes = model.graph.node

    def needed(name: str) -> bool:  # a consumer still lacks an output shape
        return any(_unknown(infos.get(o)) for c in consumers.get(name, ()) for o in nodes[c].output if o)

    learned = False
    for index in order:
        node = nodes[index]
        if node.domain not in ("", "ai.onnx") or not node.output:
            continue
        if all(o in values and not fold.is_partial(values[o]) for o in node.output if o):
            continue
        op = node.op_type
        if op == "Constant":
            attrs = _node_attrs(node)
            if "value" in attrs and attrs["value"].data_location != TensorProto.EXTERNAL \
                    and attrs["value"].data_type != TensorProto.STRING:
                if math.prod(attrs["value"].dims) <= fold.MAX_FOLD_ELEMENTS:
                    values[node.output[0]] = numpy_helper.to_array(attrs["value"])
            elif "value_int" in attrs or "value_ints" in attrs:
                values[node.output[0]] = np.array(attrs.get("value_int", attrs.get("value_ints")), np.int64)
            continue
        in_values = [values.get(i) if i else None for i in node.input]
        in_shapes = [infos[i].shape if i in infos else None for i in node.input]
        outs = fold.evaluate(op, in_values, _node_attrs(node), in_shapes)
        if outs is not None:
            for name, value in zip(node.output, outs):
                values[name] = value
                if not fold.is_partial(value) and name not in folded and needed(name):
                    folded[name] = value
                    learned = True
            continue
        if op in ("Reshape", "Expand", "ConstantOfShape") and _unknown(infos.get(node.output[0])):
            hint = _shape_hint(node, values, infos)
            out = node.output[0]
            if hint is not None and hints.get(out, (0, None))[1] != hint:
                dtype = infos[node.input[0]].dtype if op != "ConstantOfShape" and node.input[0] in infos else 0
                if op == "ConstantOfShape":
                    value = _node_attrs(node).get("value")
                    dtype = value.data_type if value is not None else TensorProto.FLOAT
                if dtype:
                    hints[out] = (dtype, hint)
                    learned = True
    return learned


def infer(model: ModelProto, order: list[int], inputs: dict[str, tuple] | None = None,
          dims: dict[str, int] | None = None) -> ShapeResult:
    """Infers every tensor's shape; `inputs` and `dims` fix dynamic input shapes and named dims."""
    inputs, dims = inputs or {}, dims or {}
    warnings: list[str] = []
    folded: dict[str, np.ndarray] = {}
    hints: dict[str, tuple] = {}
    values = _initial_values(model)
    consumers: dict[str, list[int]] = {}
    for index, node in enumerate(model.graph.node):
        for name in node.input:
            consumers.setdefault(name, []).append(index)
    infos: dict[str, TensorInfo] = {}
    rounds = 0
    while rounds < MAX_ROUNDS:
        rounds += 1
        skel = _build_skeleton(model, inputs, dims, folded, hints)
        infos = _collect(_run_onnx_inference(skel, warnings))
        for name, value in folded.items():
            infos[name] = TensorInfo(name, tuple(value.shape), helper.np_dtype_to_tensor_dtype(value.dtype))
        if not any(_unknown(infos.get(o)) for n in model.graph.node for o in n.output if o):
            break
        if not _fold(model, order, consumers, infos, values, folded, hints):
            break
    for t in model.graph.initializer:  # the real initializers, external ones included
        infos[t.name] = TensorInfo(t.name, tuple(int(d) for d in t.dims), t.data_type, True)
    log.debug("shape inference took %d round(s)", rounds)
    return ShapeResult(infos, values, rounds, warnings)
