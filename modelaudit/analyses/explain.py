"""explain: a node's figures derived by hand, formula first, then the numbers substituted."""

from __future__ import annotations

import difflib
import math

from modelaudit.costs.report import Report, Row
from modelaudit.costs.rules import find_rule
from modelaudit.costs.rules.recurrent import GATE_ORDER
from modelaudit.encoding import MAX_FIELD
from modelaudit.errors import UsageError
from modelaudit.graph.model import ModelGraph
from modelaudit.load.attributes import node_attributes
from modelaudit.render.common import safe
from modelaudit.shapes.geometry import (
    WindowError,
    effective_kernel,
    resolve_pads,
    window_attrs,
    window_dims,
)

__all__ = ["explain", "select_rows"]

_PASS = {
    "BatchNormalization",
    "Relu",
    "Clip",
    "Sigmoid",
    "HardSwish",
    "HardSigmoid",
    "LeakyRelu",
    "PRelu",
    "Mul",
    "Identity",
    "Elu",
    "Selu",
    "Tanh",
}


def qualified(module: str) -> str:
    """A module path as torch names the module (`layer1/layer1.0/conv1` -> `layer1.0.conv1`): each
    TorchScript segment is the module's qualified name from its last atom that is not a number, so
    a segment that starts with its parent's last such atom continues the parent's name."""
    name = ""
    for segment in module.split("/") if module else ():
        parent = next((a for a in reversed(name.split(".")) if not a.isdigit()), "") if name else ""
        head, _, rest = segment.partition(".")
        if parent and head == parent and (not rest or rest.split(".")[0].isdigit()):
            name += segment[len(head) :]
        else:
            name = f"{name}.{segment}" if name else segment
    return name


def _in_module(report: Report, module: str) -> list[Row]:
    """The rows that compute in a module (its path, `layer1/layer1.0`, or torch's name for it,
    `layer1.0`) and in the modules below it."""
    path = module.strip("/")
    modules = report.columns().column("module")
    names = {m: qualified(m) for m in dict.fromkeys(modules)}
    chosen = {
        m
        for m, q in names.items()
        if m == path or m.startswith(path + "/") or q == module or q.startswith(module + ".")
    }
    chosen |= {m for m in names if any(m.startswith(c + "/") for c in chosen)}
    return [r for r, m in zip(report.rows, modules) if m in chosen and r.status != "constant"]


def select_rows(report: Report, node: str | None, op: str | None) -> list[Row]:
    """The rows named NODE (or #INDEX, or of module NODE), or every row of op OP."""
    if op:
        rows = [r for r in report.rows if r.op == op]
        if not rows:
            ops = sorted({r.op for r in report.rows})
            raise UsageError(f"--op {op}: the model has no {op} node", f"its ops: {', '.join(ops)}")
        return rows
    if node is None:
        raise UsageError("explain needs a NODE name (or #INDEX) or --op OP")
    rows = [r for r in report.rows if r.name == node]
    if not rows and node.startswith("#") and node[1:].isdigit():
        rows = [r for r in report.rows if r.index == int(node[1:]) and not r.scope]
        if not rows:
            indexes = [r.index for r in report.rows if not r.scope]
            valid = f"#{min(indexes)} to #{max(indexes)}" if indexes else "none: the graph has no node"
            raise UsageError(
                f"no node {node}: the model's node indexes are {valid}",
                "the # column of `modelaudit report` gives each node's",
            )
    if not rows:
        rows = _in_module(report, node)
    if not rows:
        known = [r.name for r in report.rows] + [m for m in dict.fromkeys(report.columns().column("module")) if m]
        close = difflib.get_close_matches(node, known, n=3, cutoff=0.5)
        raise UsageError(
            f"no node named '{node}'",
            f"did you mean: {', '.join(close)}" if close else "see the names in `modelaudit report`",
        )
    return rows


def _dots(*values) -> str:
    return "·".join(str(v) for v in values)


def _n(value: int | None) -> str:
    return "?" if value is None else f"{value:,}"


