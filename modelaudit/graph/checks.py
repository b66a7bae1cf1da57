"""What onnx itself would accept but no model can mean, and flags that name what the model lacks:
each refused with one clear line before any shape is inferred."""

from __future__ import annotations

from onnx import ModelProto

from modelaudit.errors import InvalidModelError, UsageError
from modelaudit.load.initializers import Initializer, read_initializers
from modelaudit.shapes.annotations import input_symbols

from .links import printable

__all__ = ["applicable", "check_overrides", "check_structure", "input_names"]


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
