"""Shapes into and out of If, Loop and Scan bodies: formal inputs seeded from the node, outputs carried back."""

from __future__ import annotations

from onnx import GraphProto, NodeProto, TensorProto

from modelaudit.load.attributes import body_graphs

from .tensor import TensorInfo

__all__ = ["body_graphs", "seeds", "carried", "node_outputs", "merge", "loop_like", "nested_outputs", "if_branch"]


def nested_outputs(nodes, depth: int = 0) -> list[str]:
    """The outputs of every node inside the subgraphs of `nodes`, at any depth (up to the walk's 32)."""
    names: list[str] = []
    if depth >= 32:
        return names
    for node in nodes:
        for _, graph in body_graphs(node) if len(node.attribute) else ():
            names += [o for n in graph.node for o in n.output if o]
            names += nested_outputs(graph.node, depth + 1)
    return names


def merge(a: tuple | None, b: tuple | None) -> tuple | None:
    """What two shapes of one tensor agree on (two If branches, a loop's first and later steps)."""
    if a is None or b is None or len(a) != len(b):
        return None
    return tuple(x if x == y else None for x, y in zip(a, b))


def _ints(node: NodeProto, name: str) -> list[int] | None:
    for attr in node.attribute:
        if attr.name == name:
            return list(attr.ints)
    return None


def _int(node: NodeProto, name: str, default: int) -> int:
    for attr in node.attribute:
        if attr.name == name:
            return attr.i
    return default


def loop_like(node: NodeProto, opset: int) -> bool:
    """Loop and Scan (opset 9 on: Scan-8's batch axis is not modelled) carry state across steps."""
    return node.domain in ("", "ai.onnx") and (node.op_type == "Loop" or (node.op_type == "Scan" and opset >= 9))


def _info(infos: dict, name: str) -> TensorInfo | None:
    return infos.get(name) if name else None


def _scan_axis(axes: list[int] | None, k: int, rank: int) -> int | None:
    axis = axes[k] if axes and k < len(axes) else 0
    axis = axis + rank if axis < 0 else axis
    return axis if 0 <= axis < rank else None


def seeds(
    node: NodeProto, graph: GraphProto, infos: dict, opset: int, carried_shapes: list | None = None
) -> dict[str, TensorInfo]:
    """The body's formal inputs as the node feeds them: Loop's iteration number and condition, then
    its carried values; Scan's state, then one slice of each scanned input. `carried_shapes`
    replaces the carried values' shapes (when they change from one step to the next)."""
    formal = [vi.name for vi in graph.input]
    fed: list[TensorInfo | None] = []
    if not loop_like(node, opset):
        return {}
    if node.op_type == "Loop":
        fed = [TensorInfo("", (), TensorProto.INT64), TensorInfo("", (), TensorProto.BOOL)]
        fed += [_info(infos, name) for name in node.input[2:]]
        first_carried = 2
    else:
        m = _int(node, "num_scan_inputs", 0)
        n = len(node.input) - m
        fed = [_info(infos, name) for name in node.input[:n]]
        axes = _ints(node, "scan_input_axes")
        for k, name in enumerate(node.input[n:]):
            info = _info(infos, name)
            if info is None or info.shape is None:
                fed.append(info)
                continue
            axis = _scan_axis(axes, k, len(info.shape))
            shape = None if axis is None else info.shape[:axis] + info.shape[axis + 1 :]
            fed.append(TensorInfo("", shape, info.dtype))
        first_carried = 0
    if carried_shapes is not None:
        for i, shape in enumerate(carried_shapes):
            info = fed[first_carried + i] if first_carried + i < len(fed) else None
            if info is not None:
                fed[first_carried + i] = TensorInfo("", shape, info.dtype)
    return {
        name: TensorInfo(name, info.shape, info.dtype)
        for name, info in zip(formal, fed)
        if name and info is not None and info.dtype
    }


def carried(node: NodeProto, graph: GraphProto) -> list[tuple[str, str]]:
    """(formal input, body output) of each value a Loop or Scan carries from one step to the next."""
    if node.op_type == "Loop":
        n = len(node.input) - 2
        return list(zip([vi.name for vi in graph.input[2 : 2 + n]], [vo.name for vo in graph.output[1 : 1 + n]]))
    n = len(node.input) - _int(node, "num_scan_inputs", 0)
    return list(zip([vi.name for vi in graph.input[:n]], [vo.name for vo in graph.output[:n]]))


def node_outputs(
    node: NodeProto, graphs: list[tuple[str, GraphProto]], infos: dict, values: dict, opset: int
) -> dict[str, TensorInfo]:
    """The node's outputs from its bodies' outputs: If's agree-on shape of both branches; Loop's and
    Scan's final state, and their scan outputs stacked along the steps."""
    op = node.op_type
    out: dict[str, TensorInfo] = {}
    if node.domain not in ("", "ai.onnx"):
        return out
    if op == "If" and len(graphs) == 2:
        then_g, else_g = (g for _, g in sorted(graphs, key=lambda p: p[0] != "then_branch"))
        taken = if_branch(node, values)
        for name, a, b in zip(node.output, then_g.output, else_g.output):
            ia, ib = infos.get(a.name), infos.get(b.name)
            if taken is not None:  # torch's "squeeze if that dim is 1": the branches differ in rank
                ia = ib = ia if taken == "then_branch" else ib
            if name and ia is not None and ib is not None:
                out[name] = TensorInfo(name, merge(ia.shape, ib.shape), ia.dtype or ib.dtype)
        return out
    if not loop_like(node, opset) or len(graphs) != 1:
        return out
    graph = graphs[0][1]
    pairs = carried(node, graph)
    body_out = [vo.name for vo in graph.output]
    first_scan = 1 + len(pairs) if op == "Loop" else len(pairs)
    for name, (_, inner) in zip(node.output, pairs):
        info = infos.get(inner)
        if name and info is not None:
            out[name] = TensorInfo(name, info.shape, info.dtype)
    steps = _steps(node, infos, values)
    axes = _ints(node, "scan_output_axes") if op == "Scan" else None
    for k, (name, inner) in enumerate(zip(node.output[len(pairs) :], body_out[first_scan:])):
        info = infos.get(inner)
        if not name or info is None or info.shape is None:
            continue
        axis = _scan_axis(axes, k, len(info.shape) + 1)
        if axis is not None:
            out[name] = TensorInfo(name, info.shape[:axis] + (steps,) + info.shape[axis:], info.dtype)
    return out


def if_branch(node: NodeProto, values: dict) -> str | None:
    """The branch an If takes when its condition is known statically (folded from shapes)."""
    cond = values.get(node.input[0]) if node.input and node.input[0] else None
    if cond is None or cond.dtype == object or cond.size != 1:
        return None
    return "then_branch" if bool(cond.reshape(-1)[0]) else "else_branch"


def _steps(node: NodeProto, infos: dict, values: dict) -> int | str | None:
    """How many steps run: Loop's constant trip count (without a condition), Scan's scanned length."""
    if node.op_type == "Loop":
        if len(node.input) > 1 and node.input[1]:
            return None  # a condition may stop it early
        count = values.get(node.input[0]) if node.input and node.input[0] else None
        return int(count.reshape(-1)[0]) if count is not None and count.size == 1 and count.dtype != object else None
    m = _int(node, "num_scan_inputs", 0)
    if m < 1 or len(node.input) < m:
        return None
    first = infos.get(node.input[len(node.input) - m])
    if first is None or first.shape is None:
        return None
    axis = _scan_axis(_ints(node, "scan_input_axes"), 0, len(first.shape))
    return None if axis is None else first.shape[axis]
