"""onnx.checker on the weightless model: weights never read, never stat'ed; its verdict joins every report."""

from __future__ import annotations

import onnx
from onnx import (
    AttributeProto,
    ModelProto,
    SparseTensorProto,
    TensorProto,
    helper,
)

from .attributes import body_graphs
from .wire import encode_field, encode_varint, fields

__all__ = ["structural_check", "FULL_CHECK_NODES"]

FULL_CHECK_NODES = 5_000  # full_check re-runs strict shape inference: 28 µs a node (docs/performance.md)
_DATA_FIELDS = frozenset(
    {"raw_data", "float_data", "int32_data", "int64_data", "double_data", "uint64_data", "string_data"}
)


def _weightless(tensor: TensorProto, stripped) -> bool:
    """Its bytes are in the file (left there by the wire walk) or in external data."""
    if tensor.data_location == TensorProto.EXTERNAL:
        return True
    return tensor.name in stripped and not any(f.name in _DATA_FIELDS for f, _ in tensor.ListFields())


def _stand_in(tensor: TensorProto) -> SparseTensorProto:
    """An empty sparse tensor of the same dims and type: the checker and inference see the shape,
    and no byte of the weight."""
    values = TensorProto(name=tensor.name, data_type=tensor.data_type, dims=[0])
    indices = TensorProto(name=f"{tensor.name}_indices", data_type=TensorProto.INT64, dims=[0])
    return SparseTensorProto(values=values, indices=indices, dims=list(tensor.dims))


_HOLDERS = frozenset({"Constant", "If", "Loop", "Scan", "SequenceMap"})  # ops whose attributes hold weights or graphs


def _node(node, stripped) -> bool:
    """Stand-ins put into the node; True where a subgraph got sparse initializers (see _graph)."""
    for attr in node.attribute:
        if attr.type == AttributeProto.TENSOR and node.op_type == "Constant" and _weightless(attr.t, stripped):
            attr.CopyFrom(helper.make_attribute("sparse_value", _stand_in(attr.t)))
    sparse = False
    for _, sub in body_graphs(node):
        sparse = _graph(sub, stripped, top=False) or sparse
    return sparse


def _nodes(nodes, stripped, holders=None) -> bool:
    """Reading every node's attributes costs 0.2 s on 52,000 nodes: only the nodes that can hold a
    weight or a subgraph are visited (`holders`: their indices, when the caller knows them)."""
    if holders is None:
        holders = _holders(nodes)
    sparse = False
    for i in holders:
        sparse = _node(nodes[i], stripped) or sparse
    return sparse


def _holders(nodes) -> list[int]:
    """The nodes that can hold a weight or a subgraph, by index."""
    return [i for i, node in enumerate(nodes) if node.op_type in _HOLDERS or node.domain not in ("", "ai.onnx")]


def _needs_stand_in(node, stripped) -> bool:
    """Whether _node would change this node (read only: a forked child's pages stay shared)."""
    if node.op_type == "Constant":
        for attr in node.attribute:
            if attr.type == AttributeProto.TENSOR and _weightless(attr.t, stripped):
                return True
    for _, sub in body_graphs(node):
        initializers, nodes = sub.initializer, sub.node
        if any(_weightless(initializers[i], stripped) for i in _candidates(initializers, stripped)):
            return True
        if any(_needs_stand_in(nodes[i], stripped) for i in _holders(nodes)):
            return True
    return False


def _wire_copy(serialized: bytes, dropped: set[int], inputs: bytes) -> bytes:
    """What _graph(top=True) and the dropped training_info make of a parsed copy, as wire bytes:
    the model's own bytes without the top graph's initializers numbered in `dropped` (counted in
    the order protobuf parses them, across repeated graph fields) and with `inputs` (GraphProto
    field 11 entries) after the last. No parsed message is copied, edited or serialized again."""
    graphs = [
        (start, body, end)
        for number, wire, start, body, end in fields(serialized, 0, len(serialized))
        if number == 7 and wire == 2
    ]
    out, run, index = [], 0, 0
    for n, (start, body, end) in enumerate(graphs):
        pieces, kept_from = [], body
        for number, wire, field_start, _, field_end in fields(serialized, body, end):
            if number == 5 and wire == 2:
                if index in dropped:
                    pieces.append(serialized[kept_from:field_start])
                    kept_from = field_end
                index += 1
        pieces.append(serialized[kept_from:end])
        if n == len(graphs) - 1:
            pieces.append(inputs)
        graph = b"".join(pieces)
        out += [serialized[run:start], encode_field(7, graph)]
        run = end
    out.append(serialized[run:])
    model = b"".join(out)
    if b"\xa2\x01" not in model:  # no training_info key anywhere: the common case, nothing more to walk
        return model
    return b"".join(model[start:end] for number, _, start, _, end in fields(model, 0, len(model)) if number != 20)


def _weightless_bytes(model: ModelProto, serialized: bytes, stripped, holders, candidates) -> bytes | None:
    """The checker's weightless model as wire bytes built from `serialized` (the bytes `model` was
    parsed from): neither a copy of the parsed model nor its serialization, and a forked child's
    pages of `model` are only read. None where a local function, a node's attribute or a subgraph
    needs a stand-in (_graph edits those in a parsed copy)."""
    if model.functions:
        return None
    graph = model.graph
    nodes = graph.node
    if any(_needs_stand_in(nodes[i], stripped) for i in (holders if holders is not None else _holders(nodes))):
        return None
    initializers = graph.initializer
    if candidates is None:
        candidates = _candidates(initializers, stripped)
    weightless = [i for i in candidates if _weightless(initializers[i], stripped)]
    declared = {vi.name for vi in graph.input} if weightless else set()
    return _wire_copy(serialized, set(weightless), _inputs_field([initializers[i] for i in weightless], declared))


