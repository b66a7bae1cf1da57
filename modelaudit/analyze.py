"""The audit: a topological walk that builds each node's context, dispatches it to its rule, and
assembles the Report."""

from __future__ import annotations

import logging
import math
import os
from functools import lru_cache

import onnx
from onnx import ModelProto, defs, helper

from .cost import Cost, NodeContext, Unresolved, dims_str
from .dtypes import dtype_name, tensor_bytes
from .graph import ModelGraph, load
from .report import Report, Row, Totals
from .rules import find_rule, is_zero_cost
from .weights import WeightTable, find_weights

__all__ = ["audit", "analyze"]

log = logging.getLogger(__name__)


@lru_cache(maxsize=None)
def _schema_defaults(op_type: str, domain: str, opset: int) -> dict:
    try:
        schema = defs.get_schema(op_type, max(opset, 1), domain)
    except Exception:  # unknown op, domain or version: the node's own attributes are all we have
        return {}
    return {name: helper.get_attribute_value(a.default_value)
            for name, a in schema.attributes.items() if a.default_value.type}


def _attrs(node, opset: int) -> dict:
    attrs = dict(_schema_defaults(node.op_type, node.domain if node.domain != "ai.onnx" else "", opset))
    for a in node.attribute:
        value = helper.get_attribute_value(a)
        attrs[a.name] = value.decode() if isinstance(value, bytes) else value
    return attrs


def _shape_of(mg: ModelGraph, name: str) -> str:
    info = mg.info(name)
    return dims_str(info.shape if info is not None else None)


def _output_bytes(mg: ModelGraph, node) -> int | None:
    total = 0
    for name in node.output:
        if not name:
            continue
        info = mg.info(name)
        if info is None or not info.known:
            return None
        size = tensor_bytes(math.prod(info.shape), info.dtype)
        if size is None:
            return None
        total += size
    return total


def _cost(mg: ModelGraph, weights: WeightTable, index: int, node, warnings: list[str]) -> tuple[Cost, str, list]:
    """(cost, status, unresolved dims) of one node."""
    if index in weights.constant_nodes:
        return Cost(formula="all inputs constant: folded at load"), "constant", []
    opset = mg.opset(node.domain)
    spec = find_rule(node.op_type, node.domain, opset)
    if spec is None:
        if is_zero_cost(node.op_type, node.domain):
            return Cost(formula="data movement"), "zero-cost", []
        return Cost(), "uncounted", []
    ctx = NodeContext(
        node=node, index=index, opset=opset, attrs=_attrs(node, opset),
        inputs=[mg.info(n) if n else None for n in node.input],
        outputs=[mg.info(n) if n else None for n in node.output],
        constant_inputs=frozenset(i for i, n in enumerate(node.input) if n in weights.constant_tensors),
        values=[mg.values.get(n) if n else None for n in node.input],
    )
    try:
        return spec.fn(ctx), "counted", []
    except Unresolved as exc:
        return Cost(formula=str(exc)), "unresolved", exc.dims
    except (ValueError, TypeError, IndexError, KeyError, ZeroDivisionError) as exc:
        warnings.append(f"rule for {node.op_type} failed on node #{index} '{node.name}': {exc}")
        return Cost(), "error", []


def _input_dim_names(mg: ModelGraph) -> tuple[dict[str, str], list[str]]:
    """Symbolic dim name -> the input declaring it; inputs with anonymous dynamic dims."""
    named: dict[str, str] = {}
    anonymous: list[str] = []
    for name in mg.inputs:
        info = mg.info(name)
        if info is None or info.shape is None:
            anonymous.append(name)
            continue
        for d in info.shape:
            if isinstance(d, str):
                named.setdefault(d, name)
            elif d is None and name not in anonymous:
                anonymous.append(name)
    return named, anonymous


