"""Human units both ways: parsed from the command line (4M, 600M, 16MiB) and printed in reports (300.8 M, 2.12 KiB)."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from .errors import UsageError
from .figures import Figure

__all__ = ["parse_count", "parse_bytes", "human", "human_bytes", "exact"]

_DECIMAL = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
_BINARY = {"KI": 2**10, "MI": 2**20, "GI": 2**30, "TI": 2**40}
_FORM = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?|\.[0-9]+)\s*([a-zA-Z]*)\s*$")


def _parse(text: str, what: str, allow_bytes: bool) -> int:
    match = _FORM.match(str(text))
    if not match:
        raise UsageError(
            f"{what} '{text}': expected a number with an optional unit, e.g. "
            + ("16MiB, 500MB, 4GiB" if allow_bytes else "4M, 600M, 1.5G")
        )
    number, unit = Decimal(match.group(1)), match.group(2).upper()
    if allow_bytes and unit.endswith("B"):
        unit = unit[:-1]
    scale = _BINARY.get(unit) if allow_bytes else None
    scale = scale or _DECIMAL.get(unit)
    if scale is None:
        units = "K, M, G, T (×1000) or KiB, MiB, GiB, TiB (×1024), with an optional B" if allow_bytes else "K, M, G, T"
        raise UsageError(f"{what} '{text}': unknown unit '{match.group(2)}' (use {units})")
    try:
        value = number * scale
    except InvalidOperation:
        raise UsageError(f"{what} '{text}' is not a number") from None
    if value != value.to_integral_value():
        raise UsageError(f"{what} '{text}' is not a whole number")
    return int(value)


def parse_count(text: str, what: str = "value") -> int:
    """`4M` -> 4,000,000; `1.5G` -> 1,500,000,000; `600` -> 600 (decimal units)."""
    return _parse(text, what, allow_bytes=False)


def parse_bytes(text: str, what: str = "size") -> int:
    """`16MiB` -> 16·2^20; `500MB` or `500M` -> 500·10^6; `4GiB` -> 4·2^30."""
    return _parse(text, what, allow_bytes=True)


_UNITS = ((10**12, "T"), (10**9, "G"), (10**6, "M"), (10**3, "K"))
_BYTE_UNITS = ((2**40, "TiB"), (2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB"))


def _scaled(value: float, units: tuple[tuple[int, str], ...]) -> str | None:
    for size, suffix in units:
        if abs(value) >= size:
            v = value / size
            return f"{v:.2f} {suffix}" if abs(v) < 10 else f"{v:.1f} {suffix}"
    return None


_HUMAN: dict[int, str] = {}  # value -> text; a 50,000-row table repeats the same few hundred figures
_HUMAN_BYTES: dict[int, str] = {}
_CACHED = 1 << 16  # distinct values remembered; past that, each is formatted afresh


def human(value: int | float | Figure | None) -> str:
    """3.50 M, 300.8 M, 1.23 G; `≥ 1.23 G` for a lower bound; `?` when unknown."""
    if isinstance(value, Figure):
        return value.text(human)
    exact_int = value.__class__ is int  # 1, 1.0 and True are one dict key but print differently
    text = _HUMAN.get(value) if exact_int else None  # type: ignore[arg-type]
    if text is None:
        text = "?" if value is None else _scaled(value, _UNITS) or str(value)
        if exact_int and len(_HUMAN) < _CACHED:
            _HUMAN[value] = text  # type: ignore[index]
    return text


def human_bytes(value: int | float | Figure | None) -> str:
    """2.12 KiB, 300.8 MiB; `≥ 1.00 GiB` for a lower bound; `?` when unknown."""
    if isinstance(value, Figure):
        return value.text(human_bytes)
    exact_int = value.__class__ is int
    text = _HUMAN_BYTES.get(value) if exact_int else None  # type: ignore[arg-type]
    if text is None:
        text = "?" if value is None else _scaled(value, _BYTE_UNITS) or f"{value} B"
        if exact_int and len(_HUMAN_BYTES) < _CACHED:
            _HUMAN_BYTES[value] = text  # type: ignore[index]
    return text


def exact(value: int | float | Figure | None) -> str:
    """322,224; `≥ 322,224` for a lower bound; `?` when unknown."""
    if isinstance(value, Figure):
        return value.text(exact)
    return "?" if value is None else f"{value:,}"
