"""Bytes each row moves: the weights it reads, the activations it reads and the outputs it writes."""

from __future__ import annotations

import math

from modelaudit.costs.report import Report
from modelaudit.costs.weights import find_weights
from modelaudit.graph.model import ModelGraph
from modelaudit.graph.walk import flatten, walk
from modelaudit.load.dtypes import dtype_name

from .pricing import Pricing

__all__ = ["row_traffic", "VIEW_OPS"]

# Ops a runtime executes as a view of their input (no bytes copied), so they move nothing.
VIEW_OPS = frozenset({"Reshape", "Squeeze", "Unsqueeze", "Flatten", "Identity", "Shape", "Size", "Dropout"})


def row_traffic(
    mg: ModelGraph, report: Report, pricing: Pricing | None = None, sizes: dict[str, int] | None = None
) -> list[dict]:
    """Per row of `report` (same order): weight_bytes, input_bytes, output_bytes (None where a shape is
    unknown), the names of the tensors it reads and writes, and its compute dtype. Weights are the
    constant tensors it reads, at their stored dtype (or --weight-dtype's: `pricing`); a Gather reads
    only the rows it gathers. `sizes` gives some activations' bytes (a KV cache at --kv-dtype)."""
    visits = list(flatten(walk(mg)))
    if len(visits) != len(report.rows):
        raise ValueError(f"{len(visits)} nodes walked for {len(report.rows)} rows")
    table = find_weights(mg, walk(mg))
    constant = table.constant_tensors if table is not None else set()
    stored: dict[str, int] = {}
    nbytes = mg.nbytes if not sizes else (lambda n: sizes[n] if n in sizes else mg.nbytes(n))
    out = []
    for visit, row in zip(visits, report.rows):
        node = visit.node
        reads = [n for n in node.input if n and n not in constant]
        writes = [n for n in node.output if n]
        moves = row.status != "constant" and node.op_type not in VIEW_OPS
        input_bytes = _sum(nbytes, reads) if moves else 0
        output_bytes = _sum(nbytes, writes) if moves else 0
        # every reader of a weight reads it (a tied embedding and lm_head both do), as stored
        held = [n for n in node.input if n in constant] if moves else []
        weight = sum(_stored_bytes(mg, n, constant, stored, pricing) for n in held)
        if node.op_type == "Gather" and weight and output_bytes is not None:
            weight = _gathered(mg, node, weight, output_bytes)
        dtype = _dtype(mg, node)
        if pricing is not None and pricing.weight_dtype:
            dtype = pricing.compute_dtype(dtype, any(_priced(mg, n, pricing) for n in held))
        out.append(
            {
                "weight_bytes": weight,
                "input_bytes": input_bytes,
                "output_bytes": output_bytes,
                "reads": reads,
                "writes": writes,
                "dtype": dtype,
            }
        )
    return out


def _gathered(mg: ModelGraph, node, weight: int, output_bytes: int) -> int:
    """An embedding lookup reads only the rows it gathers: their share of the table's bytes as stored
    (or priced), at most the bytes it writes."""
    table, out = mg.info(node.input[0]), mg.info(node.output[0])
    if table is None or out is None or table.shape is None or out.shape is None:
        return min(weight, output_bytes)
    rows = [d for d in table.shape if isinstance(d, int)]
    gathered = [d for d in out.shape if isinstance(d, int)]
    if len(rows) != len(table.shape) or len(gathered) != len(out.shape) or not math.prod(rows):
        return min(weight, output_bytes)
    return min(-(-weight * math.prod(gathered) // math.prod(rows)), weight)


def _priced(mg: ModelGraph, name: str, pricing: Pricing | None) -> int | None:
    """An initializer's bytes at --weight-dtype, or None where it keeps its own."""
    init = mg.initializers.get(name)
    if pricing is None or init is None:
        return None
    return pricing.weight(init.numel, dtype_name(init.dtype), len(init.dims))


def _stored_bytes(
    mg: ModelGraph, name: str, constant: set[str], memo: dict[str, int], pricing: Pricing | None = None
) -> int:
    """Bytes of a constant tensor as the file stores it: an int8 weight that a folded DequantizeLinear
    turns to float32 is read as its int8 bytes (and scales), as a fused runtime reads it; a constant
    computed from others (Transpose, Reshape…) is read as its sources. Never more than its own size."""
    if name in memo:
        return memo[name]
    memo[name] = own = mg.nbytes(name) or 0  # a guard against cycles through malformed graphs
    init = mg.initializers.get(name)
    if init is not None:
        from modelaudit.load.dtypes import tensor_bytes

        priced = _priced(mg, name, pricing)
        memo[name] = priced if priced is not None else (tensor_bytes(init.numel, init.dtype) or own)
        return memo[name]
    producer = mg.producer.get(name)
    if producer is not None and own:
        node = mg.nodes[producer]
        sources = [n for n in node.input if n]
        if sources and all(n in constant for n in sources):
            memo[name] = min(own, sum(_stored_bytes(mg, n, constant, memo, pricing) for n in sources))
    return memo[name]


def _dtype(mg: ModelGraph, node) -> str:
    """The dtype the node computes in: its first input's (a quantized matmul's int8 activations, a
    MatMulNBits' float ones), else its first output's."""
    for name in list(node.input[:1]) + list(node.output[:1]):
        info = mg.info(name) if name else None
        if info is not None and info.dtype:
            return dtype_name(info.dtype)
    return "?"


def _sum(nbytes, names: list[str]) -> int | None:
    total = 0
    for name in names:
        size = nbytes(name)
        if size is None:
            return None
        total += size
    return total