def _attrs(node) -> dict:
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _known(mg: ModelGraph, name: str) -> tuple | None:
    info = mg.info(name) if name else None
    return info.shape if info is not None and info.known else None


def _conv(mg: ModelGraph, row: Row, report: Report) -> list[str] | None:
    """The derivation, or None when the node's shapes or attributes do not allow one (its row then
    says why, as `report` does)."""
    node = mg.nodes[row.index]
    attrs = node_attributes(node, mg.opset(node.domain))
    x, w = _known(mg, node.input[0]), _known(mg, node.input[1]) if len(node.input) > 1 else None
    group = attrs.get("group", 1)
    if x is None or w is None or len(w) < 3 or not isinstance(group, int) or group < 1:
        return None
    c_out, per_group, *kernel = w
    rank = len(kernel)
    try:
        strides, dilations = window_attrs(attrs, x, tuple(kernel))
        pads = resolve_pads(attrs, x[2:], tuple(kernel), strides, dilations)
        y = _known(mg, node.output[0]) or window_dims(attrs, x, tuple(kernel), c_out)
    except WindowError:
        return None
    bias = len(node.input) > 2 and bool(node.input[2])
    kind = (row.details or {}).get("conv", "dense")
    lines = [
        f"  X {_shape(x)} → Y {_shape(y)}, W {_shape(w)} ([C_out, C_in/group, kernel]), group {group}, "
        f"bias {'yes' if bias else 'no'} ({kind})",
        "Output size per spatial axis: floor((W − K_eff + P_begin + P_end) / S) + 1, with K_eff = D·(K−1)+1",
    ]
    for axis in range(rank):
        k_eff = effective_kernel(kernel[axis], dilations[axis])
        size, (pb, pe), s = x[2 + axis], pads[axis], strides[axis]
        lines.append(
            f"  axis {axis + 2}: K_eff = {dilations[axis]}·({kernel[axis]}−1)+1 = {k_eff};  "
            f"floor(({size} − {k_eff} + {pb} + {pe}) / {s}) + 1 = {(size - k_eff + pb + pe) // s + 1}"
        )
    m_n = _dots(*kernel)
    d = per_group * group
    if group == 1:
        lines.append("Params: ((m·n·d) + 1)·k" + ("" if bias else ", without bias m·n·d·k"))
        inner = f"{m_n}·{d}"
    else:
        lines.append("Params: (m·n·(d/g) + 1)·k" + ("" if bias else ", without bias m·n·(d/g)·k"))
        inner = f"{m_n}·({d}/{group})"
    params = (math.prod(kernel) * per_group + (1 if bias else 0)) * c_out
    lines.append(f"  = ({inner}{' + 1' if bias else ''})·{c_out} = {params:,}")
    out_spatial = _dots(*y[2:])
    batch = f"{y[0]}·" if y[0] != 1 else ""
    lines.append(
        "MACs: " + ("N·" if y[0] != 1 else "") + "H_out·W_out·(m·n·d/g)·k  (multiplications by padded zeros count)"
    )
    lines.append(f"  = {batch}{out_spatial}·({m_n}·{d}/{group})·{c_out} = {_n(row.macs)}")
    lines.append("FLOPs: 2·MACs" + (" + one bias add per output" if bias else "") + f" = {_n(row.flops)}")
    lines += _separable(mg, row, report, kind)
    return lines


def _shape(shape) -> str:
    return "x".join("?" if d is None else str(d) for d in shape)


def _neighbour_conv(mg: ModelGraph, index: int, forward: bool) -> int | None:
    """The conv reached through BatchNorm/activation nodes with a single reader or producer."""
    current = index
    for _ in range(6):
        nbrs = list(mg.dag.successors(current) if forward else mg.dag.predecessors(current))
        if len(nbrs) != 1:
            return None
        current = nbrs[0]
        op = mg.nodes[current].op_type
        if op == "Conv":
            return current
        if op not in _PASS:
            return None
    return None


