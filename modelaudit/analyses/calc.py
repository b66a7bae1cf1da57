"""calc: solve a conv, pool or transposed-conv layer design for its one missing unknown."""

from __future__ import annotations

from dataclasses import dataclass

from modelaudit.errors import UsageError
from modelaudit.shapes.geometry import effective_kernel, transposed_output

__all__ = ["Design", "solve", "render_calc", "design_holds", "UNKNOWNS"]

UNKNOWNS = ("in", "kernel", "stride", "pad", "dilation", "out")
_DEFAULTS = {"stride": 1, "pad": 0, "dilation": 1, "output_padding": 0}


@dataclass
class Design:
    layer: str  # conv | pool | convtranspose
    values: dict  # unknown name -> int or None (the one to solve) ; "?" marks an unknown explicitly
    rank: int = 2
    cin: int | None = None
    cout: int | None = None
    groups: int = 1
    bias: bool = True
    ceil_mode: bool = False


def _out(layer: str, v: dict, ceil_mode: bool) -> int | None:
    """The exact output size, or None when the stride does not divide evenly (conv, pool)."""
    k_eff = effective_kernel(v["kernel"], v["dilation"])
    if layer == "convtranspose":
        out = transposed_output(
            v["in"], v["kernel"], v["stride"], v["pad"], v["pad"], v["dilation"], v["output_padding"]
        )
        return out if out > 0 else None
    span = v["in"] + 2 * v["pad"] - k_eff
    if span < 0:
        return None
    if span % v["stride"]:
        return None
    return span // v["stride"] + 1


