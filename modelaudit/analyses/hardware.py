"""Hardware specs for the roofline: built-in chips from their vendors' datasheets, TOML spec files."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from modelaudit.errors import UsageError

__all__ = ["HardwareSpec", "BUILTIN", "get_spec", "spec_from_dict", "spec_to_toml", "dtype_key"]


@dataclass
class HardwareSpec:
    """Peaks in TFLOP/s (TOPS for int8) per dtype, dense; bandwidth in GB/s (10⁹ bytes/s); a fixed
    cost per node launched (kernel launch and dispatch), in µs. `attainable_*` are measured figures a
    real kernel reaches; the roofline uses them where known, else the datasheet's."""

    name: str
    source: str
    peak_tflops: dict[str, float]
    bandwidth_gbs: float
    attainable_tflops: dict[str, float] = field(default_factory=dict)
    attainable_bandwidth_gbs: float | None = None
    overhead_us: float = 0.0
    notes: str = ""

    def flops_per_s(self, dtype: str) -> tuple[float, str]:
        """(FLOP/s, the dtype whose peak it is): a dtype the chip has no rate for falls back to fp32."""
        key = dtype_key(dtype)
        if key not in self.peak_tflops and key not in self.attainable_tflops:
            key = "fp32"
        return 1e12 * self.attainable_tflops.get(key, self.peak_tflops.get(key, 0.0)), key

    @property
    def bytes_per_s(self) -> float:
        return 1e9 * (self.attainable_bandwidth_gbs or self.bandwidth_gbs)

    def as_dict(self) -> dict:
        return asdict(self)


_DTYPES = {
    "float32": "fp32",
    "float": "fp32",
    "float16": "fp16",
    "bfloat16": "bf16",
    "int8": "int8",
    "uint8": "int8",
    "float8e4m3fn": "fp8",
    "float8e5m2": "fp8",
    "float8e4m3fnuz": "fp8",
    "float8e5m2fnuz": "fp8",
    "int4": "int8",
    "uint4": "int8",
    "float64": "fp64",
    "double": "fp64",
}


def dtype_key(dtype: str) -> str:
    """An ONNX dtype name as the spec's key: float16 -> fp16, uint8 -> int8 …"""
    return _DTYPES.get(dtype, dtype if dtype in ("fp32", "fp16", "bf16", "int8", "fp8", "tf32", "fp64") else "fp32")


_GPU_OVERHEAD = 5.0  # µs per kernel: launch plus runtime dispatch, a few µs on current GPUs

BUILTIN: dict[str, HardwareSpec] = {
    s.name: s
    for s in [
        HardwareSpec(
            "h100-sxm",
            "NVIDIA H100 Tensor Core GPU datasheet (H100 SXM5 80GB); dense rates (the datasheet's "
            "tensor figures are with 2:4 sparsity, halved here); attainable: measured on an H100 80GB HBM3 with "
            "torch 2.11 (large matmul, large copy)",
            {"fp64": 67, "fp32": 67, "tf32": 494.5, "bf16": 989.5, "fp16": 989.5, "fp8": 1979, "int8": 1979},
            3350,
            {"bf16": 789, "fp16": 758, "tf32": 399, "fp32": 51},
            2995,
            _GPU_OVERHEAD,
            "sparse: ×2 on tf32/bf16/fp16/fp8/int8 with 2:4 structured sparsity",
        ),
        HardwareSpec(
            "a100",
            "NVIDIA A100 Tensor Core GPU datasheet (A100 SXM4 80GB); dense rates",
            {"fp64": 19.5, "fp32": 19.5, "tf32": 156, "bf16": 312, "fp16": 312, "int8": 624},
            2039,
            overhead_us=_GPU_OVERHEAD,
            notes="sparse: ×2 on tf32/bf16/fp16/int8 with 2:4 structured sparsity",
        ),
        HardwareSpec(
            "l4",
            "NVIDIA L4 Tensor Core GPU datasheet; dense rates (the datasheet's tensor figures are "
            "with sparsity, halved here)",
            {"fp32": 30.3, "tf32": 60, "bf16": 121, "fp16": 121, "fp8": 242.5, "int8": 242.5},
            300,
            overhead_us=_GPU_OVERHEAD,
            notes="sparse: ×2 on tf32/bf16/fp16/fp8/int8",
        ),
        HardwareSpec(
            "t4",
            "NVIDIA T4 Tensor Core GPU datasheet; dense (Turing has no structured sparsity)",
            {"fp32": 8.1, "fp16": 65, "int8": 130},
            320,
            overhead_us=_GPU_OVERHEAD,
            notes="fp16 is mixed precision (fp32 accumulate); no bf16: bf16 falls back to the fp32 rate",
        ),
        HardwareSpec(
            "rtx4090",
            "NVIDIA Ada Lovelace GPU architecture whitepaper (GeForce RTX 4090); dense, tensor "
            "rates with fp32 accumulate",
            {"fp32": 82.6, "tf32": 82.6, "bf16": 165.2, "fp16": 165.2, "int8": 660.6},
            1008,
            overhead_us=_GPU_OVERHEAD,
            notes="sparse: ×2; fp16 with fp16 accumulate is 330.3",
        ),
        HardwareSpec(
            "jetson-orin",
            "NVIDIA Jetson AGX Orin 64GB module datasheet: GPU 170 INT8 TOPS with sparsity "
            "(85 dense), 5.3 FP32 TFLOPS (CUDA cores), LPDDR5 204.8 GB/s; fp16 dense taken as half the "
            "int8 dense rate",
            {"fp32": 5.3, "fp16": 42.5, "int8": 85},
            204.8,
            overhead_us=10.0,
            notes="GPU only (the two DLAs add 105 sparse INT8 TOPS); sparse: ×2",
        ),
        HardwareSpec(
            "apple-m2",
            "Apple M2 announcement (June 2022): 10-core GPU 3.6 TFLOPS, 100 GB/s unified memory, "
            "Neural Engine 15.8 TOPS",
            {"fp32": 3.6, "fp16": 3.6},
            100,
            overhead_us=10.0,
            notes="GPU only: the Neural Engine (15.8 TOPS) is reached through Core ML, not these rates; dense",
        ),
        HardwareSpec(
            "cpu-avx2",
            "generic AVX2 desktop CPU: 8 cores × 3.0 GHz × 32 fp32 FLOP/cycle (two 256-bit FMA "
            "units, Intel optimization manual), dual-channel DDR4-3200 (2 × 25.6 GB/s)",
            {"fp32": 0.768},
            51.2,
            overhead_us=1.0,
            notes="dense; scale to your part, or measure it with --hardware calibrate",
        ),
        HardwareSpec(
            "cpu-avx512",
            "generic AVX-512 server CPU: 16 cores × 2.5 GHz × 64 fp32 FLOP/cycle (two 512-bit FMA "
            "units), int8 ×4 with VNNI (VPDPBUSD), eight-channel DDR4-3200 (8 × 25.6 GB/s)",
            {"fp32": 2.56, "int8": 10.24},
            204.8,
            overhead_us=1.0,
            notes="dense; scale to your part, or measure it with --hardware calibrate",
        ),
    ]
}
_ALIASES = {
    "h100": "h100-sxm",
    "a100-sxm": "a100",
    "4090": "rtx4090",
    "orin": "jetson-orin",
    "m2": "apple-m2",
    "avx2": "cpu-avx2",
    "avx512": "cpu-avx512",
}


