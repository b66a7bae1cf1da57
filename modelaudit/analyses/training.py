"""--training: backward-pass MACs and FLOPs per layer, and the activation memory saved for backward.

Conventions (docs/conventions.md, "Training"):
- an inner-product op needs one product per operand that wants a gradient: dW (a weight) and dX
  (an activation); a graph input wants none. So a conv costs 2× its forward MACs backward, the
  first conv 1× (weights only), an attention Q·Kᵀ 2× (both operands are activations);
- RNN/GRU/LSTM backpropagate through time: dX and dh_{t−1} through Wᵀ and Rᵀ, dW and dR
  accumulated, 2× the forward gate matmuls (the Wᵀ part is skipped when X is a graph input),
  plus the elementwise chain of the course: 25 FLOPs per LSTM unit and step;
- every other op: 2× its forward FLOPs;
- saved for backward: the non-constant inputs of ops that multiply them (Conv, MatMul, Mul…),
  the input of nonlinear elementwise ops and normalisations, nothing for linear ones (Add, data
  movement); LSTM keeps i, f, g, o, c_t and tanh(c_t) per step. A tensor saved twice counts once.
"""

from __future__ import annotations

from modelaudit.costs.report import Report, Row
from modelaudit.costs.rules.recurrent import GATES
from modelaudit.figures import Figure
from modelaudit.graph.model import ModelGraph
from modelaudit.load.dtypes import tensor_bytes

__all__ = ["add_training", "with_training", "LSTM_BACKWARD_PER_UNIT", "STATE_SAVED_PER_UNIT"]

_PRODUCTS = {
    "Conv": (0, 1),
    "ConvTranspose": (0, 1),
    "Gemm": (0, 1),
    "MatMul": (0, 1),
    "FusedMatMul": (0, 1),
    "FusedConv": (0, 1),
    "FusedGemm": (0, 1),
    "ConvInteger": (0, 1),
    "MatMulInteger": (0, 1),
    "QLinearConv": (0, 3),
    "QLinearMatMul": (0, 3),
    "MatMulNBits": (0, 1),
    "DeformConv": (0, 1),
}
_LINEAR = {
    "Add",
    "Sub",
    "Sum",
    "Neg",
    "Mean",
    "Identity",
    "Dropout",
    "Reshape",
    "Flatten",
    "Squeeze",
    "Unsqueeze",
    "Transpose",
    "Concat",
    "Split",
    "Slice",
    "Gather",
    "Pad",
    "Expand",
    "Tile",
    "Cast",
    "AveragePool",
    "GlobalAveragePool",
    "ReduceSum",
    "ReduceMean",
    "DepthToSpace",
    "SpaceToDepth",
    "Resize",
}
_SAVE_OUTPUT = {"Softmax", "LogSoftmax", "Sigmoid", "Tanh", "Exp", "Relu"}
# the course's chain per LSTM unit and step: dE/do 1, dE/dc_t 4, dE/di, dE/dg, dE/df, dE/dc_{t-1} 1 each,
# σ'(Z)=σ(1−σ) for i, f, o 3 each, tanh' for g 3, bias gradients 4
LSTM_BACKWARD_PER_UNIT = 1 + 4 + 1 + 1 + 1 + 1 + 3 * 3 + 3 + 4
STATE_SAVED_PER_UNIT = {"LSTM": 6, "GRU": 4, "RNN": 1}  # per step: gates and states kept for backward


def _nbytes(mg: ModelGraph, name: str) -> int:
    return mg.nbytes(name) or 0  # 0 when unknown, or when a dim is below 0 (no size)


def _wants_grad(mg: ModelGraph, name: str, constant: set[str], params: set[str]) -> bool:
    if name in params:
        return True
    return bool(name) and name not in constant and name not in mg.inputs


