"""ONNX element types: readable names and storage sizes in bits."""

from __future__ import annotations

from onnx import TensorProto

__all__ = ["dtype_name", "dtype_bits", "tensor_bytes", "is_float", "is_integer"]

_T = TensorProto
_BITS: dict[int, int] = {
    _T.FLOAT: 32,
    _T.UINT8: 8,
    _T.INT8: 8,
    _T.UINT16: 16,
    _T.INT16: 16,
    _T.INT32: 32,
    _T.INT64: 64,
    _T.BOOL: 8,
    _T.FLOAT16: 16,
    _T.DOUBLE: 64,
    _T.UINT32: 32,
    _T.UINT64: 64,
    _T.COMPLEX64: 64,
    _T.COMPLEX128: 128,
    _T.BFLOAT16: 16,
    _T.STRING: 0,
}
_OPTIONAL_BITS = {
    "FLOAT8E4M3FN": 8,
    "FLOAT8E4M3FNUZ": 8,
    "FLOAT8E5M2": 8,
    "FLOAT8E5M2FNUZ": 8,
    "FLOAT8E8M0": 8,
    "UINT4": 4,
    "INT4": 4,
    "FLOAT4E2M1": 4,
    "UINT2": 2,
    "INT2": 2,
}
for _name, _bits in _OPTIONAL_BITS.items():  # newer onnx releases add these; older lack some
    if hasattr(_T, _name):
        _BITS[getattr(_T, _name)] = _bits

_FLOATS = {_T.FLOAT, _T.FLOAT16, _T.DOUBLE, _T.BFLOAT16} | {
    getattr(_T, n) for n in _OPTIONAL_BITS if n.startswith("FLOAT") and hasattr(_T, n)
}
_INTEGERS = {_T.UINT8, _T.INT8, _T.UINT16, _T.INT16, _T.INT32, _T.INT64, _T.UINT32, _T.UINT64} | {
    getattr(_T, n) for n in ("UINT4", "INT4", "UINT2", "INT2") if hasattr(_T, n)
}
_SHORT = {"FLOAT": "float32", "DOUBLE": "float64", "FLOAT16": "float16"}


def dtype_name(dtype: int) -> str:
    """`float32`, `int8`, `bfloat16`… for an ONNX element type; `type<N>` when unknown."""
    try:
        name = _T.DataType.Name(dtype)
    except ValueError:
        return f"type{dtype}"
    return _SHORT.get(name, name.lower())


def dtype_bits(dtype: int) -> int | None:
    """Storage bits of one element, or None for an unknown or variable-size type."""
    bits = _BITS.get(dtype)
    return bits or None


def tensor_bytes(numel: int, dtype: int) -> int | None:
    """Bytes of `numel` packed elements (sub-byte types round up), None if unknown."""
    bits = dtype_bits(dtype)
    if bits is None:
        return None
    return (numel * bits + 7) // 8


def is_float(dtype: int) -> bool:
    return dtype in _FLOATS


def is_integer(dtype: int) -> bool:
    return dtype in _INTEGERS