# Accepted ranges: TFLOP/s and GB/s from 10⁻⁶ (a MFLOP/s, a MB/s) to 10⁶ (an EFLOP/s, a PB/s), an
# overhead from 0 to a second. Outside them no chip exists, and nan, inf or 1e-320 made the times
# and the ridge point nan or inf (and the HTML chart's log scale an internal error).
_RATES, _OVERHEAD = (1e-6, 1e6), (0.0, 1e6)


def _in_range(value, bounds: tuple[float, float]) -> bool:
    """A TOML int or float (not a bool, not nan) within bounds."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and bounds[0] <= value <= bounds[1]


def spec_from_dict(data: dict, where: str) -> HardwareSpec:
    """A spec from a TOML table; every error names the file and the key."""
    if not isinstance(data, dict):
        raise UsageError(f"{where}: [hardware] must be a table", "see docs/roofline.md for the spec format")
    known = {
        "name",
        "source",
        "peak_tflops",
        "bandwidth_gbs",
        "attainable_tflops",
        "attainable_bandwidth_gbs",
        "overhead_us",
        "notes",
    }
    unknown = set(data) - known
    if unknown:
        raise UsageError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}", f"known: {', '.join(sorted(known))}")
    for key in ("peak_tflops", "bandwidth_gbs"):
        if key not in data:
            raise UsageError(f"{where}: missing {key}", "see docs/roofline.md for the spec format")

    def rates(key: str) -> dict[str, float]:
        table = data.get(key, {})
        if not isinstance(table, dict) or not all(_in_range(v, _RATES) for v in table.values()):
            raise UsageError(
                f"{where}: {key} must be a table of numbers from {_RATES[0]:g} to {_RATES[1]:g}, e.g. fp16 = 121"
            )
        return {dtype_key(k): float(v) for k, v in table.items()}

    peaks = rates("peak_tflops")
    if not peaks:
        raise UsageError(f"{where}: peak_tflops is empty", "give at least fp32 = …")
    numbers = {}
    for key in ("bandwidth_gbs", "attainable_bandwidth_gbs", "overhead_us"):
        value = data.get(key)
        bounds = _OVERHEAD if key == "overhead_us" else _RATES
        if value is not None and not _in_range(value, bounds):
            raise UsageError(f"{where}: {key} must be a number from {bounds[0]:g} to {bounds[1]:g}")
        numbers[key] = None if value is None else float(value)
    return HardwareSpec(
        str(data.get("name", Path(where).stem)),
        str(data.get("source", where)),
        peaks,
        numbers["bandwidth_gbs"],
        rates("attainable_tflops"),
        numbers["attainable_bandwidth_gbs"],
        numbers["overhead_us"] or 0.0,
        str(data.get("notes", "")),
    )


def get_spec(name: str) -> HardwareSpec:
    """A built-in chip by name, or a TOML file's spec."""
    key = _ALIASES.get(name.lower(), name.lower())
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
    lines += [f"overhead_us = {spec.overhead_us:g}", f"notes = {text(spec.notes)}", "", "[peak_tflops]"]
    lines += [f"{k} = {v:g}" for k, v in spec.peak_tflops.items()]
    if spec.attainable_tflops:
        lines += ["", "[attainable_tflops]"] + [f"{k} = {v:g}" for k, v in spec.attainable_tflops.items()]
    return "\n".join(lines) + "\n"
