"""The command line's NAME=SHAPE and NAME=N specs, shared by the CLI and config files."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from modelaudit.errors import UsageError
from modelaudit.shapes.dimexpr import MAX_DIM

if TYPE_CHECKING:
    from onnx import ModelProto

__all__ = ["parse_input_spec", "parse_dim_spec", "check_zero_dims", "check_zero_inputs", "collect_dims"]

_SHAPE = re.compile(r"^\d+([x,]\d+)*$")


def parse_input_spec(spec: str, allow_zero: bool = False) -> tuple[str, tuple[int, ...]]:
    """`x=1x3x224x224` (or `x=1,3,224,224`) -> ("x", (1, 3, 224, 224)). With `allow_zero`, a dim may
    be 0 (an empty KV cache); `check_zero_inputs` then says whether the model allows it there."""
    name, sep, shape = spec.rpartition("=")
    if not sep or not name:
        raise UsageError(f"--input {spec!r}: expected NAME=SHAPE, e.g. --input x=1x3x224x224")
    shape = shape.strip().lower()
    if shape in ("", "scalar"):
        return name, ()
    if not _SHAPE.match(shape):
        raise UsageError(f"--input {spec!r}: the shape must be positive integers joined by 'x', e.g. 1x3x224x224")
    dims = tuple(int(d) for d in re.split(r"[x,]", shape))
    if any(d > MAX_DIM for d in dims):
        raise UsageError(f"--input {spec!r}: a dim may be at most {MAX_DIM:,} (ONNX stores dims as int64)")
    if any(d < 0 or (d == 0 and not allow_zero) for d in dims):
        raise UsageError(f"--input {spec!r}: every dim must be at least 1")
    return name, dims


def parse_dim_spec(spec: str) -> tuple[str, int]:
    """`batch=1` -> ("batch", 1)."""
    name, sep, value = spec.rpartition("=")
    if not sep or not name or not re.fullmatch(r"[0-9]+", value.strip()):  # isdigit() took '²', int() did not
        raise UsageError(f"--dim {spec!r}: expected NAME=N with N a whole number, e.g. --dim batch=1")
    if int(value) > MAX_DIM:
        raise UsageError(f"--dim {spec!r}: N may be at most {MAX_DIM:,} (ONNX stores dims as int64)")
    return name, int(value)


def collect_dims(specs, models) -> dict[str, int]:
    """Every --dim, each 0 checked against each model (a path or a list of paths)."""
    dims: dict[str, int] = {}
    for spec in specs or []:
        name, value = parse_dim_spec(spec)
        if name in dims and dims[name] != value:
            raise UsageError(f"--dim {name} is given twice with different values")
        dims[name] = value
    for model in [models] if isinstance(models, str) else list(models or []):
        check_zero_dims(model, dims)
    return dims


def check_zero_dims(model_path, dims: dict[str, int]) -> None:
    """A dim may be 0 only where a length of 0 means something: the cached length of a KV cache
    (`past_sequence_length=0` is the prefill). Anything else of length 0 is refused."""
    zero = [name for name, value in dims.items() if value == 0]
    if not zero:
        return
    from modelaudit.analyses.kvcache import find_cache
    from modelaudit.errors import ModelAuditError
    from modelaudit.load.reader import read_model_light

    try:
        past = find_cache(read_model_light(model_path).model).past_dim
    except (ModelAuditError, OSError):
        past = None  # an unreadable path is reported by the command itself
    for name in zero:
        if name != past:
            raise UsageError(
                f"--dim {name}=0: only a KV cache's cached length may be 0"
                + (f" (here {past})" if past else " (this model has no recognisable cache)"),
                f"give {name} a positive value",
            )


def check_zero_inputs(model_path, inputs: dict[str, tuple]) -> None:
    """An --input dim may be 0 only on a KV-cache input, at its cached-length axis."""
    zero = {name: shape for name, shape in inputs.items() if 0 in shape}
    if not zero:
        return
    from modelaudit.analyses.kvcache import cached_axis, find_cache
    from modelaudit.errors import ModelAuditError
    from modelaudit.load.reader import read_model_light

    model: ModelProto | None = None
    layout = None
    try:
        model = read_model_light(model_path).model
        layout = find_cache(model)
    except (ModelAuditError, OSError):
        model = layout = None
    for name, shape in zero.items():
        axis = cached_axis(model, layout, name) if model is not None and layout is not None else None
        if axis is None or any(d == 0 for i, d in enumerate(shape) if i != axis % len(shape)):
            raise UsageError(
                f"--input {name}: a dim of 0 is allowed only for the cached length of a KV-cache input",
                "give every other dim a positive value",
            )
