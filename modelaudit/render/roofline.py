"""The roofline's columns and summary lines, shared by the text and Markdown reports."""

from __future__ import annotations

from collections.abc import Callable

from modelaudit.figures import Figure

from .common import safe

__all__ = ["roofline_columns", "roofline_lines", "fmt_ms"]


def fmt_ms(value) -> str:
    """A time given in ms, in ms or µs as suits it."""
    if value is None:
        return ""
    if value >= 999.5:  # not 1.32e+03 ms
        return f"{value / 1e3:,.3g} s" if value < 1e6 else f"{value / 1e3:,.0f} s"
    if value >= 0.1 or value == 0:
        return f"{value:.3g} ms"
    return f"{value * 1e3:.3g} µs" if value >= 1e-4 else f"{value * 1e6:.3g} ns"


def _num(value) -> str:
    return "" if value is None else f"{value:.3g}"


def roofline_columns(d: dict) -> dict:
    """Columns to add to the per-node table when the report has a roofline (and a profile)."""
    if not d.get("roofline"):
        return {}
    # as the table's: (header, the column's values from its fields `c` and the totals, formatter)
    columns: dict[str, tuple[str, Callable, Callable | None]] = {
        "intensity": ("FLOP/B", lambda c, t: c("intensity"), _num),
        "bound": ("bound", lambda c, t: [bound or "" for bound in c("bound")], None),
        "roofline": ("bound time", lambda c, t: c("roofline_ms"), fmt_ms),
    }
    if d["roofline"].get("profile"):
        columns["ratio"] = ("×bound", lambda c, t: c("bound_ratio"), lambda v: "" if v is None else f"{v:.1f}")
    return columns


def _figure(value) -> Figure:
    """A total as the report holds it ({"value", "bound"}, or a plain number) as a Figure."""
    if isinstance(value, Figure):
        return value
    return Figure.from_dict(value) if isinstance(value, dict) else Figure.of(value)


def _ms(value) -> str:
    return _figure(value).text(fmt_ms)


def roofline_lines(d: dict) -> list[str]:
    """The roofline's summary: the chip, the ridge point, the bound of the whole (the largest of the
    roofline and the launch overhead, a lower bound `≥` where rows are of unknown shape), which bound
    decides it, the fused accounting beside, the profile."""
    rl = d.get("roofline")
    if not rl:
        return []
    hw, t = rl["hardware"], rl["totals"]
    peak_kind = "attainable" if t["dtype"] in hw["attainable_tflops"] else "datasheet"
    lines = [
        f"roofline on {safe(hw['name'])}: {t['peak_flops_per_s'] / 1e12:.4g} TFLOP/s {t['dtype']} ({peak_kind}), "
        f"{t['bytes_per_s'] / 1e9:.4g} GB/s; ridge point {t['ridge_flops_per_byte']:.1f} FLOP/byte "
        f"(source: {safe(hw['source'], 400)})",
        f"  time bound {_ms(t.get('time_ms', t['roofline_ms']))} as written: roofline {_ms(t['roofline_ms'])} "
        f"(compute-bound layers {_ms(t['compute_bound_ms'])}, memory-bound {_ms(t['memory_bound_ms'])})"
        + (f", per-node overhead {t['kernels']} kernels × {hw['overhead_us']:g} µs = {_ms(t['overhead_ms'])}")
        + (f"; {t['unknown_rows']} row(s) of unknown shape not included" if t["unknown_rows"] else ""),
        "  " + _verdict(t, d),
    ]
    fused = rl.get("fused")
    if fused:
        lines.append(
            f"  fused (views, elementwise ops and attention in their producers' kernels): time bound "
            f"{_ms(fused['time_ms'])}, {fused['kernels']} kernels, "
            + {"overhead": "bound by per-kernel overhead", "unknown": "bound unknown"}.get(
                fused["bound"], f"{fused['bound']}-bound"
            )
        )
    p = rl.get("profile")
    if p and p["ratio"] is not None:
        lines.append(
            f"  measured {p['measured_ms']:.3f} ms against a bound of {fmt_ms(p['bound_ms'])} "
            f"(×{p['ratio']:.1f}); furthest from their bound: "
            + "; ".join(f"{safe(f['name'])} ×{f['ratio']:.1f} ({f['bound']})" for f in p["furthest"])
        )
    return lines


def _verdict(t: dict, d: dict) -> str:
    if t["bound"] == "overhead":
        return (
            "the per-node overhead is more than the roofline bound: at this batch the model is bound by "
            "per-kernel overhead, not by compute or bandwidth (a larger batch, or fused kernels, use the chip better)"
        )
    if t["bound"] == "unknown":
        flags = sorted({safe(u["flag"], 200) for u in d.get("unresolved") or []})
        return (
            f"whether compute, bandwidth or per-node overhead bounds the model is unknown: {t['unknown_rows']} "
            "row(s) of unknown shape" + (f" (resolve with {', '.join(flags)})" if flags else "")
        )
    return f"the model is {t['bound']}-bound at this batch"
