"""The chips the roofline knows by name: their rates, bandwidth, memory and per-node overhead, each
from a datasheet that the spec names (dense rates: a sparse datasheet figure is halved)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

__all__ = ["HardwareSpec", "BUILTIN", "ALIASES", "RATE_KEYS", "dtype_key", "GIB"]

GIB = 2**30
# the keys of [peak_tflops] and [attainable_tflops]; an int4/fp4 op on a chip without that rate runs
# at the next wider one's
RATE_KEYS = ("fp64", "fp32", "tf32", "fp16", "bf16", "fp8", "int8", "fp4", "int4")
_FALLBACK = {"int4": "int8", "fp4": "fp8", "fp8": "fp16"}


@dataclass
class HardwareSpec:
    """Peaks in TFLOP/s (TOPS for int8) per dtype, dense; bandwidth in GB/s (10⁹ bytes/s); a fixed
    cost per node launched (kernel launch and dispatch), in µs; the memory the chip holds, in GiB
    (memory is sized in binary units: an "80 GB" H100 holds 80 GiB), None where unknown.
    `attainable_*` are measured figures a real kernel reaches; the roofline uses them where known,
    else the datasheet's."""

    name: str
    source: str
    peak_tflops: dict[str, float]
    bandwidth_gbs: float
    attainable_tflops: dict[str, float] = field(default_factory=dict)
    attainable_bandwidth_gbs: float | None = None
    overhead_us: float = 0.0
    notes: str = ""
    memory_gib: float | None = None
    # a node that moves at most cache_kib KiB may stream them from cache at cache_bandwidth_gbs (a CPU's
    # L2, measured by --hardware calibrate); None: every node streams from memory
    cache_bandwidth_gbs: float | None = None
    cache_kib: float | None = None

    def flops_per_s(self, dtype: str) -> tuple[float, str]:
        """(FLOP/s, the dtype whose peak it is): a dtype the chip has no rate for runs at the next
        wider one's (int4 at int8's, fp4 at fp8's, fp8 at fp16's), else at fp32's."""
        key = dtype_key(dtype)
        while key != "fp32" and key not in self.peak_tflops and key not in self.attainable_tflops:
            key = _FALLBACK.get(key, "fp32")
        return 1e12 * self.attainable_tflops.get(key, self.peak_tflops.get(key, 0.0)), key

    @property
    def bytes_per_s(self) -> float:
        return 1e9 * (self.attainable_bandwidth_gbs or self.bandwidth_gbs)

    def rate_for(self, moved: int) -> float:
        """Bytes/s for a node that moves `moved` bytes: the cache's rate if they fit in it."""
        if self.cache_bandwidth_gbs and self.cache_kib and moved <= self.cache_kib * 1024:
            return 1e9 * self.cache_bandwidth_gbs
        return self.bytes_per_s

    @property
    def memory_bytes(self) -> int | None:
        return None if self.memory_gib is None else int(self.memory_gib * GIB)

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
    "int4": "int4",
    "uint4": "int4",
    "float4e2m1": "fp4",
    "float64": "fp64",
    "double": "fp64",
}


def dtype_key(dtype: str) -> str:
    """An ONNX dtype name as the spec's key: float16 -> fp16, uint8 -> int8 …; anything else (int64
    index arithmetic, bool) is fp32's."""
    return _DTYPES.get(dtype, dtype if dtype in RATE_KEYS else "fp32")


