"""The nested walk: every node of the model, subgraphs of If/Loop/Scan included, in topological order."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from onnx import GraphProto, NodeProto

from modelaudit.errors import InvalidModelError
from modelaudit.load.attributes import body_graphs

from .links import NodeView, link, topological_order
from .model import ModelGraph

__all__ = ["MAX_DEPTH", "Visit", "subgraphs", "walk", "flatten"]

MAX_DEPTH = 32  # graphs nested this deep are refused: no real model comes near it


@dataclass(slots=True)
class Visit:
    """One node, keyed by its path: top-level nodes by file index, nested ones `3/body/0`."""

    key: int | str
    node: NodeProto | NodeView  # a NodeView at the top level, the protobuf node inside subgraphs
    depth: int
    # (attribute, its nodes' visits) per subgraph; the shared empty tuple for the many nodes
    # that hold none (no list made per node: docs/performance.md)
    children: list[tuple[str, list[Visit]]] | tuple = ()


class _Scopes:
    """Names visible from a subgraph: its enclosing graphs', checked without copying sets."""

    def __init__(self, *layers: set[str]):
        self.layers = layers

    def __contains__(self, name: str) -> bool:
        return any(name in layer for layer in self.layers)

    def inner(self, layer: set[str]) -> _Scopes:
        return _Scopes(*self.layers, layer)


def subgraphs(node: NodeProto | NodeView) -> list[tuple[str, GraphProto]]:
    """(attribute name, graph) for each graph attribute, then_branch and else_branch first."""
    return sorted(body_graphs(node), key=lambda pair: (_FIRST.get(pair[0], 2), pair[0]))


_FIRST = {"then_branch": 0, "else_branch": 1}


def _defined(graph: GraphProto, nodes=None) -> set[str]:
    names = {t.name for t in graph.initializer} | {vi.name for vi in graph.input}
    for node in graph.node if nodes is None else nodes:
        names.update(node.output)
    names.discard("")
    return names


def _visit_graph(nodes: list[NodeView], order: list[int], depth: int, prefix: str, scopes: _Scopes) -> list[Visit]:
    visits = []
    for index in order:
        node = nodes[index]
        visit = Visit(index if not prefix else f"{prefix}/{index}", node, depth)
        if node.has_graph:
            visit.children = []
            for attr, sub in subgraphs(node):
                if depth + 1 >= MAX_DEPTH:
                    raise InvalidModelError(
                        f"subgraphs are nested {MAX_DEPTH} or more deep (at node "
                        f"'{node.name or node.op_type}'); modelaudit refuses such a model"
                    )
                views = [NodeView(n) for n in sub.node]
                edges, _ = link(sub, scopes, views)
                sub_order, _ = topological_order(edges, views)
                inner = scopes.inner(_defined(sub))
                visit.children.append((attr, _visit_graph(views, sub_order, depth + 1, f"{visit.key}/{attr}", inner)))
        visits.append(visit)
    return visits


def walk(mg: ModelGraph) -> list[Visit]:
    """The top-level nodes in topological order, each with its subgraphs' visits."""
    nodes = mg.nodes
    if not any(v.has_graph for v in nodes):  # no subgraph: no scope to track
        return [Visit(index, nodes[index], 0) for index in mg.order]
    return _visit_graph(mg.nodes, mg.order, 0, "", _Scopes(_defined(mg.model.graph, mg.nodes)))


def flatten(visits: list[Visit]) -> Iterator[Visit]:
    """Pre-order: each node, then its subgraphs' nodes."""
    stack = list(reversed(visits))
    while stack:
        visit = stack.pop()
        yield visit
        for _, children in reversed(visit.children):
            stack.extend(reversed(children))
