"""Peak activation memory from static shapes: walk the topological order, allocate each output when
its node runs, free it after its last reader (graph outputs live to the end)."""

from __future__ import annotations

from modelaudit.graph.links import implicit_inputs
from modelaudit.graph.model import ModelGraph

__all__ = ["peak_activation_bytes"]


def peak_activation_bytes(mg: ModelGraph, constant: set[str]) -> tuple[int, bool]:
    """(peak bytes, complete?) of the top-level graph's activations, inputs included; weights and
    constant-folded tensors are not activations. Incomplete when some tensor size is unknown."""
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
    live = 0
    frees: dict[int, int] = {}
    for name in mg.inputs:
        size = nbytes(name)
        complete &= size is not None
        live += size or 0
        if name not in keep and name in last_use:
            frees[last_use[name]] = frees.get(last_use[name], 0) + (size or 0)
    peak = live
    for step, index in enumerate(mg.order):
        for name in nodes[index].output:
            if not name or name in constant:
                continue
            size = nbytes(name)
            if size is None:
                complete = False
            else:
                live += size
                if name not in keep:
                    end = last_use.get(name, step)  # an output nobody reads is freed at once
                    frees[end] = frees.get(end, 0) + size
        if live > peak:
            peak = live
        live -= frees.pop(step, 0)
    return peak, complete
