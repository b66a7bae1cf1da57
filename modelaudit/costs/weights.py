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

from onnx import AttributeProto, TensorProto, helper

from modelaudit.graph.model import ModelGraph
from modelaudit.graph.walk import Visit, flatten, subgraphs, walk
from modelaudit.load.dtypes import dtype_bits, dtype_name, is_float, is_integer, tensor_bytes

from .slots import (
    ATTRIBUTE_WEIGHTS,
    GENERATORS,
    IGNORED_SLOTS,
    NON_TRAINABLE_SLOTS,
    NOT_CONSTANT,
    PASS_THROUGH,
    QUANT_WEIGHT_OPS,
)

__all__ = ["Leaf", "WeightTable", "find_weights"]


def _unpack_nbits(node, leaf: Leaf) -> None:
    """MatMulNBits stores an N×K weight as `bits`-bit values packed into uint8 blobs."""
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    if "K" in attrs and "N" in attrs:
        leaf.numel = int(attrs["K"]) * int(attrs["N"])
        leaf.packed_bits = int(attrs.get("bits", 4))


# op -> (weight slot, how to read the packed weight's true element count and bits)
_PACKED = {"MatMulNBits": (1, _unpack_nbits)}
DATA, QWEIGHT, NON_TRAINABLE = "data", "qweight", "non-trainable"


