"""Inferred types back to TensorInfo: each distinct serialized type decoded once, symbols the model did
not declare dropped.
"""

from __future__ import annotations

from onnx import GraphProto, ModelProto

from modelaudit.load.attributes import body_graphs

from .annotations import ANONYMOUS, input_derived, input_symbols
from .dimexpr import evaluate_dim, is_identifier
from .tensor import TensorInfo

__all__ = ["collect_infos", "declared_symbols", "dims_of"]


def dims_of(type_proto) -> tuple | None:
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
        return None if d.dim_param in ANONYMOUS else d.dim_param
    return None


def declared_symbols(model: ModelProto, bound: dict[str, int] | None = None) -> set[str]:
    """Dim names that stand for something the graph inputs' free symbols decide (`batch`,
    `seq*batch`); any other symbol is one onnx or an exporter made up (`unk__3`), read as unknown.
    Symbols `bound` by --input/--dim are not free."""
    bound = bound or {}
    free = input_symbols(model.graph, frozenset()) - set(bound)
    names: set[str] = set()
    g = model.graph
    for vi in (*g.input, *g.output, *g.value_info):
        if vi.type.HasField("tensor_type"):
            names.update(d.dim_param for d in vi.type.tensor_type.shape.dim if d.dim_param)
    return {
        n
        for n in names
        if n.__class__ is str and input_derived(n, free) and (is_identifier(n) or evaluate_dim(n, bound) is None)
    }


def collect_infos(inferred: ModelProto, symbols: set[str], nested: bool = True) -> dict[str, TensorInfo]:
    infos: dict[str, TensorInfo] = {}
    _collect_graph(inferred.graph, symbols, infos, 0, nested)
    return infos


def _collect_graph(
    g: GraphProto, symbols: set[str], infos: dict, depth: int, nested: bool = True, types: dict | None = None
) -> None:
    if types is None:
        types = {}
    if depth > 0:
        for t in g.initializer:
            infos[t.name] = TensorInfo(t.name, tuple(int(d) for d in t.dims), t.data_type, True)
    if nested and depth < 32:  # deeper nesting is refused by the walk
        for node in g.node:
            for _, sub in body_graphs(node):
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
