"""The node-by-node fallback pass: shapes onnx's inference left unknown, from folded integer values and
per-op shape hints.
"""

from __future__ import annotations

import math
from collections import ChainMap
from functools import cache
from typing import NamedTuple

import numpy as np
import onnx
from onnx import (
    AttributeProto,
    ModelProto,
    NodeProto,
    TensorProto,
    defs,
    helper,
    numpy_helper,
)

from modelaudit.load.initializers import Initializer, holds_data

from . import fold
from .bodies import body_graphs, carried, loop_like, merge, node_outputs, seeds
from .collect import dims_of
from .contrib import CONTRIB_SHAPES, NCHWC, contrib_output_dtype, contrib_output_shapes, nchwc_block
from .skeleton import is_small
from .tensor import TensorInfo

__all__ = ["propagate", "initial_values", "is_unknown", "known_count", "infer_node"]


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
        if tensor is not None and holds_data(tensor):  # asked here, not for every initializer at load
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
        if name in self.pending:  # a value is known once its tensor decodes (bytes left in the file do not)
            self._load(name)
        return dict.__contains__(self, name)


def initial_values(inits: list[Initializer]) -> _Values:
    return _Values(
        {
            t.name: t.proto
            for t in inits
            if not t.external and t.dtype != TensorProto.STRING and is_small(t.dtype, t.dims)
        }
    )


def is_unknown(info: TensorInfo | None) -> bool:
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
        dims = [data.shape[i] if d == 0 and not allowzero and i < len(data.shape) else d for i, d in enumerate(dims)]
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


@cache
def _schema(op_type: str, domain: str, opset: int):
    try:
        return defs.get_schema(op_type, opset, domain)
    except Exception:  # no schema: a custom op or a local function
        return None


def _type_proto(info: TensorInfo) -> onnx.TypeProto:
    return helper.make_tensor_type_proto(info.dtype, None if info.shape is None else list(info.shape))


def known_count(info: TensorInfo | None) -> int:
    if info is None or info.shape is None:
        return -1
    return sum(1 for d in info.shape if d is not None)


def _infer_node(
    model: ModelProto, node: NodeProto, opsets: dict, infos: dict, values: dict, symbols: set[str]
) -> dict[str, TensorInfo]:
    """onnx's inference for one node, given the types and constant values known so far."""
    domain = "" if node.domain == "ai.onnx" else node.domain
    schema = _schema(node.op_type, domain, opsets.get(domain, 1))
    if (schema is None or domain == "ai.onnx.ml") and (domain, node.op_type) in CONTRIB_SHAPES:
        # ai.onnx.ml's schemas infer types only: the shape comes from the attributes
        return _infer_contrib(model, node, domain, infos)
    if schema is None or any(a.type in (AttributeProto.GRAPH, AttributeProto.GRAPHS) for a in node.attribute):
        return {}
    names = [i for i in node.input if i]
    if any(i not in infos or not infos[i].dtype for i in names):
        return {}
    types = {i: _type_proto(infos[i]) for i in names}
    data = {i: numpy_helper.from_array(values[i], i) for i in names if i in values and not fold.is_partial(values[i])}
    try:
        out = onnx.shape_inference.infer_node_outputs(schema, node, types, data, opset_imports=list(model.opset_import))
    except Exception:  # onnx raises several types; an op it cannot infer stays unknown
        return {}
    result = {}
    for name, type_proto in out.items():
        shape = dims_of(type_proto)
        if shape is not None:
            shape = tuple(None if isinstance(d, str) and d not in symbols else d for d in shape)
        result[name] = TensorInfo(name, shape, type_proto.tensor_type.elem_type)
    return result


_BLOCK: dict[int, tuple[ModelProto, int | None]] = {}  # the last model's NCHWc block size


