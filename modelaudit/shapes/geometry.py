"""Output sizes of convolution and pooling windows: floor((W − K_eff + P_begin + P_end) / S) + 1."""

from __future__ import annotations

import math

__all__ = ["effective_kernel", "window_output", "auto_pads", "resolve_pads", "transposed_output", "matmul_dims"]


def effective_kernel(kernel: int, dilation: int = 1) -> int:
    """K_eff = D·(K−1)+1: the span a dilated kernel covers."""
    return dilation * (kernel - 1) + 1


def window_output(size: int, kernel: int, stride: int = 1, pad_begin: int = 0, pad_end: int = 0,
                  dilation: int = 1, ceil_mode: bool = False) -> int:
    """Output length of a sliding window along one axis."""
    span = size + pad_begin + pad_end - effective_kernel(kernel, dilation)
    if ceil_mode:
        out = -(-span // stride) + 1
        if (out - 1) * stride >= size + pad_begin:  # the last window must start inside the input
            out -= 1
        return out
    return span // stride + 1


def auto_pads(size: int, kernel: int, stride: int, dilation: int, mode: str) -> tuple[int, int]:
    """(begin, end) padding of SAME_UPPER / SAME_LOWER: output = ceil(input / stride)."""
    total = max((math.ceil(size / stride) - 1) * stride + effective_kernel(kernel, dilation) - size, 0)
    small, large = total // 2, total - total // 2
    return (small, large) if mode == "SAME_UPPER" else (large, small)


def resolve_pads(attrs: dict, spatial: tuple, kernel: tuple, strides: tuple,
                 dilations: tuple) -> list[tuple[int, int]]:
    """Per-axis (begin, end) padding from `pads` or `auto_pad`; needs `spatial` only for SAME_*."""
    rank = len(kernel)
    mode = attrs.get("auto_pad") or "NOTSET"
    if isinstance(mode, bytes):
        mode = mode.decode()
    if mode in ("SAME_UPPER", "SAME_LOWER"):
        return [auto_pads(spatial[i], kernel[i], strides[i], dilations[i], mode) for i in range(rank)]
    if mode == "VALID":
        return [(0, 0)] * rank
    pads = list(attrs.get("pads") or [0] * (2 * rank))
    return [(pads[i], pads[i + rank]) for i in range(rank)]


def transposed_output(size: int, kernel: int, stride: int, pad_begin: int, pad_end: int,
                      dilation: int = 1, output_padding: int = 0) -> int:
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
