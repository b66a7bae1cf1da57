"""Who produces and who reads each tensor: NodeView (a node's fields read once), the edges, the
topological order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from onnx import AttributeProto, GraphProto, NodeProto
from onnx import defs as onnx_defs

from modelaudit.errors import InvalidModelError
from modelaudit.load.attributes import body_graphs

if TYPE_CHECKING:
    import networkx as nx

__all__ = [
    "NodeView",
    "share_names",
    "has_graph",
    "link",
    "topological_order",
    "dag_of",
    "printable",
    "implicit_inputs",
]


class NodeView:
    """A node's fields read once from protobuf (each protobuf field read is slow from Python);
    it answers like a NodeProto for op_type, domain, name, input, output and attribute."""

    __slots__ = ("op_type", "domain", "name", "input", "output", "proto", "has_graph")

    def __init__(self, proto: NodeProto):
        self.proto = proto
        self.op_type = op_type = proto.op_type
        self.domain = domain = proto.domain
        self.name = name = proto.name
        self.input = inputs = proto.input[:]  # a list: slicing is the cheapest copy protobuf offers
        self.output = outputs = proto.output[:]
        try:  # protobuf hands back bytes for invalid UTF-8; joining str with bytes raises TypeError
            op_type + domain + name + "".join(inputs) + "".join(outputs)
        except TypeError:
            raise InvalidModelError(
                f"node '{printable(name)}' ({printable(op_type)}) has a name, op or tensor name that is not valid UTF-8"
            ) from None
        self.has_graph = has_graph(proto, op_type, domain)

    @property
    def attribute(self):
        return self.proto.attribute


def share_names(views: list[NodeView]) -> None:
    """One string object per distinct op type and tensor name across the views: protobuf hands
    back a new string at every read, so a tensor's name is held once by its producer and again
    by each reader (what it saves and costs: docs/performance.md)."""
    seen: dict[str, str] = {}
    share = seen.setdefault
    for view in views:
        view.op_type = share(view.op_type, view.op_type)
        view.input[:] = [share(n, n) for n in view.input]
        view.output[:] = [share(n, n) for n in view.output]


def has_graph(proto: NodeProto, op_type: str, domain: str) -> bool:
    """Whether the node has subgraphs: a standard op where its schema says so; other ops by their
    attributes."""
    declared: bool | None = None
    if domain == "" or domain == "ai.onnx":
        declared = _STANDARD_SUBGRAPHS[op_type] if op_type in _STANDARD_SUBGRAPHS else _schema_has_graph(op_type)
    return (
        declared
        if declared is not None
        else bool(len(proto.attribute))
        and any(a.type in (AttributeProto.GRAPH, AttributeProto.GRAPHS) for a in proto.attribute)
    )


_STANDARD_SUBGRAPHS: dict[str, bool | None] = {}  # ai.onnx op -> its schema has a graph attribute (None: no schema)


def _schema_has_graph(op_type: str) -> bool | None:
    """Whether the ai.onnx op's newest schema declares a graph attribute (If, Loop, Scan,
    SequenceMap); None for an op onnx does not know. Asked once per op type."""
    try:
        schema = onnx_defs.get_schema(op_type, "")
    except onnx_defs.SchemaError:
        declared = None
    else:
        declared = any(
            attr.type in (AttributeProto.GRAPH, AttributeProto.GRAPHS) for attr in schema.attributes.values()
        )
    _STANDARD_SUBGRAPHS[op_type] = declared
    return declared


def printable(text) -> str:
    return text.decode("utf-8", "replace") if isinstance(text, bytes) else text


def _node_label(node, index: int) -> str:
    return f"#{index} {node.op_type} '{node.name}'" if node.name else f"#{index} {node.op_type}"


def _defined(graph: GraphProto, init_names=None) -> set[str]:
    defined = {t.name for t in graph.initializer} if init_names is None else set(init_names)
    defined.update(vi.name for vi in graph.input)
    defined.update(t.values.name for t in graph.sparse_initializer)
    return defined


def implicit_inputs(node, depth: int = 0) -> set[str]:
    """The enclosing scope's tensors that a node's subgraphs read (a branch using the outer `x`):
    inputs as much as its own, though no field of the node names them."""
    names: set[str] = set()
    if depth >= 32:  # the walk refuses deeper nesting
        return names
    for _, graph in body_graphs(node):
        defined = _defined(graph)
        reads = {vo.name for vo in graph.output}
        for inner in graph.node:
            defined.update(inner.output)
            reads.update(inner.input)
            reads |= implicit_inputs(inner, depth + 1)
        names |= reads - defined
    names.discard("")
    return names


def dag_of(count: int, edges: list[tuple[int, int]]) -> nx.DiGraph:
    import networkx as nx  # only findings, explain and unsorted files need a graph object

    dag: nx.DiGraph[int] = nx.DiGraph()
    dag.add_nodes_from(range(count))
    dag.add_edges_from(edges)
    return dag


def link(
    graph: GraphProto, outer=frozenset(), nodes=None, init_names=None
) -> tuple[list[tuple[int, int]], dict[str, int]]:
    """(edges, producer) of one graph's nodes: an edge (u, v) means node v reads a tensor node u
    writes. Refuses tensors produced twice or never defined. `outer` holds the names an enclosing
    graph makes visible to a subgraph; `nodes` may give NodeViews of graph.node."""
    nodes = graph.node if nodes is None else nodes
    defined = _defined(graph, init_names)
    producer: dict[str, int] = {}
    for index, node in enumerate(nodes):
        if node.output and not any(node.output):
            raise InvalidModelError(f"node {_node_label(node, index)} has only empty output names")
        for name in node.output:
            if not name:
                continue
            if name in producer:
                raise InvalidModelError(
                    f"tensor '{name}' is produced twice: by {_node_label(nodes[producer[name]], producer[name])} "
                    f"and by {_node_label(node, index)}"
                )
            producer[name] = index
    edges = []
    for index, node in enumerate(nodes):
        for name in node.input:
            if not name:
                continue
            source = producer.get(name)
            if source is not None:
                edges.append((source, index))
            elif name not in defined and name not in outer:
                raise InvalidModelError(
                    f"node {_node_label(node, index)} reads tensor '{name}', which no node, initializer "
                    "or graph input defines (the file is truncated or inconsistent)"
                )
        if getattr(node, "has_graph", True) and len(node.attribute):
            # what a subgraph reads from this graph is an input of the node that holds it: its
            # producer must come first, and is not dead
            edges += [
                (producer[name], index)
                for name in sorted(implicit_inputs(node))
                if name in producer and producer[name] != index
            ]
    for vi in graph.output:
        if vi.name not in producer and vi.name not in defined and vi.name not in outer:
            raise InvalidModelError(
                f"graph output '{vi.name}' is never produced (the file is truncated or inconsistent)"
            )
    return edges, producer


def topological_order(edges: list[tuple[int, int]], nodes) -> tuple[list[int], bool]:
    """Deterministic topological order of `nodes` (the file's where it is one) and whether the file
    was unsorted."""
    if all(u < v for u, v in edges):  # the common case, checked in O(edges): no sort needed
        return list(range(len(nodes))), False
    import networkx as nx

    dag = dag_of(len(nodes), edges)
    try:
        order = list(nx.lexicographical_topological_sort(dag))
    except nx.NetworkXUnfeasible:
        cycle = nx.find_cycle(dag)
        members = ", ".join(_node_label(nodes[u], u) for u, _ in cycle[:4])
        more = " …" if len(cycle) > 4 else ""
        raise InvalidModelError(f"the graph has a cycle through {members}{more}") from None
    return order, True
