"""RNN, GRU and LSTM: MACs are the gate matmuls, seq·batch·dirs·gates·H·(I+H)."""

from __future__ import annotations

from modelaudit.costs.cost import Cost, NodeContext

from . import rule
from .elementwise import activation_flops

__all__ = ["GATES", "recurrent", "recurrent_dims", "unit_flops"]

GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}
_DEFAULT_ACTIVATIONS = {"RNN": ["Tanh"], "GRU": ["Sigmoid", "Tanh"], "LSTM": ["Sigmoid", "Tanh", "Tanh"]}


def recurrent_dims(ctx: NodeContext) -> dict[str, int]:
    """seq, batch, input size I, hidden size H and directions of a recurrent node."""
    x = ctx.in_dims(0)
    w = ctx.in_dims(1)
    seq, batch = (x[1], x[0]) if ctx.attr("layout", 0) == 1 else (x[0], x[1])
    gates = GATES[ctx.op_type]
    hidden = int(ctx.attr("hidden_size", 0)) or w[1] // gates
    return {"seq": seq, "batch": batch, "input": x[2], "hidden": hidden, "dirs": w[0], "gates": gates}


def unit_flops(ctx: NodeContext, op: str, gates: int) -> int:
    """Elementwise FLOPs per hidden unit per step of an `op`-like cell (RNN, GRU or LSTM), beside
    the gate matmuls."""
    names = [a.decode() if isinstance(a, bytes) else a for a in (ctx.attr("activations") or [])]
    acts = [activation_flops(n) for n in (names or _DEFAULT_ACTIVATIONS[op])]
    f, g, h = (acts + acts[-1:] * 3)[:3]
    bias = 2 * gates if ctx.has_input(3) else 0
    if op == "LSTM":
        peephole = 6 if ctx.has_input(7) else 0
        # x-part + h-part adds; i, o, f gates f(); candidate g(); cell f·c + i·g; h = o·h(c)
        return gates + bias + 3 * f + g + h + 3 + 1 + peephole
    if op == "GRU":
        # adds; z, r gates f(); candidate g(); r applied (1 mul); h = (1−z)·ĥ + z·h_prev (4)
        return gates + bias + 2 * f + g + 1 + 4
    return gates + bias + f


@rule(
    "RNN",
    "GRU",
    "LSTM",
    category="recurrent",
    macs="seq·batch·dirs·gates·H·(I+H)  (gates: RNN 1, GRU 3, LSTM 4)",
    flops="2·MACs + seq·batch·dirs·H·(elementwise per unit: LSTM 30, GRU 23, RNN 4 with bias, default activations)",
)
def recurrent(ctx: NodeContext) -> Cost:
    """X [seq, batch, I] (layout 1: [batch, seq, I]), W [dirs, gates·H, I], R [dirs, gates·H, H]."""
    d = recurrent_dims(ctx)
    steps = d["seq"] * d["batch"] * d["dirs"]
    macs = steps * d["gates"] * d["hidden"] * (d["input"] + d["hidden"])
    unit = unit_flops(ctx, ctx.op_type, d["gates"])
    formula = (
        f"{d['seq']}*{d['batch']}*{d['dirs']}*{d['gates']}*{d['hidden']}*({d['input']}+{d['hidden']})"
        f"; elementwise {steps}*{d['hidden']}*{unit}"
    )
    if ctx.has_input(4):
        formula += "; sequence_lens given: MACs are for the full sequence (an upper bound)"
    return Cost(macs=macs, flops=2 * macs + steps * d["hidden"] * unit, formula=formula)


# ONNX stacks the gates in this order in W, R and B; the course names LSTM's c gate g.
GATE_ORDER = {"LSTM": ["i", "o", "f", "c"], "GRU": ["z", "r", "h"], "RNN": ["h"]}
COURSE_NAME = {"c": "g"}
_ROLE = {
    "i": "input gate",
    "o": "output gate",
    "f": "forget gate",
    "c": "cell candidate",
    "z": "update gate",
    "r": "reset gate",
    "h": "hidden",
}


def gate_breakdown(op: str, w: tuple, r: tuple, has_bias: bool, has_peephole: bool) -> list[dict]:
    """Params per gate from W [dirs, gates·H, I] and R [dirs, gates·H, H]: W_x·, W_h·, b· (Wb+Rb), peephole."""
    dirs, stacked, inputs = w
    hidden = stacked // len(GATE_ORDER[op])
    out = []
    for position, gate in enumerate(GATE_ORDER[op]):
        name = COURSE_NAME.get(gate, gate) if op == "LSTM" else gate
        entry = {
            "gate": name,
            "onnx_gate": gate,
            "onnx_index": position,
            "role": _ROLE[gate],
            "W_x": dirs * hidden * inputs,
            "W_h": dirs * hidden * r[2],
            "b": dirs * 2 * hidden if has_bias else 0,
            "W_x_shape": f"{dirs}x{hidden}x{inputs}",
            "W_h_shape": f"{dirs}x{hidden}x{r[2]}",
            "rows": f"{position * hidden}:{(position + 1) * hidden}",
        }
        entry["peephole"] = dirs * hidden if has_peephole and op == "LSTM" and gate != "c" else 0
        entry["params"] = entry["W_x"] + entry["W_h"] + entry["b"] + entry["peephole"]
        out.append(entry)
    return out
