"""Freed heap memory handed back to the system after onnx's C++ passes (glibc's malloc_trim)."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import sys
from collections.abc import Callable

__all__ = ["release"]


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """libc's malloc_trim, looked up once; None where there is none (macOS, musl)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        trim = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


def release() -> None:
    """onnx.checker and onnx's shape inference build the whole model as C++ objects (their size:
    docs/performance.md) and free them on return; glibc keeps that memory mapped, so the report
    built next grows the process past it instead of into it. malloc_trim(0) returns it (as
    dask.distributed trims its workers). A no-op where libc has no malloc_trim."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
