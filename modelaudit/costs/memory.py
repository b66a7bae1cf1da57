"""Peak activation memory from static shapes: walk the topological order, allocate each output when
its node runs, free it after its last reader (graph outputs live to the end)."""

from __future__ import annotations

from modelaudit.graph.links import implicit_inputs
from modelaudit.graph.model import ModelGraph

__all__ = ["peak_activation_bytes", "live_bytes"]


def live_bytes(mg: ModelGraph, constant: set[str]) -> tuple[list[int | None], int, bool]:
    """The bytes live before the first node and after each node's outputs are allocated (None where
    a live tensor's size is unknown), the peak of the known sizes, and whether every size is known.
    Weights and constant-folded tensors are not activations; the graph's inputs are."""
    nodes, nbytes = mg.nodes, mg.nbytes
    last_use: dict[str, int] = {}
    for step, index in enumerate(mg.order):
        for name in nodes[index].input:
            last_use[name] = step  # "" (an absent optional input) is never an output: harmless
        if nodes[index].has_graph:  # what its subgraphs read from outside lives as long
            for name in implicit_inputs(nodes[index]):
                last_use[name] = step
    keep = set(mg.outputs)
    complete = True
    live = unknown_live = 0
    frees: dict[int, list] = {}  # step -> [bytes, unknown tensors] freed after it

    def hold(name: str, size: int | None, end: int | None) -> None:
        nonlocal live, unknown_live
        live += size or 0
        unknown_live += size is None
        if end is not None:
            slot = frees.setdefault(end, [0, 0])
            slot[0] += size or 0
            slot[1] += size is None

    for name in mg.inputs:
        size = nbytes(name)
        complete &= size is not None
        hold(name, size, last_use.get(name) if name not in keep else None)
    steps = [None if unknown_live else live]
    peak = live
    for step, index in enumerate(mg.order):
        for name in nodes[index].output:
            if not name or name in constant:
                continue
            size = nbytes(name)
            complete &= size is not None
            hold(name, size, None if name in keep else last_use.get(name, step))  # unread: freed at once
        steps.append(None if unknown_live else live)
        peak = max(peak, live)
        freed, freed_unknown = frees.pop(step, (0, 0))
        live -= freed
        unknown_live -= freed_unknown
    return steps, peak, complete


def peak_activation_bytes(mg: ModelGraph, constant: set[str]) -> tuple[int, bool]:
    """(peak bytes, complete?) of the top-level graph's activations, inputs included. Incomplete
    when some tensor size is unknown: the peak is then of the known sizes."""
    _, peak, complete = live_bytes(mg, constant)
    return peak, complete
