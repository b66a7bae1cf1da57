"""Peak activation memory from static shapes: walk the topological order, allocate each output when
its node runs, free it after its last reader (graph outputs live to the end)."""

from __future__ import annotations

from itertools import accumulate

from modelaudit.graph.links import implicit_inputs
from modelaudit.graph.model import ModelGraph

__all__ = ["peak_activation_bytes", "live_bytes"]


def live_bytes(
    mg: ModelGraph, constant: set[str], sizes: dict[str, int | None] | None = None
) -> tuple[list[int | None], int, bool]:
    """The bytes live before the first node and after each node's outputs are allocated (None where
    a live tensor's size is unknown), the peak of the known sizes, and whether every size is known.
    Weights and constant-folded tensors are not activations; the graph's inputs are. `sizes` may
    give the tensors' bytes by name (the audit has them); else each is asked of the graph."""
    nodes, order = mg.nodes, mg.order
    size_of = sizes.get if sizes is not None else mg.nbytes
    last_use: dict[str, int] = {}
    for step, index in enumerate(order):
        node = nodes[index]
        for name in node.input:
            last_use[name] = step  # "" (an absent optional input) is never an output: harmless
        if node.has_graph:  # what its subgraphs read from outside lives as long
            for name in implicit_inputs(node):
                last_use[name] = step
    keep = set(mg.outputs)
    # Position 0 is before the first node, position s+1 after node s allocates its outputs; a
    # tensor freed after step e leaves at position e+2. The live bytes are the running sum of
    # these changes (one list per: known bytes, count of tensors of unknown size).
    count = len(order) + 3
    delta, unknown = [0] * count, [0] * count

    def hold(size: int | None, at: int, end: int | None) -> None:
        if size is None:
            unknown[at] += 1
            if end is not None:
                unknown[end + 2] -= 1
        else:
            delta[at] += size
            if end is not None:
                delta[end + 2] -= size

    complete = True
    for name in mg.inputs:
        size = size_of(name)
        complete &= size is not None
        hold(size, 0, last_use.get(name) if name not in keep else None)
    for step, index in enumerate(order):
        for name in nodes[index].output:
            if not name or name in constant:
                continue
            size = size_of(name)
            complete &= size is not None
            end = None if name in keep else last_use.get(name, step)  # unread: freed at once
            hold(size, step + 1, end if end is None or end >= step else None)  # read before made: never freed
    live = list(accumulate(delta[:-2]))
    steps = [None if u else b for b, u in zip(live, accumulate(unknown[:-2]))]
    return steps, max(live), complete


def peak_activation_bytes(mg: ModelGraph, constant: set[str]) -> tuple[int, bool]:
    """(peak bytes, complete?) of the top-level graph's activations, inputs included. Incomplete
    when some tensor size is unknown: the peak is then of the known sizes."""
    _, peak, complete = live_bytes(mg, constant)
    return peak, complete
