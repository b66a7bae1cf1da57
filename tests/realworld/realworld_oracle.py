"""Figures for files no torch module stands behind, computed apart from modelaudit: MACs from the
shapes onnxruntime produces when it runs the model, params from the tensors the file stores."""

from __future__ import annotations

import math

import numpy as np
import onnx
from onnx import AttributeProto, TensorProto, helper, numpy_helper

__all__ = ["stored_weights", "runtime_macs", "feeds_for", "with_branch"]

FLOATS = {TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.DOUBLE, TensorProto.BFLOAT16}
INT8 = {TensorProto.INT8, TensorProto.UINT8}
NARROW_INTS = INT8 | {TensorProto.INT16, TensorProto.UINT16, TensorProto.INT4, TensorProto.UINT4}
# input slots that hold settings or state, never weights
SETTINGS = {
    "Reshape": {1},
    "Expand": {1},
    "Tile": {1},
    "Resize": {1, 2, 3},
    "Upsample": {1},
    "Pad": {1, 2, 3},
    "Clip": {1, 2},
    "Slice": {1, 2, 3, 4},
    "Squeeze": {1},
    "Unsqueeze": {1},
    "Split": {1},
    "TopK": {1},
    "Range": {0, 1, 2},
    "ConstantOfShape": {0},
    "LSTM": {4, 5, 6},
    "GRU": {4, 5},
    "RNN": {4, 5},
    "DynamicQuantizeLSTM": {4, 5, 6},
}
SCALES = {
    "BatchNormalization": {3, 4},
    "QuantizeLinear": {1, 2},
    "DequantizeLinear": {1, 2},
    "ConvInteger": {2, 3},
    "MatMulInteger": {2, 3},
    "DynamicQuantizeLSTM": {8, 9, 10, 11},
    "QLinearConv": {1, 2, 4, 5, 6, 7},
    "QLinearMatMul": {1, 2, 4, 5, 6, 7},
}
INT8_WEIGHTS = {
    "ConvInteger": {1},
    "MatMulInteger": {1},
    "QLinearConv": {3, 8},
    "QLinearMatMul": {3},
    "DequantizeLinear": {0},
    "DynamicQuantizeLSTM": {1, 2},
}


def _numel(t: TensorProto) -> int:
    return math.prod(t.dims)


def stored_weights(model: onnx.ModelProto) -> tuple[int, int]:
    """(params, non-trainable): each stored tensor once, classed by the first run-time node that
    reads it (through chains of all-constant nodes), every graph and subgraph walked."""
    sources: dict[str, tuple[int, int]] = {}  # id -> (numel, dtype)
    role: dict[str, str] = {}

    values: dict[str, np.ndarray] = {}  # small integer tensors: the shapes ConstantOfShape reads
    # weights dequantized by hand: narrow integer sources a constant Cast turns into floats, and the
    # scales and zero points the arithmetic after it applies to them
    dequantized: set[str] = set()
    scales: set[str] = set()

    def by_hand(node, const) -> None:
        if node.op_type == "Cast" and _attr(node, "to") in FLOATS:
            dequantized.update(s for s in const[node.input[0]] if sources[s][1] in NARROW_INTS)
        elif node.op_type in ("Mul", "Div", "Sub", "Add"):
            held = {i: max((sources[s][0] for s in const[i] if s in dequantized), default=0) for i in node.input}
            weight = max(held, key=held.get)
            if held[weight]:
                for i in node.input:
                    if i != weight:
                        scales.update(const[i])
                        dequantized.difference_update(const[i])

    def walk(graph, outer: dict, prefix: str) -> None:
        const = dict(outer)  # tensor -> source ids it is computed from
        for t in graph.initializer:
            sources[prefix + t.name] = (_numel(t), t.data_type)
            const[t.name] = {prefix + t.name}
            if t.data_type == TensorProto.INT64 and _numel(t) <= 8:
                values[t.name] = numpy_helper.to_array(t)
        for node in graph.node:
            if node.op_type == "Constant":
                t = next((a.t for a in node.attribute if a.name == "value"), None)
                sources[prefix + node.output[0]] = (_numel(t), t.data_type) if t is not None else (1, TensorProto.FLOAT)
                const[node.output[0]] = {prefix + node.output[0]}
                if t is not None and t.data_type == TensorProto.INT64 and _numel(t) <= 8:
                    values[node.output[0]] = numpy_helper.to_array(t)
                continue
            if node.op_type == "ConstantOfShape" and node.input[0] in values:  # a generated weight
                t = next((a.t for a in node.attribute if a.name == "value"), None)
                dtype = t.data_type if t is not None else TensorProto.FLOAT
                sources[prefix + node.output[0]] = (int(np.prod(values[node.input[0]])), dtype)
                const[node.output[0]] = {prefix + node.output[0]}
                continue
            graphs = [a.g for a in node.attribute if a.type == AttributeProto.GRAPH]
            for g in graphs:
                walk(g, const, f"{prefix}{node.output[0]}/{g.name}/")
            inputs = [i for i in node.input if i]
            if inputs and all(i in const for i in inputs) and not graphs:
                by_hand(node, const)
                for o in node.output:
                    const[o] = set().union(*(const[i] for i in inputs))
                continue
            for slot, name in enumerate(node.input):
                if name not in const or slot in SETTINGS.get(node.op_type, ()):
                    continue
                scale = slot in SCALES.get(node.op_type, ())
                for sid in const[name]:
                    numel, dtype = sources[sid]
                    if scale or sid in scales:
                        role.setdefault(sid, "non-trainable")
                    elif numel > 1 and (
                        dtype in FLOATS
                        or sid in dequantized
                        or (dtype in INT8 | {TensorProto.INT32} and slot in INT8_WEIGHTS.get(node.op_type, ()))
                    ):
                        role[sid] = "param"

    walk(model.graph, {}, "")
    params = sum(sources[s][0] for s, r in role.items() if r == "param")
    return params, sum(sources[s][0] for s, r in role.items() if r == "non-trainable")