def _floor_out(layer: str, v: dict, ceil_mode: bool) -> int | None:
    """What frameworks compute (floor, or ceil for pools in ceil_mode)."""
    if layer == "convtranspose":
        return _out(layer, v, ceil_mode)
    span = v["in"] + 2 * v["pad"] - effective_kernel(v["kernel"], v["dilation"])
    if span < 0:
        return None
    return (-(-span // v["stride"]) if ceil_mode else span // v["stride"]) + 1


def _candidates(name: str, v: dict) -> range:
    known = {k: x for k, x in v.items() if x is not None}
    limit = max([x for x in known.values() if isinstance(x, int)] + [1])
    if name == "in":
        return range(
            1,
            (known.get("out", limit) + 2) * known.get("stride", 1)
            + effective_kernel(known.get("kernel", limit), known.get("dilation", 1))
            + 1,
        )
    if name == "kernel":
        return range(
            1, known.get("in", limit) + 2 * known.get("pad", 0) + known.get("out", 1) * known.get("stride", 1) + 2
        )
    if name == "pad":
        return range(
            0,
            effective_kernel(known.get("kernel", limit), known.get("dilation", 1))
            + known.get("out", 1) * known.get("stride", 1)
            + 1,
        )
    return range(1, 4 * limit + 2)  # stride, dilation


def solve(design: Design) -> dict:
    """Every integer value of the unknown that makes the design exact, and those that only floor to it."""
    v = {**_DEFAULTS, **{k: x for k, x in design.values.items() if x != "?"}}
    unknown = [k for k in UNKNOWNS if v.get(k) is None]
    if not unknown:  # a complete design: check its output size
        expected = v.pop("out")
        result = solve(
            Design(
                design.layer,
                {**design.values, "out": None},
                design.rank,
                design.cin,
                design.cout,
                design.groups,
                design.bias,
                design.ceil_mode,
            )
        )
        result["expected_out"] = expected
        return result
    if len(unknown) != 1:
        raise UsageError(
            f"calc needs exactly one unknown among {', '.join(UNKNOWNS)} "
            f"(missing: {', '.join(unknown) or 'none'}); mark one with '?' or leave it out"
        )
    name = unknown[0]
    if name == "out":
        exact = _out(design.layer, v, design.ceil_mode)
        floor = _floor_out(design.layer, v, design.ceil_mode)
        if floor is None or floor < 1:
            return {"unknown": "out", "exact": [], "floor_only": [], "values": v}
        return {
            "unknown": "out",
            "exact": [exact] if exact is not None else [],
            "floor_only": [floor] if exact is None else [],
            "values": v,
        }
    matches: list[int] = []
    floor_only: list[int] = []
    for candidate in _candidates(name, v):
        trial = {**v, name: candidate}
        if _out(design.layer, trial, design.ceil_mode) == v["out"]:
            matches.append(candidate)
        elif _floor_out(design.layer, trial, design.ceil_mode) == v["out"]:
            floor_only.append(candidate)
    return {"unknown": name, "exact": matches, "floor_only": floor_only, "values": v}


def _formula(layer: str) -> str:
    if layer == "convtranspose":
        return "out = stride·(in − 1) + output_padding + K_eff − 2·pad, K_eff = dilation·(kernel − 1) + 1"
    return "out = (in + 2·pad − K_eff) / stride + 1, K_eff = dilation·(kernel − 1) + 1"


def _check_line(layer: str, v: dict) -> str:
    k_eff = effective_kernel(v["kernel"], v["dilation"])
    if layer == "convtranspose":
        out = transposed_output(
            v["in"], v["kernel"], v["stride"], v["pad"], v["pad"], v["dilation"], v["output_padding"]
        )
        return f"{v['stride']}·({v['in']} − 1) + {v['output_padding']} + {k_eff} − 2·{v['pad']} = {out}"
    span = v["in"] + 2 * v["pad"] - k_eff
    return f"({v['in']} + 2·{v['pad']} − {k_eff}) / {v['stride']} + 1 = {span // v['stride'] + 1}"


def _costs(design: Design, v: dict) -> list[str]:
    if design.cin is None or design.cout is None:
        return []
    if design.cin % design.groups or design.cout % design.groups:
        raise UsageError(f"--groups {design.groups} must divide --cin {design.cin} and --cout {design.cout}")
    r, k, g = design.rank, v["kernel"], design.groups
    out_size = _floor_out(design.layer, v, design.ceil_mode)
    if out_size is None:
        return []
    kr, outr = k**r, out_size**r
    if design.layer == "pool":
        return [
            f"pool over {design.cin} channels: no params; MaxPool FLOPs (K−1)·|Y| = "
            f"{kr - 1}·{design.cin}·{outr} = {(kr - 1) * design.cin * outr:,}"
        ]
    d_g = design.cin // g
    bias = 1 if design.bias else 0
    if design.layer == "convtranspose":
        params = design.cin * (design.cout // g) * kr + bias * design.cout
        macs = v["in"] ** r * design.cin * (design.cout // g) * kr
        return [
            f"params: C_in·(C_out/g)·k^{r}{' + C_out' if bias else ''} = {design.cin}·({design.cout}/{g})·{k}^{r}"
            f"{' + ' + str(design.cout) if bias else ''} = {params:,}",
            f"MACs: |X spatial|·|W| = {v['in']}^{r}·{design.cin}·({design.cout}/{g})·{k}^{r} = {macs:,}",
        ]
    params = (kr * d_g + bias) * design.cout
    macs = outr * kr * d_g * design.cout
    kind = "depthwise" if g > 1 and d_g == 1 else "grouped" if g > 1 else "dense"
    return [
        f"params ({kind}): (m·n·(d/g){' + 1' if bias else ''})·k = ({k}^{r}·({design.cin}/{g})"
        f"{' + 1' if bias else ''})·{design.cout} = {params:,}",
        f"MACs: out^{r}·(m·n·d/g)·k = {out_size}^{r}·({k}^{r}·{design.cin}/{g})·{design.cout} = {macs:,} "
        "(padded zeros count)",
    ]


def render_calc(design: Design) -> str:
    result = solve(design)
    v, name = result["values"], result["unknown"]
    given = ", ".join(
        f"{k} {v[k]}"
        for k in (*UNKNOWNS, "output_padding")
        if k != name and k in v and (k != "output_padding" or design.layer == "convtranspose")
    )
    lines = [f"{design.layer}: {_formula(design.layer)}"]
    if name == "out":
        lines += _render_out(design, result, given)
    else:
        lines.append(f"solve {name}, given {given}:")
        if not result["exact"]:
            lines.append(
                f"  no integer {name} makes the design exact"
                + (" (the stride does not divide evenly for any of them)" if result["floor_only"] else "")
            )
        for value in result["exact"]:
            lines.append(f"  {name} = {value}: " + _check_line(design.layer, {**v, name: value}))
        if result["floor_only"]:
            values = ", ".join(map(str, result["floor_only"]))
            lines.append(
                f"  with floor division, as frameworks compute it, {name} = {values} also "
                f"give{'s' if len(result['floor_only']) == 1 else ''} {v['out']}, leaving input rows unused"
            )
    chosen = (result["exact"] or result["floor_only"])[:1]
    if chosen and design.cin is not None and design.cout is not None:
        lines += _costs(design, {**v, name: chosen[0]})
    return "\n".join(lines) + "\n"


def _leftover(rows: int, pad: int, ceil_mode: bool) -> str:
    """What the rows the stride does not reach are: the last `pad` rows of the padded input are
    padding, so only the rest are real input rows left unread."""
    if ceil_mode:
        return f"{rows} input row(s) are padded past the edge"
    real = max(0, rows - pad)
    if real == 0:
        return f"the last {rows} row(s) of padding are never covered (every input row is)"
    if real == rows:
        return f"{rows} input row(s) are never covered"
    return f"{rows} row(s) of the padded input are never covered: {real} input row(s) and {rows - real} of padding"


def design_holds(design: Design) -> bool:
    """False when a complete design's --out is wrong, or no value of the unknown gives the output."""
    result = solve(design)
    got = (result["exact"] or result["floor_only"] or [None])[0]
    if "expected_out" in result:
        return got == result["expected_out"]
    return got is not None


def _render_out(design: Design, result: dict, given: str) -> list[str]:
    v = result["values"]
    lines = [f"{'check' if 'expected_out' in result else 'solve out'}, given {given}:"]
    if result["exact"]:
        lines.append("  out = " + _check_line(design.layer, v).split(" = ")[-1] + ": " + _check_line(design.layer, v))
    elif result["floor_only"]:
        span = v["in"] + 2 * v["pad"] - effective_kernel(v["kernel"], v["dilation"])
        rule = "ceil" if design.ceil_mode else "floor"
        lines.append(
            f"  out = {result['floor_only'][0]}: {rule}(({v['in']} + 2·{v['pad']} − "
            f"{effective_kernel(v['kernel'], v['dilation'])}) / {v['stride']}) + 1; the stride does not "
            f"divide {span} evenly, so " + _leftover(span % v["stride"], v["pad"], design.ceil_mode)
        )
    else:
        lines.append("  no output: the kernel is larger than the padded input")
    if "expected_out" in result:
        got = (result["exact"] or result["floor_only"] or [None])[0]
        lines.append(
            f"  --out {result['expected_out']} is "
            + ("right" if got == result["expected_out"] else f"wrong: the layer gives {got}")
        )
    return lines
