"""The roofline's columns and summary lines, shared by the text and Markdown reports."""

from __future__ import annotations

from .common import safe

__all__ = ["roofline_columns", "roofline_lines", "fmt_ms"]


def fmt_ms(value) -> str:
    """A time given in ms, in ms or µs as suits it."""
    if value is None:
        return ""
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
    columns = {
        "intensity": ("FLOP/B", lambda c, t: c("intensity"), _num),
        "bound": ("bound", lambda c, t: [bound or "" for bound in c("bound")], None),
        "roofline": ("bound time", lambda c, t: c("roofline_ms"), fmt_ms),
    }
    if d["roofline"].get("profile"):
        columns["ratio"] = ("×bound", lambda c, t: c("bound_ratio"), lambda v: "" if v is None else f"{v:.1f}")
    return columns


def roofline_lines(d: dict) -> list[str]:
    """The roofline's summary: the chip, the ridge point, the bound of the whole, overhead, the profile."""
    rl = d.get("roofline")
    if not rl:
        return []
    hw, t = rl["hardware"], rl["totals"]
    peak_kind = "attainable" if t["dtype"] in hw["attainable_tflops"] else "datasheet"
    lines = [
        f"roofline on {safe(hw['name'])}: {t['peak_flops_per_s'] / 1e12:.4g} TFLOP/s {t['dtype']} ({peak_kind}), "
        f"{t['bytes_per_s'] / 1e9:.4g} GB/s; ridge point {t['ridge_flops_per_byte']:.1f} FLOP/byte "
        f"(source: {safe(hw['source'], 400)})",
        f"  time bound {fmt_ms(t['roofline_ms'])}: compute-bound layers {fmt_ms(t['compute_bound_ms'])}, "
        f"memory-bound {fmt_ms(t['memory_bound_ms'])}"
        + (f"; {t['unknown_rows']} row(s) of unknown shape not included" if t["unknown_rows"] else ""),
    ]
    if t["overhead_ms"]:
        overhead = (
            f"  per-node overhead: {t['kernels']} kernels × {hw['overhead_us']:g} µs = {fmt_ms(t['overhead_ms'])}"
        )
        if t["bound"] == "overhead":
            overhead += (
                ": more than the roofline bound; at this batch the model is bound by per-kernel overhead, "
                "not by compute or bandwidth (a larger batch, or fused kernels, use the chip better)"
            )
        else:
            overhead += f", less than the roofline bound: the model is {t['bound']}-bound at this batch"
        lines.append(overhead)
    else:
        lines.append(f"  the model is {t['bound']}-bound at this batch")
    p = rl.get("profile")
    if p and p["ratio"] is not None:
        lines.append(
            f"  measured {p['measured_ms']:.3f} ms against a bound of {fmt_ms(p['bound_ms'])} "
            f"(×{p['ratio']:.1f}); furthest from their bound: "
            + "; ".join(f"{safe(f['name'])} ×{f['ratio']:.1f} ({f['bound']})" for f in p["furthest"])
        )
    return lines
