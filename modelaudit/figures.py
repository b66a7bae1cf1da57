"""A figure that may be incomplete, as one value: exact, a lower bound, an upper bound, or unknown.

Costs are sums over nodes, and a node whose shape or rule is unknown leaves its part of the sum
unknown. The sum is then not a number but a bound ("≥ 1.2 G"), or nothing at all ("?"). A plain
int with a separate `*_complete` flag lets every consumer forget the flag and print, sum, chart or
compare the bound as if it were the figure; a `Figure` cannot be used so by accident:

- printing gives `1.23 G`, `≥ 1.23 G`, `≤ 4.1 K` or `?` (`str()`, `human()`, `format()`);
- `+` and `*` keep the completeness (exact + unknown is a lower bound, since costs are never
  negative), and `sum()` works;
- ordering (`<`, `>`, `int()`, `float()`, `bool()`), differences and ratios (`-`, `/`, `//`, which
  give plain numbers) raise `IncompleteFigureError` unless the figure is exact: a question about an
  incomplete figure is asked explicitly, with `provably_at_most(limit)` or `provably_above(limit)`;
- `==` with a number is true only for an exact figure of that value: unknown equals nothing.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "EXACT",
    "AT_LEAST",
    "AT_MOST",
    "UNKNOWN",
    "Figure",
    "IncompleteFigureError",
    "Number",
    "figure_sum",
    "to_data",
    "revive",
    "rank",
]

Number = int | float
State = Literal["exact", "at_least", "at_most", "unknown"]
EXACT: State = "exact"
AT_LEAST: State = "at_least"  # the figure is the value or more: some parts are unknown
AT_MOST: State = "at_most"  # the figure is the value or less (the reciprocal of a lower bound)
UNKNOWN: State = "unknown"  # nothing is known; `value` is None
_STATES = (EXACT, AT_LEAST, AT_MOST, UNKNOWN)
_PREFIX = {EXACT: "", AT_LEAST: "≥ ", AT_MOST: "≤ "}


class IncompleteFigureError(ValueError):
    """An incomplete figure was ordered, converted or tested as if it were a number."""


@dataclass(frozen=True, slots=True, eq=False)
class Figure:
    """A known number, a bound, or unknown. Build it with `exact()`, `at_least()`, `at_most()`,
    `unknown()` or `of()`; never from a plain int with a flag kept elsewhere."""

    value: Number | None
    state: State = EXACT

    def __post_init__(self) -> None:
        if self.state not in _STATES:
            raise ValueError(f"unknown figure state {self.state!r}")
        if (self.value is None) != (self.state == UNKNOWN):
            raise ValueError("an unknown figure has no value, and every other figure has one")
        if self.value is not None and (isinstance(self.value, bool) or not math.isfinite(self.value)):
            raise ValueError(f"a figure's value is a finite number, not {self.value!r}")

    # --- construction ---------------------------------------------------------------------------
    @classmethod
    def exact(cls, value: Number) -> Figure:
        return cls(value, EXACT)

    @classmethod
    def at_least(cls, value: Number) -> Figure:
        """A lower bound; a lower bound of 0 (or less) on a non-negative cost says nothing: unknown."""
        return cls(value, AT_LEAST) if value > 0 else cls(None, UNKNOWN)

    @classmethod
    def at_most(cls, value: Number) -> Figure:
        return cls(value, AT_MOST)

    @classmethod
    def unknown(cls) -> Figure:
        return cls(None, UNKNOWN)

    @classmethod
    def of(cls, known: Number | None, complete: bool = True) -> Figure:
        """`known` with its completeness: None is unknown, an incomplete sum a lower bound."""
        if known is None:
            return cls.unknown()
        return cls.exact(known) if complete else cls.at_least(known)

    # --- what is known ----------------------------------------------------------------------------
    @property
    def complete(self) -> bool:
        return self.state == EXACT

    @property
    def known(self) -> Number | None:
        """The number when the figure is exact, else None."""
        return self.value if self.state == EXACT else None

    @property
    def lower(self) -> Number | None:
        """What the figure is at least: its value when exact or a lower bound, else None."""
        return self.value if self.state in (EXACT, AT_LEAST) else None

    @property
    def upper(self) -> Number | None:
        """What the figure is at most: its value when exact or an upper bound, else None."""
        return self.value if self.state in (EXACT, AT_MOST) else None

    def provably_at_most(self, limit: Number) -> bool:
        """True only when the figure is known to be ≤ limit (a budget that passes)."""
        upper = self.upper
        return upper is not None and upper <= limit

    def provably_above(self, limit: Number) -> bool:
        """True only when the figure is known to be > limit (a budget breach that is proven)."""
        lower = self.lower
        return lower is not None and lower > limit

    def provably_below(self, limit: Number) -> bool:
        """True only when the figure is known to be < limit."""
        upper = self.upper
        return upper is not None and upper < limit

    # --- arithmetic -------------------------------------------------------------------------------
    def __add__(self, other: Figure | Number) -> Figure:
        other = _as_figure(other)
        if other is NotImplemented:
            return NotImplemented
        if self.state == UNKNOWN or other.state == UNKNOWN:
            # costs are never negative: what is known of the other part is still a floor
            floor = (self.lower or 0) + (other.lower or 0)
            both_floors = self.state in (EXACT, AT_LEAST, UNKNOWN) and other.state in (EXACT, AT_LEAST, UNKNOWN)
            return Figure.at_least(floor) if both_floors else Figure.unknown()
        states = {self.state, other.state} - {EXACT}
        total = self.value + other.value  # type: ignore[operator]
        if not states:
            return Figure.exact(total)
        if len(states) == 2:  # a lower bound plus an upper bound bounds nothing
            return Figure.unknown()
        state = states.pop()
        return Figure.at_least(total) if state == AT_LEAST else Figure.at_most(total)

    __radd__ = __add__

    def __mul__(self, factor: Number) -> Figure:
        """Scaled by a known, non-negative factor (a trip count, a batch)."""
        if isinstance(factor, Figure) or not isinstance(factor, int | float) or isinstance(factor, bool):
            return NotImplemented
        if factor < 0:
            raise ValueError(f"a figure is scaled by a non-negative factor, not {factor}")
        if self.state == UNKNOWN:
            return self
        value = self.value * factor  # type: ignore[operator]
        if self.state == AT_LEAST:
            return Figure.at_least(value)
        return Figure(value, self.state)

    __rmul__ = __mul__

    def map(self, fn: Callable[[Number], Number], *, decreasing: bool = False) -> Figure:
        """fn applied to the value, for a monotonic fn (a time from a cost, a rate from a time): a
        decreasing fn turns a lower bound into an upper one."""
        if self.state == UNKNOWN:
            return self
        state = self.state
        if decreasing and state != EXACT:
            state = AT_MOST if state == AT_LEAST else AT_LEAST
        return Figure(fn(self.value), state)  # type: ignore[arg-type]

    @staticmethod
    def largest(*figures: Figure) -> Figure:
        """The largest of several lower bounds on one quantity (a time bound: roofline, overhead)."""
        floors = [f.lower for f in figures if f.lower is not None]
        if all(f.complete for f in figures):
            return Figure.exact(max(f.value for f in figures if f.value is not None))
        return Figure.at_least(max(floors)) if floors else Figure.unknown()

    # --- refusing to be a plain number ------------------------------------------------------------
    def _number(self, what: str) -> Number:
        if self.state != EXACT:
            raise IncompleteFigureError(
                f"{what} of an incomplete figure ({self}): use .known, .lower, or provably_at_most()"
            )
        return self.value  # type: ignore[return-value]

    def __int__(self) -> int:
        return int(self._number("int()"))

    def __index__(self) -> int:
        value = self._number("an index")
        if not isinstance(value, int):
            raise TypeError("a non-integer figure is not an index")
        return value

    def __float__(self) -> float:
        return float(self._number("float()"))

    def _exact_pair(self, other: object, op: str) -> Any:
        if isinstance(other, Figure):
            other = other._number(op)
        if not isinstance(other, int | float) or isinstance(other, bool):
            return NotImplemented
        return self._number(op), other

    # a difference or a ratio is a plain number, of exact figures only (`macs / 1e9` of an exact total)
    def __sub__(self, other: object) -> Any:
        pair = self._exact_pair(other, "-")
        return pair if pair is NotImplemented else pair[0] - pair[1]

    def __rsub__(self, other: object) -> Any:
        pair = self._exact_pair(other, "-")
        return pair if pair is NotImplemented else pair[1] - pair[0]

    def __truediv__(self, other: object) -> Any:
        pair = self._exact_pair(other, "/")
        return pair if pair is NotImplemented else pair[0] / pair[1]

    def __rtruediv__(self, other: object) -> Any:
        pair = self._exact_pair(other, "/")
        return pair if pair is NotImplemented else pair[1] / pair[0]

    def __floordiv__(self, other: object) -> Any:
        pair = self._exact_pair(other, "//")
        return pair if pair is NotImplemented else pair[0] // pair[1]

    def __abs__(self) -> Number:
        return abs(self._number("abs()"))

    def __bool__(self) -> bool:
        return bool(self._number("truth"))

    def _compare(self, other: object, op: str) -> Any:
        if isinstance(other, Figure):
            other = other._number(op)
        if not isinstance(other, int | float) or isinstance(other, bool):
            return NotImplemented
        return self._number(op), other

    def __lt__(self, other: object) -> bool:
        pair = self._compare(other, "<")
        return pair if pair is NotImplemented else pair[0] < pair[1]

    def __le__(self, other: object) -> bool:
        pair = self._compare(other, "<=")
        return pair if pair is NotImplemented else pair[0] <= pair[1]

    def __gt__(self, other: object) -> bool:
        pair = self._compare(other, ">")
        return pair if pair is NotImplemented else pair[0] > pair[1]

    def __ge__(self, other: object) -> bool:
        pair = self._compare(other, ">=")
        return pair if pair is NotImplemented else pair[0] >= pair[1]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Figure):
            return self.value == other.value and self.state == other.state
        if isinstance(other, int | float) and not isinstance(other, bool):
            return self.state == EXACT and self.value == other
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.value, self.state))

    # --- text and data ----------------------------------------------------------------------------
    def text(self, fmt: Callable[[Any], str] | None = None) -> str:
        """The figure as a reader sees it: `fmt(value)` with `≥ `/`≤ ` before a bound, `?` if unknown."""
        if self.state == UNKNOWN:
            return "?"
        shown = fmt(self.value) if fmt is not None else _plain(self.value)  # type: ignore[arg-type]
        return _PREFIX[self.state] + shown

    def __str__(self) -> str:
        return self.text()

    def __repr__(self) -> str:
        return f"Figure({self.value!r}, {self.state!r})"

    def __format__(self, spec: str) -> str:
        if self.state == UNKNOWN:
            return format("?", _text_spec(spec))
        return _PREFIX[self.state] + format(self.value, spec)

    def as_dict(self) -> dict[str, Any]:
        """{"value": n or null, "bound": "exact" | "at_least" | "at_most" | "unknown"}: the JSON form."""
        return {"value": self.value, "bound": self.state}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Figure:
        return cls(data["value"], data["bound"])


def _as_figure(other: object) -> Figure:
    if isinstance(other, Figure):
        return other
    if isinstance(other, int | float) and not isinstance(other, bool):
        return Figure.exact(other)
    return NotImplemented  # type: ignore[no-any-return]


def _plain(value: Number) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:,.6g}"


def _text_spec(spec: str) -> str:
    """A number's format spec reduced to what a string takes (its fill, alignment and width)."""
    match = re.match(r"^((?:.?[<>^])?)(\d*)", spec)
    return (match.group(1) + match.group(2)) if match else ""


