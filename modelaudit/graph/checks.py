"""What onnx itself would accept but no model can mean, and flags that name what the model lacks:
each refused with one clear line (the structure before any shape is inferred, sizes after)."""

from __future__ import annotations

import math
from operator import itemgetter

from onnx import AttributeProto, ModelProto

from modelaudit.errors import InvalidModelError, UsageError
from modelaudit.load.initializers import Initializer, read_initializers
from modelaudit.shapes.annotations import input_symbols

from .links import printable

__all__ = [
    "applicable",
    "check_constants",
    "check_overrides",
    "check_sizes",
    "check_structure",
    "input_names",
    "MAX_ELEMENTS",
]

# Figures are exact Python ints whatever their size (a 2^40 × 2^40 tensor is audited); they are printed,
# shared and ratioed as floats, which end at 2^1024. A MatMul's MACs multiply two counts of its tensors:
# past 2^500 elements, the figures a tensor makes could pass what a float holds.
MAX_ELEMENTS = 2**500


def check_structure(model: ModelProto, inits: list[Initializer] | None = None) -> None:
    """What onnx itself would accept but no model can mean: clear errors, nodes named by index."""
    graph = model.graph
    inits = read_initializers(graph) if inits is None else inits
    for what, items in (
        ("initializer", inits),
        ("graph input", graph.input),
        ("graph output", graph.output),
        ("value_info", graph.value_info),
    ):
        for item in items:
            if isinstance(item.name, bytes):
                raise InvalidModelError(f"a {what} name is not valid UTF-8: {printable(item.name)!r}")
    seen: set[str] = set()
    for t in inits:
        if t.name in seen:
            raise InvalidModelError(f"initializer '{t.name}' is defined twice")
        seen.add(t.name)
        if t.dims and min(t.dims) < 0:
            raise InvalidModelError(f"initializer '{t.name}' has a negative dim {list(t.dims)}")
    for i, vi in enumerate(graph.input):
        if not vi.name:
            raise InvalidModelError(f"graph input #{i} has no name")
    if not model.functions:
        return
    import networkx as nx  # imported for the rare model with local functions, not every audit

    calls: nx.DiGraph[tuple[str, str]] = nx.DiGraph()
    for f in model.functions:
        for node in f.node:
            calls.add_edge((f.domain, f.name), (node.domain, node.op_type))
    known = {(f.domain, f.name) for f in model.functions}
    try:
        cycle = nx.find_cycle(calls.subgraph(known))
    except nx.NetworkXNoCycle:
        return
    path = " → ".join(f"{d}::{n}" for (d, n), _ in cycle) + f" → {cycle[0][0][0]}::{cycle[0][0][1]}"
    raise InvalidModelError(
        f"local function {cycle[0][0][0]}::{cycle[0][0][1]} calls itself ({path}); "
        "local functions must not be recursive"
    )


def input_names(model: ModelProto, init_names=None) -> tuple[list, set[str]]:
    init_names = {t.name for t in model.graph.initializer} if init_names is None else init_names
    real = [vi for vi in model.graph.input if vi.name not in init_names]
    return real, input_symbols(model.graph, init_names)


def applicable(model: ModelProto, inputs: dict, dims: dict, init_names=None) -> tuple[dict, dict]:
    real, params = input_names(model, init_names)
    names = {vi.name for vi in real}
    return {k: v for k, v in inputs.items() if k in names}, {k: v for k, v in dims.items() if k in params}


def check_overrides(model: ModelProto, inputs: dict[str, tuple], dims: dict[str, int], init_names=None) -> list[str]:
    """Refuses --input and --dim flags the model cannot take (UsageError); returns a note for each
    --dim naming a dim the inputs no longer have but that one of their fixed dims already holds at
    that value (onnxsim fixed `batch` to 1, and the user still says --dim batch=1)."""
    real, params = input_names(model, init_names)
    names = [vi.name for vi in real]
    for name, shape in inputs.items():
        if name not in names:
            raise UsageError(
                f"--input {name}: the model has no input named '{name}'",
                f"its inputs are: {', '.join(names) or 'none'}",
            )
        vi = real[names.index(name)]
        declared = vi.type.tensor_type.shape.dim if vi.type.tensor_type.HasField("shape") else None
        if declared is not None and len(declared) and len(declared) != len(shape):
            raise UsageError(
                f"--input {name}: the model declares rank {len(declared)}, the flag gives rank {len(shape)}"
            )
        for axis, (d, value) in enumerate(zip(declared or [], shape)):
            if d.HasField("dim_value") and d.dim_value >= 0 and d.dim_value != value:  # -1: dynamic
                raise UsageError(
                    f"--input {name}: dim {axis} is fixed to {d.dim_value} by the model, the flag gives {value}"
                )
    fixed = {d.dim_value for vi in real if vi.type.tensor_type.HasField("shape") for d in vi.type.tensor_type.shape.dim}
    notes = []
    for name, value in dims.items():
        if name in params:
            continue
        if value in fixed - {0}:
            notes.append(
                f"--dim {name}={value}: no input has a dim named '{name}', and an input dim is already fixed "
                f"to {value}: nothing left to fix"
            )
            continue
        raise UsageError(
            f"--dim {name}: no input has a dim named '{name}'", f"named dims: {', '.join(sorted(params)) or 'none'}"
        )
    return notes


# Constant's attributes and the one type each may have (onnx.defs: Constant-13 and later)
_CONSTANT_TYPES = {
    "value": AttributeProto.TENSOR,
    "sparse_value": AttributeProto.SPARSE_TENSOR,
    "value_float": AttributeProto.FLOAT,
    "value_floats": AttributeProto.FLOATS,
    "value_int": AttributeProto.INT,
    "value_ints": AttributeProto.INTS,
    "value_string": AttributeProto.STRING,
    "value_strings": AttributeProto.STRINGS,
}


def check_constants(nodes) -> None:
    """A Constant's value is read as data (folded into shapes, counted as a weight): an attribute
    of another type than its name says (a `value` typed FLOAT) is refused, as onnx.checker and
    onnxruntime refuse it. `nodes`: every Constant node, subgraphs' included."""
    for node in nodes:
        for attr in node.attribute:
            expected = _CONSTANT_TYPES.get(attr.name)
            if expected is not None and attr.type != expected:
                raise InvalidModelError(
                    f"Constant node '{printable(node.name)}': attribute '{attr.name}' is "
                    f"{_type_name(attr.type)}; a Constant's '{attr.name}' is {_type_name(expected)}"
                )


def _type_name(kind: int) -> str:
    try:
        return AttributeProto.AttributeType.Name(kind)
    except ValueError:
        return f"type {kind}"


def check_sizes(tensors: dict) -> None:
    """A tensor of more than MAX_ELEMENTS elements (2^500) is no tensor anything can hold, and the
    figures made from it could pass what a float holds: refused with the tensor's name. Each
    distinct shape is multiplied once."""
    for shape in set(map(itemgetter(1), tensors.values())):
        if shape is None or len(shape) < 2 or not all(d.__class__ is int for d in shape):
            continue  # one int64 dim is at most 2^63 − 1
        elements = math.prod(shape)
        if elements > MAX_ELEMENTS:
            name = next(info.name for info in tensors.values() if info.shape == shape)
            raise InvalidModelError(
                f"tensor '{printable(name)}' has {len(shape)} dims whose product, about 2^{elements.bit_length() - 1}, "
                "passes 2^500 elements: no runtime can hold it, and its figures would pass what a float holds"
            )
