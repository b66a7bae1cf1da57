"""Hardware specs for the roofline: a built-in chip by name (chips.py), or a TOML spec file, checked key by key."""

from __future__ import annotations

from pathlib import Path

from modelaudit.errors import UsageError

from .chips import ALIASES, BUILTIN, RATE_KEYS, HardwareSpec, dtype_key

__all__ = ["HardwareSpec", "BUILTIN", "get_spec", "spec_from_dict", "spec_to_toml", "dtype_key"]


# Accepted ranges: TFLOP/s and GB/s from 10⁻⁶ (a MFLOP/s, a MB/s) to 10⁶ (an EFLOP/s, a PB/s), an
# overhead from 0 to a second. Outside them no chip exists, and nan, inf or 1e-320 made the times
# and the ridge point nan or inf (and the HTML chart's log scale an internal error).
_RATES, _OVERHEAD = (1e-6, 1e6), (0.0, 1e6)


def _in_range(value, bounds: tuple[float, float]) -> bool:
    """A TOML int or float (not a bool, not nan) within bounds."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and bounds[0] <= value <= bounds[1]


_KNOWN = (
    "name",
    "source",
    "peak_tflops",
    "bandwidth_gbs",
    "attainable_tflops",
    "attainable_bandwidth_gbs",
    "overhead_us",
    "memory_gib",
    "cache_bandwidth_gbs",
    "cache_kib",
    "notes",
)


def _rates(data: dict, key: str, where: str) -> dict[str, float]:
    """A [peak_tflops] or [attainable_tflops] table: known dtype keys only (an unknown one, `FP16` or
    `float16`, was taken for fp32 without a word), each a number in range."""
    table = data.get(key, {})
    if not isinstance(table, dict):
        raise UsageError(f"{where}: {key} must be a table, e.g. [{key}] with fp16 = 121")
    for dtype, value in table.items():
        if dtype not in RATE_KEYS:
            raise UsageError(f"{where}: [{key}] has an unknown dtype key {dtype!r}", f"known: {', '.join(RATE_KEYS)}")
        if not _in_range(value, _RATES):
            raise UsageError(f"{where}: [{key}] {dtype} must be a number from {_RATES[0]:g} to {_RATES[1]:g}")
    return {k: float(v) for k, v in table.items()}


def _number(data: dict, key: str, where: str) -> float | None:
    value = data.get(key)
    bounds = _OVERHEAD if key == "overhead_us" else _RATES
    if value is not None and not _in_range(value, bounds):
        raise UsageError(f"{where}: {key} must be a number from {bounds[0]:g} to {bounds[1]:g}")
    return None if value is None else float(value)


def spec_from_dict(data: dict, where: str) -> HardwareSpec:
    """A spec from a TOML table; every error names the file and the key."""
    if not isinstance(data, dict):
        raise UsageError(f"{where}: [hardware] must be a table", "see docs/roofline.md for the spec format")
    unknown = set(data) - set(_KNOWN)
    if unknown:
        raise UsageError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}", f"known: {', '.join(_KNOWN)}")
    for key in ("peak_tflops", "bandwidth_gbs"):
        if key not in data:
            raise UsageError(f"{where}: missing {key}", "see docs/roofline.md for the spec format")
    peaks = _rates(data, "peak_tflops", where)
    if "fp32" not in peaks:  # the rate of every dtype the chip has no rate for: without it, 0 TFLOP/s
        raise UsageError(
            f"{where}: [peak_tflops] has no fp32", "give fp32 = …: dtypes without a rate of their own use it"
        )
    return HardwareSpec(
        str(data.get("name", Path(where).stem)),
        str(data.get("source", where)),
        peaks,
        _number(data, "bandwidth_gbs", where) or 0.0,
        _rates(data, "attainable_tflops", where),
        _number(data, "attainable_bandwidth_gbs", where),
        _number(data, "overhead_us", where) or 0.0,
        str(data.get("notes", "")),
        _number(data, "memory_gib", where),
        _number(data, "cache_bandwidth_gbs", where),
        _number(data, "cache_kib", where),
    )


def get_spec(name: str) -> HardwareSpec:
    """A built-in chip by name, or a TOML file's spec."""
    key = ALIASES.get(name.lower(), name.lower())
    if key in BUILTIN:
        return BUILTIN[key]
    path = Path(name)
    if not path.suffix == ".toml" and not path.is_file():
        raise UsageError(
            f"--hardware {name}: not a built-in chip nor a file",
            f"built-in: {', '.join(BUILTIN)}; or a .toml spec (docs/roofline.md), or calibrate",
        )
    from modelaudit.load.tomlfile import read_toml

    data = read_toml(path, "--hardware")
    return spec_from_dict(data.get("hardware", data), f"--hardware {name}")


def spec_to_toml(spec: HardwareSpec) -> str:
    """The spec as a TOML file --hardware FILE reads back."""

    def text(value: str) -> str:
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'

    lines = [f"name = {text(spec.name)}", f"source = {text(spec.source)}", f"bandwidth_gbs = {spec.bandwidth_gbs:g}"]
    if spec.attainable_bandwidth_gbs:
        lines.append(f"attainable_bandwidth_gbs = {spec.attainable_bandwidth_gbs:g}")
    lines.append(f"overhead_us = {spec.overhead_us:g}")
    for key in ("memory_gib", "cache_bandwidth_gbs", "cache_kib"):
        if getattr(spec, key) is not None:
            lines.append(f"{key} = {getattr(spec, key):g}")
    lines += [f"notes = {text(spec.notes)}", "", "[peak_tflops]"]
    lines += [f"{k} = {v:g}" for k, v in spec.peak_tflops.items()]
    if spec.attainable_tflops:
        lines += ["", "[attainable_tflops]"] + [f"{k} = {v:g}" for k, v in spec.attainable_tflops.items()]
    return "\n".join(lines) + "\n"