def _candidates(initializers, stripped) -> list[int]:
    """The initializers that may be weightless, without the caller's records: names are read only
    where some bytes stayed in the file."""
    if not stripped:
        return [i for i, t in enumerate(initializers) if t.data_location == TensorProto.EXTERNAL]
    return [i for i, t in enumerate(initializers) if t.name in stripped or t.data_location == TensorProto.EXTERNAL]


def _inputs_field(tensors, declared) -> bytes:
    """GraphProto.input entries (field 11) declaring each tensor's type and shape, as wire bytes
    merged in one call: 18,000 ValueInfoProtos built field by field from Python took 0.1 s. A
    ValueInfoProto is {1: name, 2: TypeProto {1: tensor_type {1: elem_type, 2: shape {1: dim
    {1: dim_value}}}}}; dims are never negative here (load refuses such initializers)."""
    types: dict[tuple, bytes] = {}
    out = []
    for t in tensors:
        name = t.name
        if name in declared:
            continue
        key = (t.data_type, tuple(t.dims))
        type_bytes = types.get(key)
        if type_bytes is None:
            shape = b"".join(encode_field(1, b"\x08" + encode_varint(d)) for d in key[1])
            tensor_type = b"\x08" + encode_varint(key[0]) + encode_field(2, shape)
            type_bytes = types[key] = encode_field(2, encode_field(1, tensor_type))
        out.append(encode_field(11, encode_field(1, name.encode("utf-8")) + type_bytes))
    return b"".join(out)


def _graph(graph, stripped, top: bool, holders=None, candidates=None) -> bool:
    """`holders`: the node indices to visit; `candidates`: the initializers that may be weightless
    (by index; from the caller's records, since reading 30,000 names from protobuf costs 0.1 s).
    True where a subgraph's weightless initializers became sparse initializers: a subgraph cannot
    declare inputs of its own, and onnx's strict inference does not read a subgraph's sparse
    initializers (it fails with a rank-0 input), so the checker then runs structure only."""
    initializers = graph.initializer
    if candidates is None:
        candidates = _candidates(initializers, stripped)
    weightless = [i for i in candidates if _weightless(initializers[i], stripped)]
    if weightless:
        if top:  # graph inputs of the same type and shape, as onnx's own skeletons do
            declared = {vi.name for vi in graph.input}
            graph.MergeFromString(_inputs_field([initializers[i] for i in weightless], declared))
        else:
            for i in weightless:
                graph.sparse_initializer.append(_stand_in(initializers[i]))
        gone = set(weightless)  # rebuilt, not deleted one by one: each delete moves every later element
        kept = [t for i, t in enumerate(initializers) if i not in gone]
        del initializers[:]
        initializers.extend(kept)
    return _nodes(graph.node, stripped, holders) or (bool(weightless) and not top)


def structural_check(
    model: ModelProto,
    stripped=frozenset(),
    weightless: bool = True,
    serialized: bytes | None = None,
    holders: list[int] | None = None,
    candidates: list[int] | None = None,
    in_place: bool = False,
) -> dict:
    """{"valid", "full_check", "error"}: onnx.checker's verdict on a copy whose weight tensors stand in
    empty (so no external file is looked up, relative to any folder). `full_check` (strict shape
    inference) runs on graphs up to FULL_CHECK_NODES nodes. `in_place`: the stand-ins go into
    `model` itself, for a caller that owns a throwaway copy (a forked child's image: no second
    copy of the model in its memory). `serialized`: the bytes `model` was parsed from, when the
    caller has them: the checker's copy is then made at the wire level (_weightless_bytes)."""
    sparse = False  # a subgraph's weights stand in as sparse initializers: strict inference cannot run
    if not weightless:  # nothing to stand in: the checker reads the model as it is
        copy = serialized if serialized is not None else model
    else:
        copy = _weightless_bytes(model, serialized, stripped, holders, candidates) if serialized is not None else None
        if copy is None:  # a parsed copy, edited
            copy = model if in_place else ModelProto()
            if not in_place:
                copy.CopyFrom(model)
            sparse = _graph(copy.graph, stripped, top=True, holders=holders, candidates=candidates)
            for function in copy.functions:
                _nodes(function.node, stripped)
            del copy.training_info[:]  # training graphs are not audited; their weights stay unread
    # strict inference expands local functions in place: their cost is bounded by the audit's own
    # inference limits, not here, so a model with functions gets the structural check only
    full = len(model.graph.node) <= FULL_CHECK_NODES and not model.functions and not sparse
    try:
        onnx.checker.check_model(copy, full_check=full)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        return {"valid": False, "full_check": full, "error": " ".join(str(exc).split())[:500]}
    except Exception as exc:  # the checker's own failures on hostile input (protobuf, C++ exceptions)
        return {"valid": False, "full_check": full, "error": " ".join(f"{type(exc).__name__}: {exc}".split())[:500]}
    newer = _newer_than_onnx(model)
    return {"valid": newer is None, "full_check": full, "error": newer}


def _newer_than_onnx(model: ModelProto) -> str | None:
    """The checker accepts a default-domain opset no onnx release defines (99): onnxruntime does not."""
    latest = onnx.defs.onnx_opset_version()
    for entry in model.opset_import:
        if entry.domain in ("", "ai.onnx") and entry.version > latest:
            return f"default-domain opset {entry.version} is newer than any onnx defines ({latest})"
    return None
