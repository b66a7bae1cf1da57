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
from functools import lru_cache
from typing import NamedTuple

import numpy as np
import onnx
from onnx import (
    AttributeProto,
    GraphProto,
    ModelProto,
    NodeProto,
    TensorProto,
    defs,
    helper,
    numpy_helper,
)

from modelaudit.load.dtypes import is_integer
from modelaudit.load.initializers import Initializer, read_initializers

from . import fold
from .contrib import CONTRIB_SHAPES, contrib_output_shapes

__all__ = ["TensorInfo", "ShapeResult", "infer", "tensor_numel", "Dim", "Shape"]

log = logging.getLogger(__name__)

Dim = "int | str | None"
Shape = "tuple[int | str | None, ...] | None"

KEEP_INT_ELEMENTS = 4096  # integer constants this small keep their values in the skeleton
KEEP_FLOAT_ELEMENTS = 16  # float ones too (Resize scales, Clip bounds); larger ones are weights
MAX_ROUNDS = 3


class TensorInfo(NamedTuple):
    """What is known statically about one tensor: name, shape (None = rank unknown), dtype.
    A NamedTuple: hundreds of thousands are made per model, and a tuple is the cheapest record."""

    name: str
    shape: tuple | None
    dtype: int = 0
    constant: bool = False

    @property
    def known(self) -> bool:
        shape = self.shape
        return shape is not None and None not in shape and str not in map(type, shape)


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
    return _small(tensor.data_type, tensor.dims)


def _small(dtype: int, dims) -> bool:
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
                    hints: dict[str, tuple], constants: list[int] | None = None,
                    inits: list[Initializer] | None = None) -> ModelProto:
    """A copy of the model without weight bytes; folded tensors become initializers."""
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
        if not t.external and _small(t.dtype, t.dims):
            g.initializer.append(t.proto)
        else:
            g.input.append(helper.make_tensor_value_info(t.name, t.dtype, list(t.dims)))
    g.input.extend(vi for vi in src.input if vi.name not in init_names)
    _apply_overrides(g, inputs, dims)
    if folded:
        g.node.extend(_skeleton_node(n) for n in src.node
                      if not (n.output and all(o in folded or not o for o in n.output)))
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
    for name, info in hints.items():
        if name not in folded and info.dtype:
            g.value_info.append(helper.make_tensor_value_info(name, info.dtype, list(info.shape)))
    return skel


def _dims_of(type_proto) -> tuple | None:
    if not type_proto.HasField("tensor_type"):
        return None
    tt = type_proto.tensor_type
    if not tt.HasField("shape"):
        return None
    return tuple(_dim(d) for d in tt.shape.dim)


def _dim(d) -> int | str | None:
    which = d.WhichOneof("value")
    if which == "dim_value":
        value = d.dim_value
        return value if value >= 0 else None
    if which == "dim_param":
        return d.dim_param or None
    return None


def declared_symbols(model: ModelProto) -> set[str]:
    """Dim names the model itself declares; any other symbol is one onnx invented (`unk__3`)."""
    names = set()
    g = model.graph
    for vi in (*g.input, *g.output, *g.value_info):
        if vi.type.HasField("tensor_type"):
            names.update(d.dim_param for d in vi.type.tensor_type.shape.dim if d.dim_param)
    return names


def _collect(inferred: ModelProto, symbols: set[str], nested: bool = True) -> dict[str, TensorInfo]:
    infos: dict[str, TensorInfo] = {}
    _collect_graph(inferred.graph, symbols, infos, 0, nested)
    return infos