def _separable(mg: ModelGraph, row: Row, report: Report, kind: str) -> list[str]:
    rows = {r.index: r for r in report.rows if not r.scope}
    if kind == "depthwise":
        dw, pw = row, rows.get(_neighbour_conv(mg, row.index, True))
    elif kind == "dense":
        dw, pw = rows.get(_neighbour_conv(mg, row.index, False)), row
    else:
        return []
    if dw is None or pw is None or (dw.details or {}).get("conv") != "depthwise":
        return []
    w_pw = _known(mg, mg.nodes[pw.index].input[1])
    w_dw = _known(mg, mg.nodes[dw.index].input[1])
    y = _known(mg, mg.nodes[pw.index].output[0])
    if w_pw is None or w_dw is None or y is None or len(y) < 3 or w_pw[2:] != (1,) * (len(w_pw) - 2):
        return []
    c_in, c_out, kernel = w_dw[0], w_pw[0], w_dw[2:]
    standard = math.prod(y[2:]) * y[0] * math.prod(kernel) * c_in * c_out
    if not standard or not c_out or not kernel:  # an empty tensor: no ratio to give
        return []
    separable = (dw.macs or 0) + (pw.macs or 0)
    k2 = math.prod(kernel)
    return [
        "Depthwise-separable module: the depthwise conv, then a 1×1 pointwise conv "
        f"({safe(dw.name)} → {safe(pw.name)})",
        f"  a standard {'×'.join(map(str, kernel))} conv {c_in} → {c_out} at {_shape(y[2:])}: "
        f"{_dots(*y[2:])}·({_dots(*kernel)}·{c_in})·{c_out} = {standard:,} MACs, "
        f"(({_dots(*kernel)}·{c_in})+1)·{c_out} = {(k2 * c_in + 1) * c_out:,} params",
        f"  depthwise + pointwise: {_n(dw.macs)} + {_n(pw.macs)} = {separable:,} MACs, "
        f"{dw.params + pw.params:,} params",
        f"  saving: {separable / standard:.4f} of the standard conv's MACs = 1/N + 1/K² = 1/{c_out} + 1/{k2} "
        f"= {1 / c_out + 1 / k2:.4f} (Howard et al., eq. 5)",
    ]


_EQUATIONS = {
    "LSTM": [
        "Z_i = W_xi·x_t + W_hi·h_{t-1} + b_i      i = σ(Z_i)   (input gate)",
        "Z_f = W_xf·x_t + W_hf·h_{t-1} + b_f      f = σ(Z_f)   (forget gate)",
        "Z_g = W_xg·x_t + W_hg·h_{t-1} + b_g      g = tanh(Z_g) (cell candidate; ONNX calls it c)",
        "Z_o = W_xo·x_t + W_ho·h_{t-1} + b_o      o = σ(Z_o)   (output gate)",
        "c_t = f⊙c_{t-1} + i⊙g                    h_t = o⊙tanh(c_t)",
    ],
    "GRU": [
        "z = σ(W_xz·x_t + W_hz·h_{t-1} + b_z)    (update gate)",
        "r = σ(W_xr·x_t + W_hr·h_{t-1} + b_r)    (reset gate)",
        "ĥ = tanh(W_xh·x_t + r⊙(W_hh·h_{t-1}) + b_h)   (linear_before_reset=1; else W_hh·(r⊙h_{t-1}))",
        "h_t = (1 − z)⊙ĥ + z⊙h_{t-1}",
    ],
    "RNN": ["h_t = tanh(W_xh·x_t + W_hh·h_{t-1} + b_h)"],
}


