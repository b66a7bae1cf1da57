"""The command line's NAME=SHAPE and NAME=N specs, shared by the CLI and config files."""

from __future__ import annotations

import re

from modelaudit.errors import UsageError

__all__ = ["parse_input_spec", "parse_dim_spec"]

_SHAPE = re.compile(r"^\d+([x,]\d+)*$")


def parse_input_spec(spec: str) -> tuple[str, tuple[int, ...]]:
    """`x=1x3x224x224` (or `x=1,3,224,224`) -> ("x", (1, 3, 224, 224))."""
    name, sep, shape = spec.rpartition("=")
    if not sep or not name:
        raise UsageError(f"--input {spec!r}: expected NAME=SHAPE, e.g. --input x=1x3x224x224")
    shape = shape.strip().lower()
    if shape in ("", "scalar"):
        return name, ()
    if not _SHAPE.match(shape):
        raise UsageError(f"--input {spec!r}: the shape must be positive integers joined by 'x', e.g. 1x3x224x224")
    dims = tuple(int(d) for d in re.split(r"[x,]", shape))
    if any(d <= 0 for d in dims):
        raise UsageError(f"--input {spec!r}: every dim must be at least 1")
    return name, dims


def parse_dim_spec(spec: str) -> tuple[str, int]:
    """`batch=1` -> ("batch", 1)."""
    name, sep, value = spec.rpartition("=")
    if not sep or not name or not value.strip().isdigit() or int(value) <= 0:
        raise UsageError(f"--dim {spec!r}: expected NAME=N with N a positive integer, e.g. --dim batch=1")
    return name, int(value)