def _collect_graph(g: GraphProto, symbols: set[str], infos: dict, depth: int, nested: bool = True,
                   types: dict | None = None) -> None:
    if types is None:
        types = {}
    if depth > 0:
        for t in g.initializer:
            infos[t.name] = TensorInfo(t.name, tuple(int(d) for d in t.dims), t.data_type, True)
    if nested and depth < 32:  # deeper nesting is refused by the walk
        for node in g.node:
            for attr in node.attribute:
                for sub in ([attr.g] if attr.type == AttributeProto.GRAPH else attr.graphs):
                    _collect_graph(sub, symbols, infos, depth + 1, types=types)
    for items in (g.input, g.value_info, g.output):
        for vi in items:
            name = vi.name
            if name.__class__ is not str or (name in infos and infos[name].shape is not None):
                continue
            # Most tensors share a type with others (every hidden state of a transformer is
            # float[1,S,D]): its serialized bytes are a cheap key, so each distinct type is
            # decoded from protobuf once, not once per tensor.
            key = vi.type.SerializeToString()
            decoded = types.get(key)
            if decoded is None:
                decoded = types[key] = _decode_type(vi.type, symbols)
            infos[name] = TensorInfo(name, *decoded)


def _decode_type(type_proto, symbols: set[str] | None) -> tuple[tuple | None, int]:
    """(shape, elem_type) of a TypeProto; non-tensor types have neither."""
    if type_proto.WhichOneof("value") != "tensor_type":
        return None, 0
    tt = type_proto.tensor_type
    if not tt.HasField("shape"):
        return None, tt.elem_type
    dims = []
    for d in tt.shape.dim:
        value = d.dim_value
        if value > 0:
            dims.append(value)
        else:
            param = d.dim_param
            if param and param.__class__ is str:
                dims.append(param if symbols is None or param in symbols else None)
            else:  # 0 is a real (empty) dim; a negative one is nonsense, so unknown
                dims.append(0 if value == 0 and d.HasField("dim_value") else None)
    return tuple(dims), tt.elem_type


def _run_onnx_inference(skel: ModelProto | bytes, warnings: list[str]) -> ModelProto:
    try:
        return onnx.shape_inference.infer_shapes(skel, check_type=False, strict_mode=False, data_prop=True)
    except Exception as first:  # onnx raises several types (InferenceError, ValidationError, RuntimeError)
        try:
            return onnx.shape_inference.infer_shapes(skel, check_type=False, strict_mode=False)
        except Exception:
            warnings.append(f"onnx shape inference failed ({str(first).splitlines()[0][:200]}); "
                            "shapes come from the model's own annotations only")
            return skel if isinstance(skel, ModelProto) else ModelProto.FromString(skel)


def _node_attrs(node: NodeProto) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


class _Values(dict):
    """Known small constant values by tensor name; initializers become numpy arrays only when
    asked for (most never are)."""

    def __init__(self, pending: dict[str, TensorProto]):
        super().__init__()
        self.pending = pending

    def _load(self, name: str) -> None:
        tensor = self.pending.pop(name, None)
        if tensor is not None:
            try:
                self[name] = numpy_helper.to_array(tensor)
            except (ValueError, TypeError, KeyError, IndexError):
                pass  # malformed data (a count that does not fit its dims): the value stays unknown

    def get(self, name, default=None):
        if name in self.pending:
            self._load(name)
        return dict.get(self, name, default)

    def __getitem__(self, name):
        if name in self.pending:
            self._load(name)
        return dict.__getitem__(self, name)

    def __contains__(self, name) -> bool:
        return dict.__contains__(self, name) or name in self.pending


def _initial_values(inits: list[Initializer]) -> _Values:
    return _Values({t.name: t.proto for t in inits
                    if not t.external and t.dtype != TensorProto.STRING and _small(t.dtype, t.dims)})


def _unknown(info: TensorInfo | None) -> bool:
    return info is None or info.shape is None or None in info.shape