def _recurrent(mg: ModelGraph, row: Row) -> list[str]:
    node = mg.nodes[row.index]
    gates = (row.details or {}).get("gates", [])
    w = mg.info(node.input[1]).shape
    dirs, stacked, inputs = w
    hidden = stacked // len(GATE_ORDER[node.op_type])
    x = mg.info(node.input[0]).shape
    layout = _attrs(node).get("layout", 0)
    seq, batch = (x[1], x[0]) if layout == 1 else (x[0], x[1])
    lines = ["Gates at step t, in the course's notation:"] + [f"  {e}" for e in _EQUATIONS[node.op_type]]
    order = ", ".join(GATE_ORDER[node.op_type])
    lines.append(
        f"ONNX stacks the gates in W [{dirs}, {stacked}, {inputs}], R [{dirs}, {stacked}, {hidden}] and "
        f"B [{dirs}, {2 * stacked}] in the order {order}:"
    )
    lines.append(
        f"  {'gate':<22}{'W_x (rows of W)':<24}{'W_h (rows of R)':<24}{'b (Wb + Rb)':<14}{'peephole':<10}params"
    )
    for g in gates:
        gate = f"{g['gate']} ({g['role']})"
        w_x = f"W_x{g['gate']} {g['W_x_shape']} [{g['rows']}]"
        w_h = f"W_h{g['gate']} {g['W_h_shape']}"
        lines.append(f"  {gate:<22}{w_x:<24}{w_h:<24}{g['b']:<14,}{g['peephole']:<10,}{g['params']:,}")
    lines.append(f"  total {sum(g['params'] for g in gates):,} params ({dirs} direction(s))")
    per_step = len(gates) * hidden * (inputs + hidden)
    lines.append(
        f"MACs per step and direction: gates·H·(I+H) = {len(gates)}·{hidden}·({inputs}+{hidden}) = {per_step:,} "
        "per sequence element"
    )
    lines.append(
        f"MACs: seq·batch·dirs·gates·H·(I+H) = {seq}·{batch}·{dirs}·{len(gates)}·{hidden}·({inputs}+{hidden}) "
        f"= {_n(row.macs)}"
    )
    elementwise = row.formula.split("; ")[1].replace("elementwise ", "") if "; " in row.formula else "0"
    lines.append(
        f"FLOPs: 2·MACs + seq·batch·dirs·H·(elementwise per unit, docs/conventions.md) = "
        f"2·{_n(row.macs)} + {elementwise.replace('*', '·')} = {_n(row.flops)}"
    )
    return lines


def explain(mg: ModelGraph, report: Report, rows: list[Row]) -> str:
    out = []
    module_of = dict(zip(map(id, report.rows), report.columns().column("module")))  # the modules table's
    for row in rows:
        path = module_of.get(id(row), "")
        module = f", module {safe(path)}" if path and path.rpartition("/")[2] not in row.name else ""
        head = f"{safe(row.name)}  ({safe(row.op)}{module}{', in ' + safe(row.scope) if row.scope else ''})"
        lines = [head]
        node = mg.nodes[row.index] if not row.scope else None
        derivation = _conv(mg, row, report) if node is not None and row.op == "Conv" and row.macs is not None else None
        if derivation is not None:
            lines += derivation
        elif node is not None and row.op in GATE_ORDER and row.details.get("gates") and row.macs is not None:
            lines += _recurrent(mg, row)
        else:
            spec = find_rule(row.op, row.domain, mg.opset(row.domain))
            inputs, weights, outputs = (safe(", ".join(s), 400) for s in (row.inputs, row.weights, row.outputs))
            lines.append(f"  inputs {inputs or '—'}; weights {weights or '—'}; outputs {outputs}")
            if spec is not None:
                lines += [f"MACs: {spec.macs}", f"FLOPs: {spec.flops}"]
            lines.append(
                f"  = {safe(row.formula, MAX_FIELD) or 'no arithmetic'}: MACs {_n(row.macs)}, FLOPs {_n(row.flops)}"
                + (f" (status {row.status})" if row.status != "counted" else "")
            )
            lines.append(f"Params on this row: {row.params:,}; non-trainable: {row.non_trainable:,}")
        if row.runs != 1:
            lines.append(f"Runs {row.runs:,} time(s) per model run (its parent's repetitions)")
        out.append("\n".join(lines))
    return "\n\n".join(out) + "\n"