_GPU = 5.0  # µs per kernel: launch plus runtime dispatch, a few µs on current GPUs
_SPARSE = "sparse: ×2 on tf32/bf16/fp16/fp8/int8 with 2:4 structured sparsity"

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
            _GPU,
            _SPARSE,
            80,
        ),
        HardwareSpec(
            "h200",
            "NVIDIA H200 Tensor Core GPU datasheet (H200 SXM 141GB HBM3e, 4.8 TB/s); dense rates (the "
            "datasheet's tensor figures are with sparsity, halved here)",
            {"fp64": 67, "fp32": 67, "tf32": 494.5, "bf16": 989.5, "fp16": 989.5, "fp8": 1979, "int8": 1979},
            4800,
            overhead_us=_GPU,
            notes=_SPARSE + "; the H100's compute with more and faster memory",
            memory_gib=141,
        ),
        HardwareSpec(
            "b200",
            "NVIDIA HGX B200 specifications, per GPU at 1,000 W (180 GB HBM3e, 7.7 TB/s); dense rates "
            "(the tensor figures are with sparsity, halved here: fp4 18, fp8 9, bf16 4.5, tf32 2.2 PFLOP/s)",
            {"fp64": 40, "fp32": 80, "tf32": 1100, "bf16": 2250, "fp16": 2250, "fp8": 4500, "int8": 4500, "fp4": 9000},
            7700,
            overhead_us=_GPU,
            notes=_SPARSE + " and fp4",
            memory_gib=180,
        ),
        HardwareSpec(
            "a100",
            "NVIDIA A100 Tensor Core GPU datasheet (A100 SXM4 80GB HBM2e); dense rates",
            {"fp64": 19.5, "fp32": 19.5, "tf32": 156, "bf16": 312, "fp16": 312, "int8": 624, "int4": 1248},
            2039,
            overhead_us=_GPU,
            notes="sparse: ×2 on tf32/bf16/fp16/int8/int4 with 2:4 structured sparsity",
            memory_gib=80,
        ),
        HardwareSpec(
            "l40s",
            "NVIDIA L40S GPU datasheet (48 GB GDDR6 with ECC, 864 GB/s); dense rates (the datasheet's "
            "tensor figures are with sparsity, halved here)",
            {"fp32": 91.6, "tf32": 183, "bf16": 362.05, "fp16": 362.05, "fp8": 733, "int8": 733},
            864,
            overhead_us=_GPU,
            notes=_SPARSE,
            memory_gib=48,
        ),
        HardwareSpec(
            "l4",
            "NVIDIA L4 Tensor Core GPU datasheet (24 GB GDDR6); dense rates (the datasheet's tensor figures are "
            "with sparsity, halved here)",
            {"fp32": 30.3, "tf32": 60, "bf16": 121, "fp16": 121, "fp8": 242.5, "int8": 242.5},
            300,
            overhead_us=_GPU,
            notes="sparse: ×2 on tf32/bf16/fp16/fp8/int8",
            memory_gib=24,
        ),
        HardwareSpec(
            "a10g",
            "AWS A10G (EC2 G5; NVIDIA publishes no A10G datasheet): 24 GB GDDR6, 600 GB/s, 35 FP32 TFLOPS, "
            "tensor rates half the A10's per clock (70 fp16/bf16, 140 int8, dense), as Baseten's 'NVIDIA A10 vs "
            "A10G for ML model inference' tabulates them",
            {"fp32": 35, "tf32": 35, "bf16": 70, "fp16": 70, "int8": 140},
            600,
            overhead_us=_GPU,
            notes="dense; sparse: ×2 on tf32/bf16/fp16/int8",
            memory_gib=24,
        ),
        HardwareSpec(
            "t4",
            "NVIDIA T4 Tensor Core GPU datasheet (16 GB GDDR6); dense (Turing has no structured sparsity)",
            {"fp32": 8.1, "fp16": 65, "int8": 130, "int4": 260},
            320,
            overhead_us=_GPU,
            notes="fp16 is mixed precision (fp32 accumulate); no bf16: bf16 falls back to the fp32 rate",
            memory_gib=16,
        ),
        HardwareSpec(
            "v100",
            "NVIDIA Tesla V100 GPU datasheet (V100 SXM2 32GB HBM2, 900 GB/s): 15.7 FP32 TFLOPS, 125 tensor "
            "TFLOPS (fp16 inputs, fp32 accumulate); dense (Volta has no structured sparsity)",
            {"fp64": 7.8, "fp32": 15.7, "fp16": 125, "int8": 62.8},
            900,
            overhead_us=_GPU,
            notes="dense; no bf16 (bf16 falls back to the fp32 rate); int8 is DP4A on the CUDA cores (4 × fp32): "
            "Volta's tensor cores take no int8; the 16 GB part holds half the memory",
            memory_gib=32,
        ),
        HardwareSpec(
            "mi300x",
            "AMD Instinct MI300X data sheet (192 GB HBM3, 5.3 TB/s); dense rates (the data sheet's "
            "sparse figures are twice these)",
            {"fp64": 81.7, "fp32": 163.4, "tf32": 653.7, "bf16": 1307.4, "fp16": 1307.4, "fp8": 2614.9, "int8": 2614.9},
            5300,
            overhead_us=_GPU,
            notes="sparse: ×2 on tf32/bf16/fp16/fp8/int8",
            memory_gib=192,
        ),
        HardwareSpec(
            "rtx4090",
            "NVIDIA Ada Lovelace GPU architecture whitepaper (GeForce RTX 4090, 24 GB GDDR6X); dense, tensor "
            "rates with fp32 accumulate",
            {"fp32": 82.6, "tf32": 82.6, "bf16": 165.2, "fp16": 165.2, "int8": 660.6},
            1008,
            overhead_us=_GPU,
            notes="sparse: ×2; fp16 with fp16 accumulate is 330.3",
            memory_gib=24,
        ),
        HardwareSpec(
            "jetson-orin",
            "NVIDIA Jetson AGX Orin 64GB module datasheet: GPU 170 INT8 TOPS with sparsity "
            "(85 dense), 5.3 FP32 TFLOPS (CUDA cores), 64 GB LPDDR5 at 204.8 GB/s shared with the CPU; fp16 dense "
            "taken as half the int8 dense rate",
            {"fp32": 5.3, "fp16": 42.5, "int8": 85},
            204.8,
            overhead_us=10.0,
            notes="GPU only (the two DLAs add 105 sparse INT8 TOPS); sparse: ×2; the 64 GB are the CPU's too",
            memory_gib=64,
        ),
        HardwareSpec(
            "apple-m2",
            "Apple M2 announcement (June 2022): 10-core GPU 3.6 TFLOPS, 100 GB/s unified memory of up to "
            "24 GB, Neural Engine 15.8 TOPS",
            {"fp32": 3.6, "fp16": 3.6},
            100,
            overhead_us=10.0,
            notes="GPU only: the Neural Engine (15.8 TOPS) is reached through Core ML, not these rates; dense; "
            "memory: the 24 GB configuration (8 and 16 GB parts hold less), shared with the system",
            memory_gib=24,
        ),
        HardwareSpec(
            "cpu-avx2",
            "generic AVX2 desktop CPU: 8 cores × 3.0 GHz × 32 fp32 FLOP/cycle (two 256-bit FMA "
            "units, Intel optimization manual), dual-channel DDR4-3200 (2 × 25.6 GB/s), 2 × 16 GB DIMMs",
            {"fp32": 0.768},
            51.2,
            overhead_us=1.0,
            notes="dense; scale to your part, or measure it with --hardware calibrate",
            memory_gib=32,
        ),
        HardwareSpec(
            "cpu-avx512",
            "generic AVX-512 server CPU: 16 cores × 2.5 GHz × 64 fp32 FLOP/cycle (two 512-bit FMA "
            "units), int8 ×4 with VNNI (VPDPBUSD), eight-channel DDR4-3200 (8 × 25.6 GB/s), 8 × 32 GB DIMMs",
            {"fp32": 2.56, "int8": 10.24},
            204.8,
            overhead_us=1.0,
            notes="dense; scale to your part, or measure it with --hardware calibrate",
            memory_gib=256,
        ),
    ]
}
ALIASES = {
    "h100": "h100-sxm",
    "h200-sxm": "h200",
    "b200-hgx": "b200",
    "a100-sxm": "a100",
    "v100-sxm2": "v100",
    "4090": "rtx4090",
    "orin": "jetson-orin",
    "m2": "apple-m2",
    "avx2": "cpu-avx2",
    "avx512": "cpu-avx512",
}
