"""--symbolic's lines: the totals as polynomials, where the peak's formula changes, which terms
dominate, and, where a cost is no polynomial, the --dim flags that make it one."""

from __future__ import annotations

import re

from modelaudit.encoding import name as safe  # model text, encoded for the format being written

__all__ = ["symbolic_totals", "symbolic_lines", "floored_fix"]

_SYMBOLIC = {
    "MACs": ("macs", ""),
    "FLOPs": ("flops", ""),
    "activation bytes": ("activation_bytes", " bytes"),
    "peak activations": ("peak_activation_bytes", " bytes"),
}


def symbolic_totals(d: dict, lines: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The totals' (label, value) lines with the costs as --symbolic's polynomials."""
    sym = d.get("symbolic")
    if not sym:
        return lines
    fix = floored_fix(d)
    return [
        (label, _formula(sym["totals"][_SYMBOLIC[label][0]], _SYMBOLIC[label][1], fix) if label in _SYMBOLIC else value)
        for label, value in lines
    ]


def _formula(poly: dict, unit: str, fix: tuple[str, str] | None) -> str:
    if poly.get("text") is not None:
        return safe(poly["text"], 400) + unit  # a polynomial in the model's dim names
    if fix is None:
        return "not a polynomial (a shape is computed by a division that floors, or is unknown)"
    flags, rest = fix
    return f"not a polynomial: {flags} gives one" + (f" in {rest}" if rest else "")


_FLOORED = re.compile(r"floor|ceil|/|%|mod", re.IGNORECASE)


def floored_fix(d: dict) -> tuple[str, str] | None:
    """Under --symbolic, what makes a cost no polynomial and what fixes it: the variables that a
    shape divides with a floor (`floor(height/2 - 1/2) + 1`), as --dim flags, and the variables the
    costs are then polynomials in. None when no such shape is known."""
    from modelaudit.shapes.annotations import symbols_of

    variables = (d.get("symbolic") or {}).get("variables") or []
    floored = {s for u in d["unresolved"] if _FLOORED.search(u["dim"]) for s in symbols_of(u["dim"])}
    fixed = [v for v in variables if v in floored]
    if not fixed:
        return None
    return " ".join(f"--dim {safe(v)}=N" for v in fixed), ", ".join(safe(v) for v in variables if v not in floored)


def symbolic_lines(d: dict) -> list[str]:
    """The --symbolic section: what the formulas are, and which terms dominate where."""
    sym = d.get("symbolic")
    if not sym:
        return []
    polynomial = all(sym["totals"][key].get("text") is not None for key, _ in _SYMBOLIC.values())
    what = (
        "the totals above and each row's MACs, FLOPs and out bytes are"
        if polynomial
        else "each polynomial above and in the table is"
    )
    lines = [
        f"symbolic: {what} exact in {', '.join(map(safe, sym['variables']))}, fitted on a grid of sizes and "
        "checked at others"
    ]
    fix = None if polynomial else floored_fix(d)
    if fix is not None:
        example = min((u["dim"] for u in d["unresolved"] if _FLOORED.search(u["dim"])), key=lambda d: (len(d), d))
        lines.append(
            f"  the other costs divide a size with a floor ({safe(example, 200)}): with {fix[0]} they are "
            + (f"polynomials in {fix[1]}" if fix[1] else "exact numbers")
        )
    for var, spans in (sym["totals"]["peak_activation_bytes"].get("ranges") or {}).items():
        var = safe(var)  # a dim name of the model's, as the polynomials' terms are
        parts = [
            f"{safe(span['text'], 400)} for "
            + (
                f"{var} ≥ {span['from']:,}"
                if span["to"] is None
                else f"{var} ≤ {span['to']:,}"
                if span["from"] == 1
                else f"{span['from']:,} ≤ {var} ≤ {span['to']:,}"
            )
            for span in spans
        ]
        lines.append(
            f"  peak activations by {var}"
            + (" (other dims at 1)" if len(sym["variables"]) > 1 else "")
            + ": "
            + "; ".join(parts)
            + " (bytes; checked by audits on both sides of each change)"
        )
    lines += [f"  {safe(line, 400)}" for line in sym["dominance"]]
    return lines