def feeds_for(model: onnx.ModelProto, shapes: dict[str, tuple], values: dict[str, float] | None = None) -> dict:
    """Seeded normal floats, zero integers (or the given value), for the given shapes."""
    rng = np.random.default_rng(0)
    feeds = {}
    for vi in model.graph.input:
        if vi.name not in shapes:
            continue
        dtype = helper.tensor_dtype_to_np_dtype(vi.type.tensor_type.elem_type)
        shape = shapes[vi.name]
        if values and vi.name in values:
            feeds[vi.name] = np.full(shape, values[vi.name], dtype)
        elif np.issubdtype(dtype, np.floating):
            feeds[vi.name] = rng.standard_normal(shape).astype(dtype)
        else:
            feeds[vi.name] = np.zeros(shape, dtype)
    return feeds


def with_branch(model: onnx.ModelProto, branch: str) -> onnx.ModelProto:
    """The model with its one top-level If replaced by the nodes of `branch` (then_branch or
    else_branch): a straight-line graph runtime_macs can measure, whatever the condition."""
    (if_node,) = [n for n in model.graph.node if n.op_type == "If"]
    body = next(a.g for a in if_node.attribute if a.name == branch)
    out = onnx.ModelProto()
    out.CopyFrom(model)
    del out.graph.node[:]
    out.graph.node.extend(n for n in model.graph.node if n is not if_node)
    out.graph.node.extend(body.node)
    out.graph.initializer.extend(body.initializer)
    out.graph.node.extend(helper.make_node("Identity", [b.name], [o]) for b, o in zip(body.output, if_node.output))
    return out


def _attr(node, name, default=None):
    return next((helper.get_attribute_value(a) for a in node.attribute if a.name == name), default)


def runtime_macs(model: onnx.ModelProto, feeds: dict) -> int:
    """Σ over the main graph's nodes of the textbook MACs at the shapes onnxruntime produces (every
    node output made a graph output; no graph optimisation). Models with If, Loop or Scan at the
    top level are not covered (a ValueError)."""
    import onnxruntime as ort

    if any(n.op_type in ("If", "Loop", "Scan") for n in model.graph.node):
        raise ValueError("control flow: runtime_macs covers straight-line graphs only")
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    seen = {o.name for o in probe.graph.output}
    for node in probe.graph.node:
        probe.graph.output.extend(onnx.ValueInfoProto(name=o) for o in node.output if o and o not in seen)
        seen.update(node.output)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.log_severity_level = 3
    session = ort.InferenceSession(probe.SerializeToString(), options, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    shapes = {n: np.asarray(v).shape for n, v in zip(names, session.run(None, feeds))}
    shapes.update({k: v.shape for k, v in feeds.items()})
    shapes.update({t.name: tuple(t.dims) for t in model.graph.initializer})
    for node in model.graph.node:
        if node.op_type == "Constant":
            shapes[node.output[0]] = tuple(next(a.t.dims for a in node.attribute if a.name == "value"))
    total = 0
    for node in model.graph.node:

        def shape(i: int, node=node) -> tuple:
            return shapes[node.input[i]]

        y = math.prod(shapes[node.output[0]]) if node.output and node.output[0] in shapes else 0
        op = node.op_type
        if op in ("Conv", "ConvInteger", "FusedConv"):  # com.microsoft.nchwc's Conv too, on its padded W
            total += y * math.prod(shape(1)[1:])
        elif op == "QLinearConv":
            total += y * math.prod(shape(3)[1:])
        elif op == "ConvTranspose":
            total += math.prod(shape(0)) * math.prod(shape(1)[1:])
        elif op in ("MatMul", "MatMulInteger", "QLinearMatMul", "DynamicQuantizeMatMul", "MatMulIntegerToFloat"):
            total += y * shape(0)[-1]
        elif op == "FusedMatMul":  # transBatch moves dim 0 before the last two, trans swaps those
            a = list(shape(0))
            if _attr(node, "transBatchA", 0):
                a = a[1:-1] + [a[0], a[-1]]
            total += y * (a[-2] if _attr(node, "transA", 0) else a[-1])
        elif op in ("Gemm", "FusedGemm"):
            total += y * (shape(0)[0] if _attr(node, "transA", 0) else shape(0)[-1])
        elif op in ("LSTM", "GRU", "RNN", "DynamicQuantizeLSTM"):
            x, hidden = shape(0), _attr(node, "hidden_size")
            gates = {"GRU": 3, "RNN": 1}.get(op, 4)
            seq, batch = (x[1], x[0]) if _attr(node, "layout", 0) else (x[0], x[1])
            dirs = 2 if _attr(node, "direction", b"forward") in (b"bidirectional", "bidirectional") else 1
            total += seq * batch * dirs * gates * hidden * (x[2] + hidden)
        elif op in ("Einsum", "Attention", "MultiHeadAttention", "GroupQueryAttention", "QAttention", "DeformConv"):
            raise ValueError(f"{op}: no textbook formula here")
    return total
