"""onnx.checker on the weightless model: weights never read, never stat'ed; its verdict joins every report.

The checker's copy is made from the bytes the model was parsed from, at the wire level: the top
graph's weightless initializers left out and declared as graph inputs of their type and shape, a
node that holds a weight (a Constant, a subgraph's initializer) copied alone with its stand-ins and
put in its place. The parsed model is only read (a forked child's pages of it stay shared with its
parent's), and no copy of the whole model is made or serialized again (docs/performance.md).
"""

from __future__ import annotations

import onnx
from onnx import (
    AttributeProto,
    FunctionProto,
    ModelProto,
    NodeProto,
    SparseTensorProto,
    TensorProto,
    helper,
)

from .attributes import body_graphs
from .initializers import Initializer
from .wire import encode_field, encode_varint, fields

__all__ = ["structural_check", "weightless_bytes", "FULL_CHECK_NODES"]

FULL_CHECK_NODES = 5_000  # full_check re-runs strict shape inference on every node (docs/performance.md)
_DATA_FIELDS = frozenset(
    {"raw_data", "float_data", "int32_data", "int64_data", "double_data", "uint64_data", "string_data"}
)
_HOLDERS = frozenset({"Constant", "If", "Loop", "Scan", "SequenceMap"})  # ops whose attributes hold weights or graphs


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


def _node(node, stripped) -> bool:
    """Stand-ins put into a node (a copy): a Constant's weightless tensor becomes its sparse_value,
    a subgraph's weightless initializers sparse initializers. True where a subgraph got some: a
    subgraph cannot declare inputs of its own, and onnx's strict inference does not read a
    subgraph's sparse initializers (it fails with a rank-0 input), so the checker then runs
    structure only."""
    for attr in node.attribute:
        if attr.type == AttributeProto.TENSOR and node.op_type == "Constant" and _weightless(attr.t, stripped):
            attr.CopyFrom(helper.make_attribute("sparse_value", _stand_in(attr.t)))
    sparse = False
    for _, sub in body_graphs(node):
        sparse = _subgraph(sub, stripped) or sparse
    return sparse


def _subgraph(graph, stripped) -> bool:
    initializers = graph.initializer
    weightless = [i for i in _candidates(initializers, stripped) if _weightless(initializers[i], stripped)]
    for i in weightless:
        graph.sparse_initializer.append(_stand_in(initializers[i]))
    if weightless:
        gone = set(weightless)  # rebuilt, not deleted one by one: each delete moves every later element
        kept = [t for i, t in enumerate(initializers) if i not in gone]
        del initializers[:]
        initializers.extend(kept)
    sparse = bool(weightless)
    for node in graph.node:
        sparse = _node(node, stripped) or sparse
    return sparse


def _holders(nodes) -> list[int]:
    """The nodes that can hold a weight or a subgraph, by index: their op type says it, so no other
    node's attributes are read (docs/performance.md)."""
    return [i for i, node in enumerate(nodes) if node.op_type in _HOLDERS or node.domain not in ("", "ai.onnx")]


def _needs_stand_in(node, stripped) -> bool:
    """Whether _node would change this node (read only)."""
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


def _edited(nodes, indices, stripped, make) -> tuple[dict[int, bytes], bool]:
    """{index: the serialized copy with its stand-ins} of each listed node (or function) that needs one."""
    edited, sparse = {}, False
    for i in indices:
        copy = make()
        copy.CopyFrom(nodes[i])
        sparse = (_node(copy, stripped) if make is NodeProto else _function(copy, stripped)) or sparse
        edited[i] = copy.SerializeToString()
    return edited, sparse


def _function(function: FunctionProto, stripped) -> bool:
    sparse = False
    for node in function.node:
        sparse = _node(node, stripped) or sparse
    return sparse


def _candidates(initializers, stripped) -> list[int]:
    """The initializers that may be weightless: names are read only where some bytes stayed in the file."""
    if not stripped:
        return [i for i, t in enumerate(initializers) if t.data_location == TensorProto.EXTERNAL]
    return [i for i, t in enumerate(initializers) if t.name in stripped or t.data_location == TensorProto.EXTERNAL]


def _inputs_field(tensors, declared) -> bytes:
    """GraphProto.input entries (field 11) declaring each tensor's type and shape, as wire bytes
    merged in one call (docs/performance.md). A ValueInfoProto is {1: name, 2: TypeProto
    {1: tensor_type {1: elem_type, 2: shape {1: dim {1: dim_value}}}}}; dims are never negative
    here (load refuses such initializers)."""
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


