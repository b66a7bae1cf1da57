"""Which tensors are weights: initializers, Constant nodes and constant subgraphs, counted once.

A *leaf* is where constant data starts: an initializer, a Constant node, or a generator such as
ConstantOfShape. Constant-only nodes (Identity, Cast, Reshape, Transpose, DequantizeLinear…) pass
their leaves on. A leaf counts as params when it reaches a weight slot of a computing node and is
a floating-point tensor of more than one element (or a quantized integer one); it is
non-trainable when it reaches a slot such as BatchNorm's running mean or a quantization scale.
External data is never read: element counts come from the dims.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from onnx import TensorProto, helper

from .dtypes import dtype_name, is_float, is_integer, tensor_bytes
from .graph import ModelGraph
from .walk import Visit, flatten, subgraphs, walk

__all__ = ["Leaf", "WeightTable", "find_weights", "NON_TRAINABLE_SLOTS", "IGNORED_SLOTS"]

# Input slots whose constants are statistics or quantization parameters, not learned weights.
NON_TRAINABLE_SLOTS: dict[str, frozenset[int]] = {
    "BatchNormalization": frozenset({3, 4}),
    "DequantizeLinear": frozenset({1, 2}),
    "QuantizeLinear": frozenset({1, 2}),
    "QLinearConv": frozenset({1, 2, 4, 5, 6, 7}),
    "QLinearMatMul": frozenset({1, 2, 4, 5, 6, 7}),
    "ConvInteger": frozenset({2, 3}),
    "MatMulInteger": frozenset({2, 3}),
    "MatMulNBits": frozenset({2, 3}),
}
# Input slots whose constants are settings (sizes, scales, bounds, initial state), not weights.
IGNORED_SLOTS: dict[str, frozenset[int]] = {
    "Resize": frozenset({1, 2, 3}), "Upsample": frozenset({1}), "Pad": frozenset({1, 2, 3}),
    "Clip": frozenset({1, 2}), "LSTM": frozenset({4, 5, 6}), "GRU": frozenset({4, 5}),
    "RNN": frozenset({4, 5}), "Reshape": frozenset({1}), "Expand": frozenset({1}),
    "Tile": frozenset({1}), "Slice": frozenset({1, 2, 3, 4}), "Range": frozenset({0, 1, 2}),
    "ConstantOfShape": frozenset({0}), "Squeeze": frozenset({1}), "Unsqueeze": frozenset({1}),
    "TopK": frozenset({1}), "Split": frozenset({1}), "OneHot": frozenset({1, 2}),
}
# Ops whose integer weight operands are quantized weights (params with their true dtype).
QUANT_WEIGHT_OPS = frozenset({"QLinearConv", "QLinearMatMul", "ConvInteger", "MatMulInteger",
                              "MatMulNBits", "DynamicQuantizeMatMul", "QGemm", "QAttention",
                              "GatherBlockQuantized", "QLinearAdd", "QLinearMul"})
def _unpack_nbits(node, leaf: Leaf) -> None:
    """MatMulNBits stores an N×K weight as `bits`-bit values packed into uint8 blobs."""
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    if "K" in attrs and "N" in attrs:
        leaf.numel = int(attrs["K"]) * int(attrs["N"])
        leaf.packed_bits = int(attrs.get("bits", 4))


# op -> (weight slot, how to read the packed weight's true element count and bits)
_PACKED = {"MatMulNBits": (1, _unpack_nbits)}
_NOT_CONSTANT = frozenset({"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike",
                           "Multinomial", "Bernoulli", "If", "Loop", "Scan"})
_GENERATORS = frozenset({"ConstantOfShape"})

DATA, QWEIGHT, NON_TRAINABLE = "data", "qweight", "non-trainable"


@dataclass
class Leaf:
    """One stored (or generated) constant tensor."""

    name: str
    numel: int
    dtype: int
    origin: str  # initializer | Constant | ConstantOfShape | sparse_initializer
    external: bool = False
    role: str | None = None  # "param" or "non-trainable" once classified
    packed_bits: int | None = None  # a packed sub-byte weight: numel is its logical element count
    node: int | str | None = None  # the key of the computing node its params are reported on

    @property
    def nbytes(self) -> int:
        if self.packed_bits:
            return (self.numel * self.packed_bits + 7) // 8
        return tensor_bytes(self.numel, self.dtype) or 0

    @property
    def dtype_label(self) -> str:
        return f"uint{self.packed_bits}" if self.packed_bits else dtype_name(self.dtype)


@dataclass
class WeightTable:
    leaves: dict[str, Leaf]
    constant_nodes: set
    constant_tensors: set[str]
    params_by_node: dict = field(default_factory=dict)
    non_trainable_by_node: dict = field(default_factory=dict)

    @property
    def params(self) -> int:
        return sum(l.numel for l in self.leaves.values() if l.role == "param")

    @property
    def non_trainable(self) -> int:
        return sum(l.numel for l in self.leaves.values() if l.role == "non-trainable")

    def bytes_by_dtype(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for leaf in self.leaves.values():
            if leaf.role:
                key = leaf.dtype_label
                out[key] = out.get(key, 0) + leaf.nbytes
        return dict(sorted(out.items()))


def _constant_leaf(node) -> Leaf | None:
    for attr in node.attribute:
        name = node.output[0]
        if attr.name == "value":
            t = attr.t
            return Leaf(name, math.prod(t.dims), t.data_type, "Constant", t.data_location == TensorProto.EXTERNAL)
        if attr.name == "sparse_value":
            return Leaf(name, math.prod(attr.sparse_tensor.values.dims), attr.sparse_tensor.values.data_type, "Constant")
        if attr.name in ("value_float", "value_int", "value_string"):
            dtype = {"value_float": TensorProto.FLOAT, "value_int": TensorProto.INT64}.get(attr.name, TensorProto.STRING)
            return Leaf(name, 1, dtype, "Constant")
        if attr.name in ("value_floats", "value_ints", "value_strings"):
            value = helper.get_attribute_value(attr)
            dtype = {"value_floats": TensorProto.FLOAT, "value_ints": TensorProto.INT64}.get(attr.name, TensorProto.STRING)
            return Leaf(name, len(value), dtype, "Constant")
    return None


def _generated_leaf(mg: ModelGraph, node) -> Leaf | None:
    out = node.output[0]
    info = mg.info(out)
    shape_value = mg.values.get(node.input[0]) if node.input else None
    if shape_value is not None and shape_value.dtype != object:
        numel = math.prod(int(d) for d in shape_value.reshape(-1))
    elif info is not None and info.known:
        numel = math.prod(info.shape)
    else:
        return None
    value = next((a.t for a in node.attribute if a.name == "value"), None)
    dtype = value.data_type if value is not None else TensorProto.FLOAT
    return Leaf(out, numel, dtype, node.op_type)


def _slot(op: str, i: int) -> str:
    if i in NON_TRAINABLE_SLOTS.get(op, ()):
        return NON_TRAINABLE
    if i in IGNORED_SLOTS.get(op, ()):
        return "ignore"
    return DATA


def _add_initializers(graph, leaves: dict, const: dict) -> None:
    for t in graph.initializer:
        leaves[t.name] = Leaf(t.name, math.prod(t.dims), t.data_type, "initializer",
                              t.data_location == TensorProto.EXTERNAL)
        const[t.name] = [(t.name, DATA)]
    for st in graph.sparse_initializer:
        name = st.values.name
        leaves[name] = Leaf(name, math.prod(st.values.dims), st.values.data_type, "sparse_initializer")
        const[name] = [(name, DATA)]


def find_weights(mg: ModelGraph, visits: list[Visit] | None = None) -> WeightTable:
    """Walks every node once (subgraphs included) in topological order, classifying every leaf."""
    leaves: dict[str, Leaf] = {}
    const: dict[str, list[tuple[str, str]]] = {}  # tensor -> [(leaf, class)]
    _add_initializers(mg.model.graph, leaves, const)
    constant_nodes: set = set()
    claims: dict[str, dict[str, int | str]] = {}  # leaf -> {role: first node key}
    for visit in flatten(visits if visits is not None else walk(mg)):
        node, key = visit.node, visit.key
        for _, sub in subgraphs(node):
            _add_initializers(sub, leaves, const)
        op = node.op_type
        if node.domain in ("", "ai.onnx") and op == "Constant":
            leaf = _constant_leaf(node)
            if leaf is not None:
                leaves[leaf.name] = leaf
                const[leaf.name] = [(leaf.name, DATA)]
            constant_nodes.add(key)
            continue
        present = [(i, name) for i, name in enumerate(node.input) if name]
        if present and op not in _NOT_CONSTANT and not visit.children and all(name in const for _, name in present):
            constant_nodes.add(key)
            if op in _GENERATORS:
                leaf = _generated_leaf(mg, node)
                if leaf is not None:
                    leaves[leaf.name] = leaf
                    const[leaf.name] = [(leaf.name, DATA)]
                continue
            passed = []
            for i, name in present:
                slot = _slot(op, i)
                if slot == "ignore":
                    continue
                for leaf_name, cls in const[name]:
                    if slot == NON_TRAINABLE:
                        cls = NON_TRAINABLE
                    elif op == "DequantizeLinear" and i == 0 and cls == DATA:
                        cls = QWEIGHT
                    passed.append((leaf_name, cls))
            for out in node.output:
                if out:
                    const[out] = passed
            continue
        for i, name in present:
            if name not in const:
                continue
            slot = _slot(op, i)
            if slot == "ignore":
                continue
            for leaf_name, cls in const[name]:
                role = _role(leaves[leaf_name], slot, cls, op)
                if role:
                    claims.setdefault(leaf_name, {}).setdefault(role, key)
                if op in _PACKED and i == _PACKED[op][0]:
                    _PACKED[op][1](node, leaves[leaf_name])
    table = WeightTable(leaves, constant_nodes, set(const))
    for leaf_name, roles in claims.items():
        leaf = leaves[leaf_name]
        leaf.role = "param" if "param" in roles else "non-trainable"
        leaf.node = roles[leaf.role]
        bucket = table.params_by_node if leaf.role == "param" else table.non_trainable_by_node
        bucket[leaf.node] = bucket.get(leaf.node, 0) + leaf.numel
    return table


def _role(leaf: Leaf, slot: str, cls: str, op: str) -> str | None:
    if slot == NON_TRAINABLE or cls == NON_TRAINABLE:
        return "non-trainable"
    if leaf.numel <= 1:
        return None  # scalars are settings, not weights
    if is_float(leaf.dtype):
        return "param"
    if is_integer(leaf.dtype) and (cls == QWEIGHT or op in QUANT_WEIGHT_OPS):
        return "param"
    return None