def figure_sum(values: Iterable[Number | None]) -> Figure:
    """The sum of per-node parts, None where a part is unknown: exact when every part is known,
    else a lower bound on what the known parts add up to (unknown when none is known or all are 0)."""
    total: Number = 0
    missing = False
    for v in values:
        if v is None:
            missing = True
        else:
            total += v
    return Figure.at_least(total) if missing else Figure.exact(total)


def to_data(value: Any) -> Any:
    """`value` with every Figure in it (in dicts, lists and tuples) replaced by its JSON form, as_dict()."""
    if value.__class__ is Figure:
        return value.as_dict()
    if isinstance(value, dict):
        return {k: to_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_data(v) for v in value]
    return value


def revive(value: Any) -> Any:
    """to_data()'s inverse: every {"value", "bound"} object (in dicts and lists) back as a Figure."""
    if isinstance(value, dict):
        if value.keys() == {"value", "bound"} and value["bound"] in _STATES:
            return Figure.from_dict(value)
        return {k: revive(v) for k, v in value.items()}
    if isinstance(value, list):
        return [revive(v) for v in value]
    return value


def rank(value: Figure | Number | None) -> tuple[int, Number]:
    """A sort key that puts the largest cost first: known costs above 0 (exact, or a floor by its
    floor) largest first, then unknown ones (which may be any size), then zeros. An unknown cost is
    never ranked as a 0."""
    if value.__class__ is Figure:
        value = value.lower
    if value is None:
        return (1, 0)
    return (0, -value) if value > 0 else (2, -value)  # type: ignore[operator]
