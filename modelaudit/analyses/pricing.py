"""--weight-dtype and --kv-dtype: what the bytes would be with the weights or the KV cache stored in
another dtype, without a re-export. MACs and FLOPs do not change; bytes and the compute rate do."""

from __future__ import annotations

from dataclasses import dataclass

from modelaudit.errors import UsageError

__all__ = ["Pricing", "DTYPES", "BLOCK", "priced_bytes", "parse_dtype"]

# bits per value; int4 carries one float16 scale per BLOCK values besides (4.5 bits a value at 32),
# as MatMulNBits, AWQ/GPTQ and GGUF's Q4_0 store it; int8 and fp8 scales (one per channel or
# tensor) are too few to count
DTYPES = {"fp32": 32, "fp16": 16, "bf16": 16, "fp8": 8, "int8": 8, "int4": 4}
BLOCK = 32
_ONNX = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16", "fp8": "float8e4m3fn", "int8": "int8"}
_FLOATS = ("float32", "float16", "bfloat16", "float64", "float")


def parse_dtype(text: str, flag: str) -> str:
    key = text.strip().lower()
    if key not in DTYPES:
        raise UsageError(f"{flag} {text!r}: expected one of {', '.join(DTYPES)}")
    return key


def priced_bytes(numel: int, dtype: str) -> int:
    """Bytes of `numel` values stored as `dtype` (a key of DTYPES), int4's block scales included."""
    bits = numel * DTYPES[dtype]
    scales = 2 * -(-numel // BLOCK) if dtype == "int4" else 0
    return -(-bits // 8) + scales


@dataclass(frozen=True)
class Pricing:
    """The dtypes to price the weights and the cache in (None: as the file stores them)."""

    weight_dtype: str | None = None
    kv_dtype: str | None = None

    @property
    def any(self) -> bool:
        return self.weight_dtype is not None or self.kv_dtype is not None

    def weight(self, numel: int, dtype: str, rank: int) -> int | None:
        """A weight's bytes at --weight-dtype: float matrices (rank ≥ 2: linear and conv kernels,
        embedding tables) only; a norm's scale or a bias, and weights already stored as integers,
        keep their bytes (None)."""
        if self.weight_dtype is None or rank < 2 or dtype not in _FLOATS:
            return None
        return priced_bytes(numel, self.weight_dtype)

    def cache(self, numel: int) -> int | None:
        """A cache tensor's bytes at --kv-dtype (None: as stored)."""
        return None if self.kv_dtype is None else priced_bytes(numel, self.kv_dtype)

    def compute_dtype(self, dtype: str, reads_priced_weight: bool) -> str:
        """The dtype whose rate a row runs at: a matmul over re-priced weights at theirs (fp16, bf16,
        fp8, int8: the activations converted as well), except int4, which kernels dequantize to the
        activations' dtype (W4A16); every other row at its own."""
        if not reads_priced_weight or self.weight_dtype in (None, "int4"):
            return dtype
        return _ONNX[self.weight_dtype]

    def as_dict(self) -> dict:
        return {"weight_dtype": self.weight_dtype, "kv_dtype": self.kv_dtype, "int4_block": BLOCK}
