"""--input and --dim carried into every shape annotation a model holds (inputs, outputs, value_info,
subgraphs), so no stale symbol stands in for a dim the user fixed.
"""

from __future__ import annotations

from onnx import GraphProto

from modelaudit.errors import UsageError
from modelaudit.load.attributes import body_graphs

from .dimexpr import evaluate_dim, free_symbols, is_identifier

__all__ = ["bind_symbols", "rewrite_annotations", "input_symbols", "symbols_of", "input_derived", "ANONYMOUS"]

ANONYMOUS = frozenset({"", "?"})  # dim names that name nothing: an exporter's spelling of "unknown"


def _real_inputs(graph: GraphProto, init_names) -> list:
    return [vi for vi in graph.input if vi.name not in init_names]


def _dims(vi):
    tt = vi.type.tensor_type if vi.type.HasField("tensor_type") else None
    return tt.shape.dim if tt is not None and tt.HasField("shape") else ()


def input_symbols(graph: GraphProto, init_names) -> set[str]:
    """The symbols the graph inputs are declared with, expressions broken into their symbols
    (`past_sequence_length + sequence_length` gives both): the names --dim may fix."""
    names: set[str] = set()
    for vi in _real_inputs(graph, init_names):
        for d in _dims(vi):
            if d.HasField("dim_param"):
                names.update(symbols_of(d.dim_param))
    return names


def symbols_of(param: str) -> tuple[str, ...]:
    """The symbols one dim name stands for: itself, an expression's free symbols (none for `16`),
    or itself again when it does not parse (`batch size`: --dim can still name it whole)."""
    if param in ANONYMOUS or param.__class__ is not str:
        return ()
    if is_identifier(param):
        return (param,)
    symbols = free_symbols(param)
    return (param,) if symbols is None else tuple(sorted(symbols))


def input_derived(param: str, free: set[str]) -> bool:
    """Whether a dim name stands for something the inputs' free symbols decide (`seq`, `seq*batch`);
    `unk__88` or `p2o.DynamicDimension.1`, names an exporter or onnx made up, do not."""
    symbols = symbols_of(param)
    return bool(symbols) and all(s in free for s in symbols)


def bind_symbols(graph: GraphProto, inputs: dict[str, tuple], dims: dict[str, int], init_names) -> dict[str, int]:
    """Symbol -> value: each --dim, and each symbol of an input that --input fixes (by position).
    One symbol fixed to two values is a usage error."""
    bound = dict(dims)
    source = {name: f"--dim {name}={value}" for name, value in dims.items()}
    for vi in _real_inputs(graph, init_names):
        if vi.name not in inputs:
            continue
        for axis, (d, value) in enumerate(zip(_dims(vi), inputs[vi.name])):
            param = d.dim_param if d.HasField("dim_param") else ""
            if param in ANONYMOUS or not is_identifier(param):
                continue
            if param in bound and bound[param] != value:
                raise UsageError(
                    f"--input {vi.name}: dim {axis} is '{param}', which {source[param]} fixes "
                    f"to {bound[param]}, the flag gives {value}"
                )
            bound.setdefault(param, value)
            source.setdefault(param, f"--input {vi.name}")
    return bound


def _substitute(dim_list, bound: dict[str, int], free: set[str]) -> bool:
    """Fixes each dim whose name (or expression) the bindings decide, and makes `-1` (PaddlePaddle's
    dynamic dim) and `?` anonymous. True if a symbol is left that the inputs' free symbols do not
    decide."""
    made_up = False
    for d in dim_list:
        which = d.WhichOneof("value")
        if which == "dim_value":
            if d.dim_value < 0:
                d.Clear()
            continue
        if which != "dim_param":
            continue
        param = d.dim_param
        if param in ANONYMOUS or param.__class__ is not str:
            d.Clear()
            continue
        value = bound.get(param)
        if value is None and not is_identifier(param):
            value = evaluate_dim(param, bound)
        if value is not None:
            d.dim_value = value
        elif not input_derived(param, free):
            made_up = True
    return made_up


def rewrite_annotations(
    graph: GraphProto, inputs: dict[str, tuple], bound: dict[str, int], init_names=frozenset()
) -> None:
    """Applies --input and the bound symbols to the graph's inputs, then to every other annotation:
    outputs, value_info and subgraphs. An annotation other than a graph input that still holds a
    symbol the inputs' free dims do not decide (`unk__88`, or `width/2` once an odd width is fixed)
    is dropped (value_info) or loses its shape (outputs, subgraph inputs), so inference derives it
    again instead of trusting the name as a known dim. Names of the free input dims stay."""
    free = input_symbols(graph, init_names) - set(bound)
    for vi in _real_inputs(graph, init_names):
        if vi.name in inputs and vi.type.HasField("tensor_type"):
            shape = vi.type.tensor_type.shape
            shape.ClearField("dim")
            for value in inputs[vi.name]:
                shape.dim.add().dim_value = value
        else:
            _substitute(_dims(vi), bound, free)
    _rewrite_rest(graph, bound, free, 0, top=True)


def _rewrite_rest(graph: GraphProto, bound: dict[str, int], free: set[str], depth: int, top: bool = False) -> None:
    for items in (graph.output,) if top else (graph.input, graph.output):
        for vi in items:
            if _substitute(_dims(vi), bound, free):
                vi.type.tensor_type.ClearField("shape")
    kept = [vi for vi in graph.value_info if not _substitute(_dims(vi), bound, free)]
    if len(kept) != len(graph.value_info):
        del graph.value_info[:]
        graph.value_info.extend(kept)
    if depth >= 32:  # deeper nesting is refused by the walk
        return
    for node in graph.node:
        for _, sub in body_graphs(node):
            _rewrite_rest(sub, bound, free, depth + 1)
