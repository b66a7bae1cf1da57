"""Polynomials with integer coefficients in named dims: --symbolic's costs, summed per group."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Poly", "sum_formulas"]

_SUPERSCRIPT = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")


@dataclass(frozen=True)
class Poly:
    """Σ coefficient·∏ var^power, integer coefficients."""

    variables: tuple[str, ...]
    terms: tuple[tuple[tuple[int, ...], int], ...]  # (powers per variable, coefficient), highest first

    def __call__(self, values: dict[str, int]) -> int:
        return sum(c * _monomial(self.variables, p, values) for p, c in self.terms)

    @property
    def degree(self) -> int:
        return max((sum(p) for p, _ in self.terms), default=0)

    def degree_in(self, var: str) -> int:
        i = self.variables.index(var)
        return max((p[i] for p, _ in self.terms), default=0)

    def __str__(self) -> str:
        if not self.terms:
            return "0"
        parts = []
        for powers, coeff in sorted(self.terms, key=lambda t: (sum(t[0]), t[0])):
            factors = [
                v + (str(e).translate(_SUPERSCRIPT) if e > 1 else "") for v, e in zip(self.variables, powers) if e
            ]
            body = "·".join(factors)
            if not body:
                parts.append(f"{coeff:,}")
            elif coeff == 1:
                parts.append(body)
            else:
                parts.append(f"{coeff:,}·{body}")
        return " + ".join(parts).replace("+ -", "− ")

    def to_json(self) -> dict:
        return {
            "text": str(self),
            "terms": [
                {"coefficient": c, "powers": {v: e for v, e in zip(self.variables, p) if e}} for p, c in self.terms
            ],
        }


def _monomial(variables, powers, values) -> int:
    out = 1
    for v, e in zip(variables, powers):
        out *= values[v] ** e
    return out


def sum_formulas(formulas: list[dict | None], variables: tuple[str, ...]) -> dict:
    """The JSON form (`to_json`) of the sum of polynomials given in that form; not polynomial
    when one of them is not (a group's cost is no polynomial if one node's is not)."""
    total: dict[tuple[int, ...], int] = {}
    for f in formulas:
        if not f or f.get("text") is None:
            return {"text": None, "not_polynomial": True}
        for term in f["terms"]:
            key = tuple(term["powers"].get(v, 0) for v in variables)
            total[key] = total.get(key, 0) + term["coefficient"]
    terms = tuple(sorted(((k, c) for k, c in total.items() if c), key=lambda t: (-sum(t[0]), t[0])))
    return Poly(tuple(variables), terms).to_json()