class _Edits:
    """What the checker's copy changes in the model's bytes: top-graph initializers dropped (by
    index, counted in the order protobuf parses them, across repeated graph fields), nodes and
    functions replaced (by index, the same way), `inputs` (GraphProto field 11 entries) after the
    last graph field, training_info left out."""

    def __init__(self, dropped: set[int], inputs: bytes, nodes: dict[int, bytes], functions: dict[int, bytes]):
        self.dropped, self.inputs, self.nodes, self.functions = dropped, inputs, nodes, functions
        self.initializer = self.node = 0  # the indices reached, across graph fields

    def graph(self, data: bytes, body: int, end: int, last: bool) -> bytes:
        pieces, kept_from = [], body
        for number, wire, start, _, stop in fields(data, body, end):
            if wire != 2 or number not in (1, 5):
                continue
            if number == 5:
                replacement = b"" if self.initializer in self.dropped else None
                self.initializer += 1
            else:
                replacement = self.nodes.get(self.node)
                replacement = None if replacement is None else encode_field(1, replacement)
                self.node += 1
            if replacement is not None:
                pieces += [data[kept_from:start], replacement]
                kept_from = stop
        pieces.append(data[kept_from:end])
        if last:
            pieces.append(self.inputs)
        return b"".join(pieces)

    def model(self, data: bytes) -> bytes:
        top = list(fields(data, 0, len(data)))
        graphs = [k for k, (number, wire, *_) in enumerate(top) if number == 7 and wire == 2]
        out, function, last = [], 0, graphs[-1] if graphs else None
        for k, (number, wire, start, body, end) in enumerate(top):
            if wire == 2 and number == 7:
                out.append(encode_field(7, self.graph(data, body, end, k == last)))
            elif wire == 2 and number == 25:
                replaced = self.functions.get(function)
                out.append(data[start:end] if replaced is None else encode_field(25, replaced))
                function += 1
            elif number != 20:  # training graphs are not audited: their weights stay unread
                out.append(data[start:end])
        return b"".join(out)


def weightless_bytes(
    model: ModelProto, data: bytes, stripped, inits: list[Initializer] | None = None, holders: list[int] | None = None
) -> tuple[bytes, bool]:
    """The checker's weightless model as wire bytes made from `data` (the bytes `model` was parsed
    from), and whether a subgraph's weights stood in as sparse initializers. `stripped`: the names
    of tensors whose bytes were left in the file; `inits` and `holders` (the nodes that can hold a
    weight or a subgraph, by index) from the caller's records where it has them: each name read
    from protobuf again is a fresh object (docs/performance.md)."""
    graph = model.graph
    nodes, initializers = graph.node, graph.initializer
    holders = _holders(nodes) if holders is None else holders
    edited_nodes, sparse = _edited(
        nodes, [i for i in holders if _needs_stand_in(nodes[i], stripped)], stripped, NodeProto
    )
    functions = model.functions
    needs = [j for j, f in enumerate(functions) if any(_needs_stand_in(n, stripped) for n in f.node)]
    edited_functions, sparse_functions = _edited(functions, needs, stripped, FunctionProto)
    if inits is None:
        candidates = _candidates(initializers, stripped)
    else:
        candidates = [i for i, t in enumerate(inits) if t.external or t.name in stripped]
    weightless = [i for i in candidates if _weightless(initializers[i], stripped)]
    declared = {vi.name for vi in graph.input} if weightless else set()
    inputs = _inputs_field([initializers[i] for i in weightless], declared)
    edits = _Edits(set(weightless), inputs, edited_nodes, edited_functions)
    return edits.model(data), sparse or sparse_functions


def structural_check(
    model: ModelProto,
    data: bytes | None = None,
    stripped=frozenset(),
    inits: list[Initializer] | None = None,
    holders: list[int] | None = None,
) -> dict:
    """{"valid", "full_check", "error"}: onnx.checker's verdict on a copy whose weight tensors stand in
    empty (so no external file is looked up, relative to any folder). `full_check` (strict shape
    inference) runs on graphs up to FULL_CHECK_NODES nodes. `data`: the bytes `model` was parsed
    from (serialized here without them, as onnx.checker would); the other arguments as
    weightless_bytes'. Its C++ copy of the model is freed on return; load/heap.py hands it back."""
    if data is None:
        data = model.SerializeToString()
    sparse = False  # a subgraph's weights stand in as sparse initializers: strict inference cannot run
    if stripped or b"location" in data:  # some weight is outside the bytes: it stands in
        data, sparse = weightless_bytes(model, data, stripped, inits, holders)
    # strict inference expands local functions in place: their cost is bounded by the audit's own
    # inference limits, not here, so a model with functions gets the structural check only
    full = len(model.graph.node) <= FULL_CHECK_NODES and not model.functions and not sparse
    try:
        onnx.checker.check_model(data, full_check=full)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        return {"valid": False, "full_check": full, "error": " ".join(str(exc).split())[:500]}
    except MemoryError:
        raise  # the memory limit: the command stops with exit 5, not a verdict on the model
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