def _inferred_dim(data: tuple, others: list):
    """Reshape's -1: |data| / ∏others, cancelling symbolic dims that appear on both sides."""
    if any(d is None for d in (*data, *others)):
        return None
    symbols = [d for d in data if isinstance(d, str)]
    for d in others:
        if isinstance(d, str):
            if d not in symbols:
                return None
            symbols.remove(d)
    numerator = math.prod(d for d in data if isinstance(d, int))
    denominator = math.prod(d for d in others if isinstance(d, int))
    if denominator == 0 or numerator % denominator:
        return None
    quotient = numerator // denominator
    if not symbols:
        return quotient
    return symbols[0] if len(symbols) == 1 and quotient == 1 else None


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
            dims[dims.index(-1)] = _inferred_dim(tuple(data.shape), [d for d in dims if d != -1])
    elif node.op_type == "Expand":
        data = infos.get(node.input[0])
        if data is None or data.shape is None or len(data.shape) > len(dims):
            return None
        pad = (1,) * (len(dims) - len(data.shape)) + tuple(data.shape)
        dims = [s if d == 1 else d for d, s in zip(dims, pad)]
    if all(d is None for d in dims):
        return None
    return tuple(dims)


@lru_cache(maxsize=None)
def _schema(op_type: str, domain: str, opset: int):
    try:
        return defs.get_schema(op_type, opset, domain)
    except Exception:  # no schema: a custom op or a local function
        return None


def _type_proto(info: TensorInfo) -> onnx.TypeProto:
    return helper.make_tensor_type_proto(info.dtype, None if info.shape is None else list(info.shape))


def _known_count(info: TensorInfo | None) -> int:
    if info is None or info.shape is None:
        return -1
    return sum(1 for d in info.shape if d is not None)


def _infer_node(model: ModelProto, node: NodeProto, opsets: dict, infos: dict, values: dict,
                symbols: set[str]) -> dict[str, TensorInfo]:
    """onnx's inference for one node, given the types and constant values known so far."""
    domain = "" if node.domain == "ai.onnx" else node.domain
    schema = _schema(node.op_type, domain, opsets.get(domain, 1))
    if schema is None and (domain, node.op_type) in CONTRIB_SHAPES:
        return _infer_contrib(node, domain, infos)
    if schema is None or any(a.type in (AttributeProto.GRAPH, AttributeProto.GRAPHS) for a in node.attribute):
        return {}
    names = [i for i in node.input if i]
    if any(i not in infos or not infos[i].dtype for i in names):
        return {}
    types = {i: _type_proto(infos[i]) for i in names}
    data = {i: numpy_helper.from_array(values[i], i) for i in names
            if i in values and not fold.is_partial(values[i])}
    try:
        out = onnx.shape_inference.infer_node_outputs(schema, node, types, data,
                                                      opset_imports=list(model.opset_import))
    except Exception:  # onnx raises several types; an op it cannot infer stays unknown
        return {}
    result = {}
    for name, type_proto in out.items():
        shape = _dims_of(type_proto)
        if shape is not None:
            shape = tuple(None if isinstance(d, str) and d not in symbols else d for d in shape)
        result[name] = TensorInfo(name, shape, type_proto.tensor_type.elem_type)
    return result


def _infer_contrib(node: NodeProto, domain: str, infos: dict) -> dict[str, TensorInfo]:
    shapes = [infos[i].shape if i and i in infos else None for i in node.input]
    outs = contrib_output_shapes(domain, node.op_type, shapes, _node_attrs(node))
    first = infos.get(node.input[0]) if node.input else None
    if not outs or first is None:
        return {}
    return {name: TensorInfo(name, tuple(shape), first.dtype)
            for name, shape in zip(node.output, outs) if name and shape is not None}