def _block(model: ModelProto, infos: dict) -> int | None:
    """nchwc_block() of the model, from its NCHWc convs' weights, worked out once per model."""
    cached = _BLOCK.get(id(model))
    if cached is not None and cached[0] is model:
        return cached[1]
    channels = []
    for node in model.graph.node:
        if node.domain == NCHWC and node.op_type == "Conv" and len(node.input) > 1:
            w = infos.get(node.input[1])
            if w is not None and w.shape and isinstance(w.shape[0], int):
                channels.append(w.shape[0])
    _BLOCK.clear()
    _BLOCK[id(model)] = (model, nchwc_block(channels))
    return _BLOCK[id(model)][1]


infer_node = _infer_node  # one node's outputs from its inputs' infos alone (shapes.contradictions)


def _infer_contrib(model: ModelProto, node: NodeProto, domain: str, infos: dict) -> dict[str, TensorInfo]:
    shapes = [infos[i].shape if i and i in infos else None for i in node.input]
    attrs = _node_attrs(node)
    if domain == NCHWC and node.op_type == "ReorderInput":
        attrs["block"] = _block(model, infos)
    outs = contrib_output_shapes(domain, node.op_type, shapes, attrs)
    first = infos.get(node.input[0]) if node.input else None
    if not outs or first is None:
        return {}
    dtypes = [infos[i].dtype if i and i in infos else None for i in node.input]
    op = node.op_type
    return {
        name: TensorInfo(name, tuple(shape), contrib_output_dtype(domain, op, dtypes, i) or first.dtype)
        for i, (name, shape) in enumerate(zip(node.output, outs))
        if name and shape is not None
    }


def propagate(
    model: ModelProto,
    order: list[int],
    opsets: dict,
    infos: dict,
    values: dict,
    folded: dict,
    hints: dict,
    symbols: set[str],
) -> bool:
    """One topological pass: evaluates shape arithmetic and re-infers each node whose outputs are
    unknown, so a resolved Reshape resolves everything after it. True if anything was learned."""
    learned = False
    scope = _Scope(model, opsets, symbols)
    for index in order:
        learned |= _visit(scope, model.graph.node[index], infos, values, folded, hints, 0)
    return learned


class _Scope(NamedTuple):
    """What stays the same over a pass: the model, its opsets, the symbols it declares."""

    model: ModelProto
    opsets: dict
    symbols: set[str]


def _visit(scope: _Scope, node: NodeProto, infos: dict, values: dict, folded: dict, hints: dict, depth: int) -> bool:
    """One node; inside a subgraph (depth > 0) `folded` and `hints` are scratch: they become the
    next round's initializers and value_info of the top-level graph only."""
    if not node.output:
        return False
    learned = False
    op = node.op_type
    default_domain = node.domain in ("", "ai.onnx")
    if default_domain and op == "Constant":
        _constant_value(node, values)
        return False
    if default_domain and not all(o in values and not fold.is_partial(values[o]) for o in node.output if o):
        in_values = [values.get(i) if i else None for i in node.input]
        in_shapes = [infos[i].shape if i in infos else None for i in node.input]
        outs = fold.evaluate(op, in_values, _node_attrs(node), in_shapes)
        for name, value in zip(node.output, outs or ()):
            values[name] = value
            if not fold.is_partial(value) and name not in folded and is_unknown(infos.get(name)):
                folded[name] = value
                infos[name] = TensorInfo(name, tuple(value.shape), helper.np_dtype_to_tensor_dtype(value.dtype))
                learned = True
    graphs = body_graphs(node) if len(node.attribute) else ()
    if graphs and depth < 32:  # deeper nesting is refused by the walk
        better = _visit_bodies(scope, node, graphs, infos, values, depth)
    elif not any(is_unknown(infos.get(o)) for o in node.output if o):
        return learned
    else:
        better = _infer_node(scope.model, node, scope.opsets, infos, values, scope.symbols)
    if default_domain and op in ("Reshape", "Expand", "ConstantOfShape"):
        hint = _shape_hint(node, values, infos)
        out = node.output[0]
        if hint is not None and known_count(better.get(out)) < sum(d is not None for d in hint):
            dtype = (
                better[out].dtype if out in better else (infos[node.input[0]].dtype if node.input[0] in infos else 0)
            )
            if op == "ConstantOfShape":
                fill = _node_attrs(node).get("value")
                dtype = fill.data_type if fill is not None else TensorProto.FLOAT
            better[out] = TensorInfo(out, hint, dtype)
    for name, info in better.items():
        if known_count(info) > known_count(infos.get(name)):
            infos[name] = info
            hints[name] = info
            learned = True
    return learned