def _unresolved_hints(mg: ModelGraph, counts: dict[str, int]) -> list[dict]:
    named, anonymous = _input_dim_names(mg)
    hints = []
    for dim, nodes in sorted(counts.items()):
        if dim in named:
            flag = f"--dim {dim}=N"
        elif anonymous:
            flag = " ".join(f"--input {n}={dims_str(mg.info(n).shape if mg.info(n) else None)}"
                            for n in anonymous).replace("?", "N")
        elif named:  # an unknown derived from a symbolic input dim: fixing those resolves it
            flag = " ".join(f"--dim {d}=N" for d in sorted(named))
        else:
            flag = "none: the shape is computed from data at run time"
        hints.append({"dim": dim, "nodes": nodes, "flag": flag})
    return hints


def analyze(mg: ModelGraph) -> Report:
    """Costs every node of a loaded ModelGraph."""
    weights = find_weights(mg)
    warnings = list(mg.warnings)
    rows: list[Row] = []
    uncounted: dict[str, int] = {}
    unresolved: dict[str, int] = {}
    nodes = mg.nodes
    for index in mg.order:
        node = nodes[index]
        cost, status, dims = _cost(mg, weights, index, node, warnings)
        known = status in ("counted", "zero-cost", "constant")
        row = Row(
            index=index, name=node.name or f"{node.op_type}_{index}", op=node.op_type,
            domain=node.domain,
            inputs=[_shape_of(mg, n) for n in node.input if n and n not in weights.constant_tensors],
            weights=[_shape_of(mg, n) for n in node.input if n and n in weights.constant_tensors],
            outputs=[_shape_of(mg, n) for n in node.output if n],
            params=weights.params_by_node.get(index, 0),
            non_trainable=weights.non_trainable_by_node.get(index, 0),
            macs=cost.macs if known else None, flops=cost.flops if known else None,
            output_bytes=_output_bytes(mg, node), formula=cost.formula, status=status,
            unresolved=sorted(set(dims)),
        )
        rows.append(row)
        if status == "uncounted":
            uncounted[row.op_label] = uncounted.get(row.op_label, 0) + 1
        for d in row.unresolved:
            unresolved[d] = unresolved.get(d, 0) + 1
    by_dtype = weights.bytes_by_dtype()
    totals = Totals(
        params=weights.params, non_trainable=weights.non_trainable,
        weight_bytes=sum(by_dtype.values()), weight_bytes_by_dtype=by_dtype,
        macs=sum(r.macs or 0 for r in rows), flops=sum(r.flops or 0 for r in rows),
        macs_complete=all(r.macs is not None for r in rows),
        activation_bytes=sum(r.output_bytes or 0 for r in rows if r.status != "constant"),
        nodes=len(rows),
    )
    return Report(model=_model_info(mg), rows=rows, totals=totals, uncounted=uncounted,
                  unresolved=_unresolved_hints(mg, unresolved), warnings=warnings)


def _model_info(mg: ModelGraph) -> dict:
    m = mg.model

    def tensor(name: str) -> dict:
        info = mg.info(name)
        return {"name": name, "shape": dims_str(info.shape if info else None),
                "dtype": dtype_name(info.dtype) if info else "?"}

    return {
        "path": os.fspath(mg.path) if mg.path else None,
        "graph": m.graph.name,
        "producer": f"{m.producer_name} {m.producer_version}".strip(),
        "ir_version": m.ir_version,
        "opsets": {(k or "ai.onnx"): v for k, v in sorted(mg.opsets.items())},
        "inputs": [tensor(n) for n in mg.inputs],
        "outputs": [tensor(n) for n in mg.outputs],
    }


def audit(model: str | os.PathLike | ModelProto, inputs: dict[str, tuple] | None = None,
          dims: dict[str, int] | None = None) -> Report:
    """Audits a model file (or ModelProto): per-node params, MACs, FLOPs and bytes, with totals.

    `inputs` fixes dynamic input shapes ({"x": (1, 3, 224, 224)}); `dims` fixes named dims
    ({"batch": 1}).
    """
    return analyze(load(model, inputs=inputs, dims=dims))