def _propagate(model: ModelProto, order: list[int], opsets: dict, infos: dict, values: dict,
               folded: dict, hints: dict, symbols: set[str]) -> bool:
    """One topological pass: evaluates shape arithmetic and re-infers each node whose outputs are
    unknown, so a resolved Reshape resolves everything after it. True if anything was learned."""
    learned = False
    for index in order:
        node = model.graph.node[index]
        if not node.output:
            continue
        op = node.op_type
        default_domain = node.domain in ("", "ai.onnx")
        if default_domain and op == "Constant":
            _constant_value(node, values)
            continue
        if default_domain and not all(o in values and not fold.is_partial(values[o]) for o in node.output if o):
            in_values = [values.get(i) if i else None for i in node.input]
            in_shapes = [infos[i].shape if i in infos else None for i in node.input]
            outs = fold.evaluate(op, in_values, _node_attrs(node), in_shapes)
            for name, value in zip(node.output, outs or ()):
                values[name] = value
                if not fold.is_partial(value) and name not in folded and _unknown(infos.get(name)):
                    folded[name] = value
                    infos[name] = TensorInfo(name, tuple(value.shape), helper.np_dtype_to_tensor_dtype(value.dtype))
                    learned = True
        if not any(_unknown(infos.get(o)) for o in node.output if o):
            continue
        better = _infer_node(model, node, opsets, infos, values, symbols)
        if default_domain and op in ("Reshape", "Expand", "ConstantOfShape"):
            hint = _shape_hint(node, values, infos)
            out = node.output[0]
            if hint is not None and _known_count(better.get(out)) < sum(d is not None for d in hint):
                dtype = better[out].dtype if out in better else (infos[node.input[0]].dtype if node.input[0] in infos else 0)
                if op == "ConstantOfShape":
                    value = _node_attrs(node).get("value")
                    dtype = value.data_type if value is not None else TensorProto.FLOAT
                better[out] = TensorInfo(out, hint, dtype)
        for name, info in better.items():
            if _known_count(info) > _known_count(infos.get(name)):
                infos[name] = info
                hints[name] = info
                learned = True
    return learned


def _constant_value(node: NodeProto, values: dict) -> None:
    attrs = _node_attrs(node)
    value = attrs.get("value")
    if value is not None:
        if value.data_location != TensorProto.EXTERNAL and value.data_type != TensorProto.STRING \
                and math.prod(value.dims) <= fold.MAX_FOLD_ELEMENTS:
            values[node.output[0]] = numpy_helper.to_array(value)
    elif "value_int" in attrs or "value_ints" in attrs:
        values[node.output[0]] = np.array(attrs.get("value_int", attrs.get("value_ints")), np.int64)


def infer(model: ModelProto, order: list[int], inputs: dict[str, tuple] | None = None,
          dims: dict[str, int] | None = None, nested: bool = True,
          constants: list[int] | None = None, views=None, skeleton_bytes: bytes | None = None,
          inits: list[Initializer] | None = None) -> ShapeResult:
    """Infers every tensor's shape; `inputs` and `dims` fix dynamic input shapes and named dims."""
    inputs, dims = inputs or {}, dims or {}
    warnings: list[str] = []
    folded: dict[str, np.ndarray] = {}
    hints: dict[str, TensorInfo] = {}
    inits = read_initializers(model.graph) if inits is None else inits
    values = _initial_values(inits)
    # the real initializers, external ones included: read once, they override what inference says
    init_infos = {t.name: TensorInfo(t.name, t.dims, t.dtype, True) for t in inits}
    symbols = declared_symbols(model)
    opsets = {("" if o.domain == "ai.onnx" else o.domain): o.version for o in model.opset_import} or {"": 1}
    outputs = [o for n in (views if views is not None else model.graph.node) for o in n.output if o]
    infos: dict[str, TensorInfo] = {}
    rounds = 0
    while rounds < MAX_ROUNDS:
        rounds += 1
        if rounds == 1 and skeleton_bytes is not None and not inputs and not dims and model.ir_version >= 4:
            skel = skeleton_bytes  # the file's own bytes (big weights already left out): nothing to copy
        else:
            skel = _build_skeleton(model, inputs, dims, folded, hints, constants, inits)
        fresh = _collect(_run_onnx_inference(skel, warnings), symbols, nested)
        fresh.update(init_infos)
        if not infos:
            infos = fresh
        else:
            for name, info in fresh.items():
                if _known_count(info) >= _known_count(infos.get(name)):
                    infos[name] = info
        if not any(_unknown(infos.get(o)) for o in outputs):
            break
        if not _propagate(model, order, opsets, infos, values, folded, hints, symbols):
            break
        if not any(_unknown(infos.get(o)) for o in outputs):
            break
    infos.update(init_infos)
    log.debug("shape inference took %d round(s)", rounds)
    return ShapeResult(infos, values, rounds, warnings)
