"""The HTML report's roofline chart: arithmetic intensity against FLOP/s, one point per layer, on
log-log axes under the two ceilings (bandwidth × intensity, and the peak), as inline SVG."""

from __future__ import annotations

import math

from modelaudit.encoding import html

__all__ = ["roofline_section"]

_W, _H, _LEFT, _BOTTOM, _TOP, _RIGHT = 1000, 420, 80, 44, 16, 20


def _e(text) -> str:
    return html(text)


def _si(value: float, unit: str) -> str:
    for scale, prefix in ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= scale:
            return f"{value / scale:.3g} {prefix}{unit}"
    return f"{value:.3g} {unit}"


def _points(d: dict) -> tuple[list[tuple[float, float, dict]], bool]:
    """(intensity, FLOP/s, row) per layer: measured with --profile, else the roof's own rate."""
    rows = d["rows"].dicts()
    measured = any(r.get("ms") for r in rows)
    out = []
    for r in rows:
        flops, intensity = r.get("flops_total"), r.get("intensity")
        ms = r.get("ms") if measured else r.get("roofline_ms")
        if flops and intensity and ms:
            out.append((intensity, flops / (ms / 1e3), r))
    return out, measured


def roofline_section(d: dict) -> str:
    """An <h2> and the chart, or "" when the report has no roofline."""
    rl = d.get("roofline")
    if not rl:
        return ""
    t = rl["totals"]
    peak, bandwidth = t["peak_flops_per_s"], t["bytes_per_s"]
    points, measured = _points(d)
    if not points or not peak:
        return ""
    xs = [p[0] for p in points] + [t["ridge_flops_per_byte"]]
    ys = [p[1] for p in points] + [peak]
    x_lo, x_hi = math.log10(min(xs)) - 0.3, math.log10(max(xs)) + 0.3
    y_lo, y_hi = math.log10(min(ys)) - 0.3, math.log10(peak) + 0.3

    def px(x: float) -> float:
        return _LEFT + (math.log10(x) - x_lo) / (x_hi - x_lo) * (_W - _LEFT - _RIGHT)

    def py(y: float) -> float:
        return _H - _BOTTOM - (math.log10(y) - y_lo) / (y_hi - y_lo) * (_H - _BOTTOM - _TOP)

    parts = [
        f'<svg class="chart roofline" role="img" width="100%" viewBox="0 0 {_W} {_H}" '
        'xmlns="http://www.w3.org/2000/svg">'
    ]
    for k in range(math.ceil(x_lo), math.floor(x_hi) + 1):
        parts.append(
            f'<line x1="{px(10**k):.1f}" x2="{px(10**k):.1f}" y1="{_TOP}" y2="{_H - _BOTTOM}" stroke="#e6e9ef"/>'
            f'<text x="{px(10**k):.1f}" y="{_H - _BOTTOM + 16}" text-anchor="middle">{_e(f"{10.0**k:g}")}</text>'
        )
    for k in range(math.ceil(y_lo), math.floor(y_hi) + 1):
        parts.append(
            f'<line x1="{_LEFT}" x2="{_W - _RIGHT}" y1="{py(10**k):.1f}" y2="{py(10**k):.1f}" stroke="#e6e9ef"/>'
            f'<text x="{_LEFT - 6}" y="{py(10**k) + 4:.1f}" text-anchor="end">{_e(_si(10.0**k, "FLOP/s"))}</text>'
        )
    ridge = t["ridge_flops_per_byte"]
    x_min = 10**x_lo
    memory_start = max(x_min, 10**y_lo / bandwidth)  # the bandwidth line where it enters the plot
    parts.append(
        f'<polyline class="ceiling" fill="none" stroke="#c0392b" stroke-width="2" points="'
        f"{px(memory_start):.1f},{py(bandwidth * memory_start):.1f} {px(ridge):.1f},{py(peak):.1f} "
        f'{px(10**x_hi):.1f},{py(peak):.1f}"><title>ceilings: {_e(_si(bandwidth, "B/s"))} × intensity, '
        f"and {_e(_si(peak, 'FLOP/s'))} {_e(t['dtype'])}</title></polyline>"
    )
    parts.append(f'<text x="{px(ridge) + 6:.1f}" y="{py(peak) - 6:.1f}">ridge {ridge:.3g} FLOP/B</text>')
    for intensity, rate, r in points:
        colour = "#2b6cb0" if r.get("bound") == "compute" else "#d69e2e"
        parts.append(
            f'<circle class="layer" cx="{px(intensity):.1f}" cy="{py(rate):.1f}" r="3.5" fill="{colour}" '
            f'fill-opacity="0.75"><title>{_e(r["name"])} ({_e(r["op_label"])}): {intensity:.3g} FLOP/B, '
            f"{_e(_si(rate, 'FLOP/s'))}, {_e(r.get('bound') or '')}-bound</title></circle>"
        )
    parts.append(
        f'<text x="{(_LEFT + _W) / 2:.0f}" y="{_H - 6}" text-anchor="middle">arithmetic intensity (FLOP per '
        "byte moved)</text></svg>"
    )
    how = (
        "measured with --profile"
        if measured
        else "at their roofline bound (no --profile: each point sits on its ceiling)"
    )
    return (
        f'<h2>Roofline on {_e(rl["hardware"]["name"])}</h2><p class="sub">One point per layer, '
        f"FLOP/s {how}; blue compute-bound, amber memory-bound. The red line is the bandwidth ceiling "
        f"({_e(_si(bandwidth, 'B/s'))}) meeting the {_e(t['dtype'])} peak ({_e(_si(peak, 'FLOP/s'))}).</p>"
        + "".join(parts)
    )
