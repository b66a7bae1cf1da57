"""Output sizes of convolution and pooling windows: floor((W − K_eff + P_begin + P_end) / S) + 1."""

from __future__ import annotations

import math

__all__ = [
    "WindowError",
    "effective_kernel",
    "window_output",
    "auto_pads",
    "resolve_pads",
    "transposed_output",
    "matmul_dims",
    "window_attrs",
    "window_dims",
    "transposed_dims",
]


class WindowError(ValueError):
    """A window (conv, pool) whose attributes or geometry no runtime accepts: the message gives the
    arithmetic. A ValueError, so the audit turns it into an error row naming the node."""


def effective_kernel(kernel: int, dilation: int = 1) -> int:
    """K_eff = D·(K−1)+1: the span a dilated kernel covers."""
    return dilation * (kernel - 1) + 1


def window_output(
    size: int,
    kernel: int,
    stride: int = 1,
    pad_begin: int = 0,
    pad_end: int = 0,
    dilation: int = 1,
    ceil_mode: bool = False,
) -> int:
    """Output length of a sliding window along one axis."""
    span = size + pad_begin + pad_end - effective_kernel(kernel, dilation)
    if ceil_mode:
        out = -(-span // stride) + 1
        if (out - 1) * stride >= size + pad_begin:  # the last window must start inside the input
            out -= 1
        return out
    return span // stride + 1


def _checked(out: int, axis: int, text: str) -> int:
    if out < 1:  # never a negative or empty figure: it would subtract from the totals
        raise WindowError(f"output size along axis {axis} is {text} = {out} < 1")
    return out


def _ints(attrs: dict, name: str, count: int, default: int, minimum: int | None) -> tuple[int, ...]:
    """An INTS attribute with one integer per axis, each ≥ minimum; its default when absent."""
    value = attrs.get(name)
    if value is None or (isinstance(value, (list, tuple)) and not value):
        return (default,) * count
    if (
        not isinstance(value, (list, tuple))
        or len(value) != count
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        raise WindowError(f"{name} {value!r} is not {count} integer(s)")
    if minimum is not None and min(value) < minimum:
        raise WindowError(f"{name} {list(value)}: each must be at least {minimum}")
    return tuple(value)


def window_attrs(attrs: dict, x: tuple, kernel: tuple) -> tuple[tuple, tuple]:
    """(strides, dilations) of a window over X, checked: X has 2 + len(kernel) dims, the kernel
    and each stride and dilation are at least 1, one of each per spatial axis."""
    rank = len(kernel)
    if len(x) != rank + 2:
        raise WindowError(f"input of rank {len(x)} against a {rank}-d kernel (rank {rank + 2} expected)")
    if rank == 0 or not all(isinstance(k, int) and k >= 1 for k in kernel):
        raise WindowError(f"kernel {list(kernel)}: each size must be at least 1")
    return _ints(attrs, "strides", rank, 1, 1), _ints(attrs, "dilations", rank, 1, 1)


def window_dims(attrs: dict, x: tuple, kernel: tuple, channels: int, ceil_mode: bool = False) -> tuple[int, ...]:
    """Y's dims of a conv or pool window over X [N, C, D1…Dn]; WindowError when an axis has no output."""
    strides, dilations = window_attrs(attrs, x, kernel)
    pads = resolve_pads(attrs, x[2:], kernel, strides, dilations)
    spatial = []
    for i, (size, k, s, d, (pb, pe)) in enumerate(zip(x[2:], kernel, strides, dilations, pads)):
        out = window_output(size, k, s, pb, pe, d, ceil_mode)
        round_ = "ceil" if ceil_mode else "floor"
        spatial.append(_checked(out, i + 2, f"{round_}(({size} + {pb} + {pe} − {effective_kernel(k, d)}) / {s}) + 1"))
    return (x[0], channels, *spatial)


def transposed_dims(attrs: dict, x: tuple, kernel: tuple, channels: int) -> tuple[int, ...]:
    """Y's dims of ConvTranspose over X [N, C, D1…Dn]; WindowError when an axis has no output."""
    strides, dilations = window_attrs(attrs, x, kernel)
    rank = len(kernel)
    shape = attrs.get("output_shape")
    if shape:  # the spatial sizes, possibly preceded by N and C
        tail = list(shape)[-rank:] if isinstance(shape, (list, tuple)) else shape
        return (x[0], channels, *_ints({"output_shape": tail}, "output_shape", rank, 1, 1))
    if str(attrs.get("auto_pad") or "NOTSET") in ("SAME_UPPER", "SAME_LOWER"):
        return (x[0], channels, *(x[2 + i] * strides[i] for i in range(rank)))
    extra = _ints(attrs, "output_padding", rank, 0, 0)
    pads = resolve_pads({"pads": attrs.get("pads")}, x[2:], kernel, strides, dilations)
    spatial = []
    for i in range(rank):
        (pb, pe), k_eff = pads[i], effective_kernel(kernel[i], dilations[i])
        out = transposed_output(x[2 + i], kernel[i], strides[i], pb, pe, dilations[i], extra[i])
        spatial.append(_checked(out, i + 2, f"{strides[i]}·({x[2 + i]} − 1) + {extra[i]} + {k_eff} − {pb} − {pe}"))
    return (x[0], channels, *spatial)


def auto_pads(size: int, kernel: int, stride: int, dilation: int, mode: str) -> tuple[int, int]:
    """(begin, end) padding of SAME_UPPER / SAME_LOWER: output = ceil(input / stride)."""
    total = max((math.ceil(size / stride) - 1) * stride + effective_kernel(kernel, dilation) - size, 0)
    small, large = total // 2, total - total // 2
    return (small, large) if mode == "SAME_UPPER" else (large, small)


def resolve_pads(attrs: dict, spatial: tuple, kernel: tuple, strides: tuple, dilations: tuple) -> list[tuple[int, int]]:
    """Per-axis (begin, end) padding from `pads` or `auto_pad`; needs `spatial` only for SAME_*."""
    rank = len(kernel)
    mode = attrs.get("auto_pad") or "NOTSET"
    if isinstance(mode, bytes):
        mode = mode.decode()
    if mode in ("SAME_UPPER", "SAME_LOWER"):
        return [auto_pads(spatial[i], kernel[i], strides[i], dilations[i], mode) for i in range(rank)]
    if mode == "VALID":
        return [(0, 0)] * rank
    pads = _ints(attrs, "pads", 2 * rank, 0, None)
    return [(pads[i], pads[i + rank]) for i in range(rank)]


def transposed_output(
    size: int, kernel: int, stride: int, pad_begin: int, pad_end: int, dilation: int = 1, output_padding: int = 0
) -> int:
    """ConvTranspose output length: S·(W−1) + output_padding + K_eff − P_begin − P_end."""
    return stride * (size - 1) + output_padding + effective_kernel(kernel, dilation) - pad_begin - pad_end


def matmul_dims(a: tuple, b: tuple) -> tuple[tuple, int, int, int]:
    """(broadcast batch dims, M, K, N) of numpy matmul on shapes a and b; dims may be symbolic."""
    if len(a) == 0 or len(b) == 0:
        raise ValueError("MatMul of a scalar")
    a2 = (1, a[0]) if len(a) == 1 else a
    b2 = (b[0], 1) if len(b) == 1 else b
    batch_a, batch_b = a2[:-2], b2[:-2]
    rank = max(len(batch_a), len(batch_b))
    batch_a = (1,) * (rank - len(batch_a)) + tuple(batch_a)
    batch_b = (1,) * (rank - len(batch_b)) + tuple(batch_b)
    batch = tuple(y if x == 1 else x for x, y in zip(batch_a, batch_b))
    return batch, a2[-2], a2[-1], b2[-1]
