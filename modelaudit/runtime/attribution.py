"""Which node of the model each kernel onnxruntime timed belongs to.

Without graph optimizations onnxruntime runs the model's own nodes under their own names. With them
it runs the graph it optimized, where the names are its own: the NCHWc transformer names a conv
after the tensor it writes (`/layer1/layer1.0/relu/Relu_output_0_nchwc`, a Conv with its Relu
fused in), a fusion appends its name to the node it keeps (`/h.0/attn/MatMul/MatMulScaleFusion/`),
nodes made anew get names of their own (`GPT2Gelu`, `ReorderInput`) but write the tensors the
replaced nodes wrote. The session saves that graph (`optimized_model_filepath`, its weights in a
file beside it in the run's temporary folder) and each kernel is traced back to the model through
it: by its name, by what its name says it replaced, by the tensors it writes, else by its nearest
neighbour that was traced (a layout change for the conv after it). A fused kernel's time goes to
the node that does its arithmetic (the Conv of a Conv+Relu, whose name says Relu); the nodes fused
into it have no time of their own. What cannot be traced is reported, with the reason.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = ["OPTIMIZED", "keep_optimized", "optimized_nodes", "Attribution", "attribute"]

OPTIMIZED = "optimized.onnx"  # in the run's temporary folder
_STEMS = (
    re.compile(r"(.+)_nchwc"),  # NchwcTransformer: <tensor written>_nchwc
    re.compile(r"(.+)/[A-Za-z]+Fusion/?"),  # <node kept>/MatMulScaleFusion/
    re.compile(r"(.+)_token_\d+"),  # Graph::GenerateNodeName's uniqueness suffix
    re.compile(r"(.+)_new_reshape"),  # ReshapeFusion
)
_NEAR = 4  # hops through onnxruntime's own nodes to a traced one
_UP = 4  # producers walked back from a fused kernel's output to the node of its op

Node = tuple[str, str, tuple[str, ...], tuple[str, ...]]  # name, op_type, inputs, outputs


def keep_optimized(options, work: str) -> None:
    """Session options that save the optimized graph into `work`, its weights in a file beside it."""
    options.optimized_model_filepath = os.path.join(work, OPTIMIZED)
    options.add_session_config_entry("session.optimized_model_external_initializers_file_name", "optimized.data")
    options.add_session_config_entry("session.optimized_model_external_initializers_min_size_in_bytes", "1024")


def optimized_nodes(work: str) -> list[Node] | None:
    """The saved optimized graph's top-level nodes (None where onnxruntime saved none)."""
    import onnx

    try:
        model = onnx.load(os.path.join(work, OPTIMIZED), load_external_data=False)
    except (OSError, ValueError, RuntimeError):  # not written (a provider that saves none), or unreadable
        return None
    return [(n.name, n.op_type, tuple(n.input), tuple(n.output)) for n in model.graph.node]


@dataclass
class Attribution:
    """kernel name -> the model's node index; kernel name -> why it has none."""

    nodes: dict[str, int] = field(default_factory=dict)
    why: dict[str, str] = field(default_factory=dict)


class _Model:
    """The model's side: node names, tensor producers, each node's op and inputs."""

    def __init__(self, names: dict[str, int], producer: dict[str, int], ops: list[str], inputs: list[list[str]]):
        self.names, self.producer, self.ops, self.inputs = names, producer, ops, inputs

    def anchor(self, index: int, op: str) -> int:
        """The node that does a fused kernel's arithmetic: from the node that wrote the kernel's
        output, up the producers of first inputs to one of the kernel's op (FusedConv, nchwc Conv:
        Conv), if one is that near; else that node itself."""
        base = op.removeprefix("Fused")
        current = index
        for _ in range(_UP):
            if self.ops[current] == base:
                return current
            up = next((self.producer[t] for t in self.inputs[current] if t in self.producer), None)
            if up is None:
                break
            current = up
        return index

    def traced(self, node: Node) -> int | None:
        """The model's node a kernel of the optimized graph stands for, from its name or outputs."""
        name, op, _, outputs = node
        if name in self.names:
            return self.names[name]
        for pattern in _STEMS:
            match = pattern.fullmatch(name)
            if match is not None:
                stem = match.group(1)
                if stem in self.names:
                    return self.anchor(self.names[stem], op)
                if stem in self.producer:
                    return self.anchor(self.producer[stem], op)
        for tensor in outputs:
            if tensor in self.producer:
                return self.anchor(self.producer[tensor], op)
        return None


def _nearest(node: Node, model: _Model, graph: dict[str, list[Node]], writers: dict[str, Node]) -> int | None:
    """A layout change or copy of onnxruntime's own: the node it feeds, else the one feeding it."""
    seen, frontier = {node[0]}, [node]
    for _ in range(_NEAR):
        after = [c for n in frontier for t in n[3] for c in graph.get(t, ())]
        before = [writers[t] for n in frontier for t in n[2] if t in writers]
        frontier = [n for n in after + before if n[0] not in seen]
        for candidate in frontier:
            index = model.traced(candidate)
            if index is not None:
                return index
        seen.update(n[0] for n in frontier)
    return None


def attribute(kernels: Iterable[str], names: dict[str, int], mg, optimized: list[Node] | None) -> Attribution:
    """Each timed kernel's node of the model (`names`: node name -> index in the run's copy, whose
    nodes are `mg`'s in order; `optimized`: the saved optimized graph's nodes, None without one)."""
    views = mg.nodes
    model = _Model(names, mg.producer, [v.op_type for v in views], [v.input for v in views])
    by_name = {n[0]: n for n in optimized or ()}
    readers: dict[str, list[Node]] = {}
    writers: dict[str, Node] = {}
    for n in optimized or ():
        for t in n[2]:
            readers.setdefault(t, []).append(n)
        for t in n[3]:
            writers[t] = n
    out = Attribution()
    for kernel in kernels:
        if kernel in names:
            out.nodes[kernel] = names[kernel]
            continue
        node = by_name.get(kernel)
        if node is None:
            out.why[kernel] = (
                "no node of the model has its name (a node of a subgraph, or onnxruntime saved no optimized graph)"
            )
            continue
        index = model.traced(node)
        if index is None:
            index = _nearest(node, model, readers, writers)
        if index is None:
            out.why[kernel] = f"onnxruntime's own {node[1]} node: nothing of the model near it in the optimized graph"
        else:
            out.nodes[kernel] = index
    return out