@dataclass
class Leaf:
    """One stored (or generated) constant tensor."""

    name: str
    numel: int
    dtype: int
    origin: str  # initializer | Constant | ConstantOfShape | sparse_initializer | attribute (ai.onnx.ml)
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
    # node key -> constant tensors of more than one element it reads that no convention classed
    # (integer tensors of an op without a rule: quantized weights or indices, nobody can tell)
    unclassified: dict = field(default_factory=dict)

    @property
    def params(self) -> int:
        return sum(leaf.numel for leaf in self.leaves.values() if leaf.role == "param")

    @property
    def non_trainable(self) -> int:
        return sum(leaf.numel for leaf in self.leaves.values() if leaf.role == "non-trainable")

    def bytes_by_dtype(self) -> dict[str, int]:
        """Leaf.nbytes summed by Leaf.dtype_label, for the leaves that are weights. Grouped by
        element width first: a transformer has tens of thousands of leaves and a few widths."""
        numels: dict[tuple[int, int | None], list[int]] = {}
        for leaf in self.leaves.values():
            if leaf.role:
                numels.setdefault((leaf.dtype, leaf.packed_bits), []).append(leaf.numel)
        out: dict[str, int] = {}
        for (dtype, packed), counts in numels.items():
            bits = packed or dtype_bits(dtype) or 0
            if bits % 8 == 0:  # whole bytes: no rounding per tensor
                size = sum(counts) * bits // 8
            else:  # each sub-byte tensor rounds up to a whole byte
                size = sum((n * bits + 7) // 8 for n in counts)
            label = f"uint{packed}" if packed else dtype_name(dtype)
            out[label] = out.get(label, 0) + size
        return dict(sorted(out.items()))


def _constant_leaf(node) -> Leaf | None:
    for attr in node.attribute:
        name = node.output[0]
        if attr.name == "value":
            t = attr.t
            return Leaf(name, math.prod(t.dims), t.data_type, "Constant", t.data_location == TensorProto.EXTERNAL)
        if attr.name == "sparse_value":
            return Leaf(
                name, math.prod(attr.sparse_tensor.values.dims), attr.sparse_tensor.values.data_type, "Constant"
            )
        if attr.name in ("value_float", "value_int", "value_string"):
            dtype = {"value_float": TensorProto.FLOAT, "value_int": TensorProto.INT64}.get(
                attr.name, TensorProto.STRING
            )
            return Leaf(name, 1, dtype, "Constant")
        if attr.name in ("value_floats", "value_ints", "value_strings"):
            value = helper.get_attribute_value(attr)
            dtype = {"value_floats": TensorProto.FLOAT, "value_ints": TensorProto.INT64}.get(
                attr.name, TensorProto.STRING
            )
            return Leaf(name, len(value), dtype, "Constant")
    return None


def _generated_leaf(mg: ModelGraph, node) -> Leaf | None:
    out = node.output[0]
    info = mg.info(out)
    shape_value = mg.values.get(node.input[0]) if node.input else None
    if shape_value is not None and shape_value.dtype != object:
        numel = math.prod(int(d) for d in shape_value.reshape(-1))
    elif info is not None and info.known and info.shape is not None:
        numel = math.prod(int(d) for d in info.shape if d is not None)  # known: every dim an int
    else:
        return None
    value = next((a.t for a in node.attribute if a.name == "value"), None)
    dtype = value.data_type if value is not None else TensorProto.FLOAT
    return Leaf(out, numel, dtype, node.op_type)


# constant nodes through which an integer weight is dequantized by hand: Cast to float, then
# arithmetic with its scale and zero point
_DEQUANTIZE_BY_HAND = frozenset({"Cast", "Mul", "Div", "Sub", "Add"})


def _quantized(dtype: int) -> bool:
    """An integer type of at most 16 bits: what quantized weights are stored in (int32 and int64
    tensors cast to float are positions and sizes, not weights)."""
    return is_integer(dtype) and (dtype_bits(dtype) or 64) <= 16


def _attribute(node, name: str, default):
    return next((helper.get_attribute_value(a) for a in node.attribute if a.name == name), default)


def _slot(op: str, i: int) -> str:
    if i in NON_TRAINABLE_SLOTS.get(op, ()):
        return NON_TRAINABLE
    if i in IGNORED_SLOTS.get(op, ()):
        return "ignore"
    return DATA


class _Walk:
    """State of the weight walk: which tensors carry which leaves, and who claimed each leaf."""

    def __init__(self, mg: ModelGraph, shapes: bool = True):
        self.mg, self.shapes = mg, shapes
        # the initializers, read from protobuf once at load (add_leaf's work, in bulk)
        self.leaves: dict[str, Leaf] = {
            name: Leaf(name, math.prod(t.dims), t.dtype, "initializer", t.external)
            for name, t in mg.initializers.items()
        }
        # tensor -> [(leaf, class, first toucher)]
        self.carried: dict[str, list[tuple[str, str, object]]] = {name: [(name, DATA, None)] for name in self.leaves}
        self.constant: set[str] = set(self.leaves)  # tensors computed from constants alone
        self.constant_nodes: set = set()
        self.claims: dict[str, dict[str, object]] = {}  # leaf -> {role: node key}
        self.unclaimed: dict[object, list[str]] = {}  # node key -> leaves it read that got no role there
        self.add_sparse(mg.model.graph)

    def add_leaf(self, leaf: Leaf) -> None:
        self.leaves[leaf.name] = leaf
        self.carried[leaf.name] = [(leaf.name, DATA, None)]
        self.constant.add(leaf.name)

    def add_graph(self, graph) -> None:
        for t in graph.initializer:
            self.add_leaf(
                Leaf(t.name, math.prod(t.dims), t.data_type, "initializer", t.data_location == TensorProto.EXTERNAL)
            )
        self.add_sparse(graph)

    def add_sparse(self, graph) -> None:
        for st in graph.sparse_initializer:
            self.add_leaf(Leaf(st.values.name, math.prod(st.values.dims), st.values.data_type, "sparse_initializer"))

    def add_attributes(self, node, key) -> None:
        """ai.onnx.ml's weights held in attributes: a leaf per attribute, claimed by its node."""
        roles = dict(ATTRIBUTE_WEIGHTS[node.op_type])
        for attr in node.attribute:
            role = roles.get(attr.name)
            if role is None:
                continue
            if attr.type == AttributeProto.TENSOR:
                numel, dtype = math.prod(attr.t.dims), attr.t.data_type
            else:
                numel, dtype = len(attr.floats) or len(attr.ints), TensorProto.FLOAT
            if numel:
                name = f"{node.name or node.op_type}#{key}.{attr.name}"
                self.leaves[name] = Leaf(name, numel, dtype, "attribute")
                self.claims[name] = {role: key}

    def passed(self, node, key, slots) -> list[tuple[str, str, object]]:
        """The leaves a node hands on from its input `slots`, classed by what the slot does."""
        out = []
        carried = self.carried
        for i, name in slots:
            if name not in carried:
                continue
            slot = _slot(node.op_type, i)
            if slot == "ignore":
                continue
            for leaf_name, cls, touch in self.carried[name]:
                if slot == NON_TRAINABLE:
                    cls = NON_TRAINABLE
                elif node.op_type == "DequantizeLinear" and i == 0 and cls == DATA:
                    cls = QWEIGHT
                out.append((leaf_name, cls, touch if touch is not None else key))
        return out

    def visit(self, visit: Visit) -> None:
        node, key = visit.node, visit.key
        op, inputs, carried = node.op_type, node.input, self.carried
        if op in ATTRIBUTE_WEIGHTS and node.domain == "ai.onnx.ml":
            self.add_attributes(node, key)
        if visit.children:
            for _, sub in subgraphs(node):
                self.add_graph(sub)
        elif op != "Constant" and carried.keys().isdisjoint(inputs):
            return  # no input carries a constant (most nodes): nothing to hand on, claim or fold
        default = node.domain == "" or node.domain == "ai.onnx"
        if default and op == "Constant":
            leaf = _constant_leaf(node)
            if leaf is not None:
                self.add_leaf(leaf)
            self.constant_nodes.add(key)
            return
        hits = [(i, name) for i, name in enumerate(inputs) if name and name in carried]
        if not hits:
            return
        # every input constant (the constant tensors are a subset of the carried ones)?
        if (
            op not in NOT_CONSTANT
            and not visit.children
            and len(hits) == len(inputs) - inputs.count("")
            and all(n in self.constant for _, n in hits)
        ):
            self.constant_nodes.add(key)
            if op in GENERATORS and not self.shapes:
                raise _NeedsShapes
            leaf = _generated_leaf(self.mg, node) if op in GENERATORS else None
            if leaf is not None:
                self.add_leaf(leaf)
                return
            handed: list[tuple[str, str, object]] = [
                (leaf, cls, None) for leaf, cls, _ in self.passed(node, None, hits)
            ]
            if op in _DEQUANTIZE_BY_HAND and default:
                handed = self.dequantized(node, hits, handed)
            for out in node.output:
                if out:
                    carried[out] = handed
                    self.constant.add(out)
            return
        if default and op in PASS_THROUGH:
            slots = PASS_THROUGH[op]
            passing = [(i, n) for i, n in hits if i in slots]
            moved = self.passed(node, key, passing) if passing else None
            if moved:
                for out in node.output:
                    if out:
                        carried[out] = moved
            return
        leaves, packed = self.leaves, _PACKED.get(op)
        for i, name in hits:
            slot = _slot(op, i)
            if slot == "ignore":
                continue
            for leaf_name, cls, touch in carried[name]:
                if slot == NON_TRAINABLE:
                    cls = NON_TRAINABLE
                elif op == "DequantizeLinear" and i == 0 and cls == DATA:
                    cls = QWEIGHT
                leaf = leaves[leaf_name]
                role = _role(leaf, slot, cls, op)
                if role:  # claim(), without making a dict per call: it runs once per weight read
                    roles = self.claims.get(leaf_name)
                    if roles is None:
                        self.claims[leaf_name] = {role: touch if touch is not None else key}
                    elif role not in roles:
                        roles[role] = touch if touch is not None else key
                elif leaf.numel > 1:
                    self.unclaimed.setdefault(key, []).append(leaf_name)
                if packed is not None and i == packed[0]:
                    packed[1](node, leaf)

    def dequantized(self, node, hits: list, handed: list) -> list:
        """Integer weights dequantized by hand in a constant subgraph (an int8 tensor Cast to float,
        then Mul by a scale, maybe Sub of a zero point): the Cast marks the integer leaf a quantized
        weight; at the arithmetic after it, the operand carrying the largest such weight keeps its
        classes and every other operand's leaves are its scales and zero points (non-trainable)."""
        if node.op_type == "Cast":
            if not is_float(_attribute(node, "to", 0)):
                return handed
            return [(n, QWEIGHT if c == DATA and _quantized(self.leaves[n].dtype) else c, t) for n, c, t in handed]
        size = {i: sum(self.leaves[n].numel for n, c, _ in self.carried[name] if c == QWEIGHT) for i, name in hits}
        weight = max(size, key=size.__getitem__) if size and max(size.values()) else None
        if weight is None:
            return handed
        kept = {n for n, _, _ in self.carried[dict(hits)[weight]]}
        return [(n, c if n in kept else NON_TRAINABLE, t) for n, c, t in handed]

    def claim(self, leaf_name: str, role: str | None, key) -> None:
        if role:
            self.claims.setdefault(leaf_name, {}).setdefault(role, key)

    def finish(self) -> WeightTable:
        """Leaves that reach a graph output through data movement count too (an embedding model)."""
        for vi in self.mg.model.graph.output:
            if vi.name not in self.constant:
                for leaf_name, cls, touch in self.carried.get(vi.name, ()):
                    self.claim(leaf_name, _role(self.leaves[leaf_name], DATA, cls, ""), touch)
        table = WeightTable(self.leaves, self.constant_nodes, set(self.constant))
        for leaf_name, roles in self.claims.items():
            leaf = self.leaves[leaf_name]
            leaf.role = "param" if "param" in roles else "non-trainable"
            leaf.node = roles[leaf.role]  # type: ignore[assignment]  # a node key: an int or a subgraph path
            bucket = table.params_by_node if leaf.role == "param" else table.non_trainable_by_node
            bucket[leaf.node] = bucket.get(leaf.node, 0) + leaf.numel
        for key, names in self.unclaimed.items():
            left = [self.leaves[n] for n in dict.fromkeys(names) if self.leaves[n].role is None]
            if left:
                table.unclassified[key] = left
        return table


def find_weights(mg: ModelGraph, visits: list[Visit] | None = None, shapes: bool = True) -> WeightTable | None:
    """Walks every node once (subgraphs included) in topological order, classifying every leaf.
    `shapes=False`: for a model whose shapes are not inferred yet (the command line walks the
    weights while a forked child infers them); None where a generator of constants (a
    ConstantOfShape of a constant shape) needs the shapes to size its leaf."""
    state = _Walk(mg, shapes)
    try:
        for visit in flatten(visits if visits is not None else walk(mg)):
            state.visit(visit)
    except _NeedsShapes:
        return None
    return state.finish()


class _NeedsShapes(Exception):
    pass


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
