"""Freed heap memory handed back to the system after onnx's C++ passes (glibc's malloc_trim)."""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from collections.abc import Callable

__all__ = ["release"]

_Trim = Callable[[int], int]
_trim: _Trim | bool | None = None  # libc's malloc_trim, found on first use; False where there is none


def release() -> None:
    """onnx.checker and onnx's shape inference build the whole model as C++ objects (their size:
    docs/performance.md) and free them on return; glibc keeps that memory mapped, so the report
    built next grows the process past it instead of into it. malloc_trim(0) returns it (as
    dask.distributed trims its workers). A no-op where libc has no malloc_trim (macOS, musl)."""
    global _trim
    if _trim is None:
        _trim = False
        if sys.platform.startswith("linux"):
            try:
                libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
                found = libc.malloc_trim
                found.argtypes, found.restype = [ctypes.c_size_t], ctypes.c_int
                _trim = found
            except (OSError, AttributeError):
                _trim = False
    if callable(_trim):
        _trim(0)