def _visit_bodies(
    scope: _Scope, node: NodeProto, graphs: list, infos: dict, values: dict, depth: int
) -> dict[str, TensorInfo]:
    """Walks If branches and Loop/Scan bodies with the enclosing scope's shapes and values in view,
    and returns the node's outputs. A Loop or Scan body runs first on the state it is fed; where a
    carried value's shape changes from step to step, it runs again with those dims unknown, so no
    shape of the first step stands for every step."""
    opset = scope.opsets.get(node.domain if node.domain != "ai.onnx" else "", 1)
    for _, graph in graphs:
        if not loop_like(node, opset):
            _visit_body(scope, graph, infos, values, depth, {})
            continue
        scratch = _visit_body(
            scope, graph, ChainMap({}, infos), ChainMap({}, values), depth, seeds(node, graph, infos, opset)
        )
        steps = carried(node, graph)
        first = [scratch[0].get(a) for a, _ in steps]
        later = [scratch[0].get(b) for _, b in steps]
        shapes = [merge(f.shape if f else None, s.shape if s else None) for f, s in zip(first, later)]
        if any(f is None or s is None or f.shape != s.shape for f, s in zip(first, later)):
            scratch = _visit_body(
                scope, graph, ChainMap({}, infos), ChainMap({}, values), depth, seeds(node, graph, infos, opset, shapes)
            )
        local_infos, local_values = scratch[0].maps[0], scratch[1].maps[0]
        for name, info in local_infos.items():
            if known_count(info) > known_count(infos.get(name)):
                infos[name] = info
        values.update(local_values)
    return node_outputs(node, graphs, infos, values, opset)


def _visit_body(scope: _Scope, graph, infos, values, depth: int, formal: dict[str, TensorInfo]) -> tuple:
    for name, info in formal.items():
        if known_count(info) > known_count(infos.get(name)) or name not in infos:
            infos[name] = info
    for t in graph.initializer:  # a body's own initializers: their shapes, and their values when small
        infos[t.name] = TensorInfo(t.name, tuple(t.dims), t.data_type, True)
        if t.data_type != TensorProto.STRING and is_small(t.data_type, t.dims) and holds_data(t):
            try:
                values[t.name] = numpy_helper.to_array(t)
            except (ValueError, TypeError, KeyError, IndexError):
                pass  # malformed data: the value stays unknown
    for sub in graph.node:
        _visit(scope, sub, infos, values, {}, {}, depth + 1)
    return infos, values


def _constant_value(node: NodeProto, values: dict) -> None:
    attrs = _node_attrs(node)
    value = attrs.get("value")
    if value is not None:
        # holds_data: a mid-size Constant's bytes may have been left in the file by the light read
        if (
            value.data_type != TensorProto.STRING
            and math.prod(value.dims) <= fold.MAX_FOLD_ELEMENTS
            and holds_data(value)
        ):
            try:
                values[node.output[0]] = numpy_helper.to_array(value)
            except (ValueError, TypeError, KeyError, IndexError):
                pass  # malformed data (a count that does not fit its dims): the value stays unknown
    elif "value_int" in attrs or "value_ints" in attrs:
        values[node.output[0]] = np.array(attrs.get("value_int", attrs.get("value_ints")), np.int64)