def _backward(mg: ModelGraph, row: Row, constant: set[str], params: set[str]) -> tuple[int, int, list[str], int]:
    """A row of known MACs: its backward MACs and FLOPs, the tensors it saves for backward and the
    bytes of recurrent state it keeps."""
    assert row.macs is not None and row.flops is not None
    if row.scope:  # inside a subgraph: the general convention, no tensor bookkeeping
        return 2 * row.macs, 2 * row.flops, [], 0
    node = mg.nodes[row.index]
    op = node.op_type
    if op in _PRODUCTS and row.macs:
        operands = [node.input[i] for i in _PRODUCTS[op] if i < len(node.input)]
        wanting = sum(1 for n in operands if _wants_grad(mg, n, constant, params)) or 1
        macs = wanting * row.macs
        return macs, 2 * macs + 2 * (row.flops - 2 * row.macs), [n for n in node.input if n and n not in constant], 0
    if op in GATES and row.macs and (row.details or {}).get("gates"):
        # without the per-gate breakdown (W or R of unknown shape) the general convention below applies
        dirs, hidden, inputs = (int(v) for v in row.details["gates"][0]["W_x_shape"].split("x"))
        units = row.macs // (GATES[op] * (inputs + hidden))  # seq·batch·dirs·H
        x_part = units * GATES[op] * inputs  # the W·x products; their transpose gives dX
        macs = 2 * row.macs - (x_part if node.input[0] in mg.inputs else 0)
        per_unit = LSTM_BACKWARD_PER_UNIT if op == "LSTM" else 2 * ((row.flops - 2 * row.macs) // units)
        first = mg.info(node.input[0])
        itemsize = (tensor_bytes(1, first.dtype) if first is not None else None) or 4
        return macs, 2 * macs + units * per_unit, [node.input[0]], units * STATE_SAVED_PER_UNIT[op] * itemsize
    if op in _LINEAR or row.status in ("zero-cost", "constant"):
        saved = []
    elif op in _SAVE_OUTPUT:
        saved = [n for n in node.output[:1] if n]
    else:
        saved = [n for n in node.input if n and n not in constant]
    return 2 * row.macs, 2 * row.flops, saved, 0


def add_training(mg: ModelGraph, report: Report, constant: set[str], params: set[str]) -> Report:
    """Each row's backward MACs and FLOPs (report.tables["training"]) and report.training's totals
    with the bytes saved for backward."""
    saved_names: set[str] = set()
    state_bytes = 0
    backward_macs: list[int | None] = [None] * len(report.rows)  # unknown where the forward MACs are
    backward_flops: list[int | None] = [None] * len(report.rows)
    for number, row in enumerate(report.rows):
        if row.macs is None:
            continue
        backward_macs[number], backward_flops[number], saved, state = _backward(mg, row, constant, params)
        saved_names.update(saved)
        state_bytes += state
    report.tables["training"] = {"backward_macs": backward_macs, "backward_flops": backward_flops}
    saved_bytes = sum(_nbytes(mg, n) for n in saved_names) + state_bytes
    # a row whose forward MACs are unknown has unknown backward MACs: the sums below are then floors
    unknown = sum(1 for r in report.rows if r.runs and r.macs is None)
    saved_unknown = sum(1 for n in saved_names if not _known(mg, n))
    complete = not unknown and report.totals.macs.complete  # a branch counted in part: floors too
    runs = [r.runs for r in report.rows]
    backward = Figure.of(sum((macs or 0) * n for macs, n in zip(backward_macs, runs)), complete)
    backward_flops_total = Figure.of(sum((flops or 0) * n for flops, n in zip(backward_flops, runs)), complete)
    training_macs = report.totals.macs + backward
    batch = _batch(mg)
    report.training = {
        "backward_macs": backward,
        "backward_flops": backward_flops_total,
        "saved_activation_bytes": Figure.of(saved_bytes, not saved_unknown and not unknown),
        "training_macs": training_macs,
        "training_flops": report.totals.flops + backward_flops_total,
        "batch": batch,
        "training_macs_per_sample": training_macs.map(lambda v: v // batch) if batch else None,
        "unknown_nodes": unknown,
    }
    return report


def _known(mg: ModelGraph, name: str) -> bool:
    info = mg.info(name)
    return info is not None and info.known


def _batch(mg: ModelGraph) -> int | None:
    """The first input's batch size: dim 0, or dim 1 when it feeds a sequence-first recurrent op."""
    for name in mg.inputs:
        info = mg.info(name)
        if info is None or not info.shape:
            continue
        axis = 0
        for node in mg.nodes:
            if node.op_type in GATES and node.input and node.input[0] == name:
                layout = next((a.i for a in node.attribute if a.name == "layout"), 0)
                axis = 1 if layout == 0 else 0
        dim = info.shape[axis] if axis < len(info.shape) else None
        return dim if isinstance(dim, int) and dim > 0 else None
    return None


def with_training(mg: ModelGraph, report: Report) -> Report:
    """The report with backward-pass costs, the weights' roles read from the graph."""
    from modelaudit.costs.weights import find_weights
    from modelaudit.graph.walk import walk

    weights = find_weights(mg, walk(mg))
    assert weights is not None  # None only when asked to find them without shapes
    params = {leaf.name for leaf in weights.leaves.values() if leaf.role == "param"}
    return add_training(mg, report, weights.constant_tensors, params)
