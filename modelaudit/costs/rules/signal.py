"""Signal processing: DFT and STFT at the radix-2 FFT count 5·L·log2(L), and window generators."""

from __future__ import annotations

import math

from modelaudit.costs.cost import Cost, NodeContext, Unresolved

from . import rule

__all__ = ["fft_flops"]


def fft_flops(length: int) -> int:
    """5·L·log2(L): the classic operation count of a complex radix-2 FFT of length L."""
    return 0 if length < 2 else math.ceil(5 * length * math.log2(length))


def _value(ctx: NodeContext, i: int) -> int | None:
    value = ctx.values[i] if ctx.has_input(i) and i < len(ctx.values) else None
    if value is None or value.dtype == object:
        return None
    return int(value.reshape(-1)[0])


@rule("DFT", category="signal", macs="0", flops="transforms · 5·L·log2(L)  (L = dft_length or the axis size)")
def dft(ctx: NodeContext) -> Cost:
    """signal [..., n, 1 or 2] (real or complex), transformed along `axis`."""
    x = ctx.in_dims(0)
    axis = ctx.attr("axis", 1) if ctx.opset < 20 else (_value(ctx, 2) if ctx.has_input(2) else -2)
    if axis is None:
        raise Unresolved(ctx.node.input[2], None)  # the axis is a run-time value
    axis = axis % len(x)
    length = _value(ctx, 1) or x[axis]
    transforms = math.prod(x[:-1]) // x[axis]
    flops = transforms * fft_flops(length)
    return Cost(flops=flops, formula=f"{transforms}*fft({length})")


@rule("STFT", category="signal", macs="0", flops="B·frames·(5·L·log2(L) + L window multiplies)")
def stft(ctx: NodeContext) -> Cost:
    """signal [B, N, 1 or 2], frame_step, window [L], frame_length → [B, frames, bins, 2]."""
    y = ctx.out_dims(0)
    batch, frames = y[0], y[1]
    length = _value(ctx, 3) or (ctx.in_dims(2)[0] if ctx.has_input(2) else None)
    if length is None:
        length = 2 * (y[2] - 1) if ctx.attr("onesided", 1) else y[2]
    flops = batch * frames * (fft_flops(length) + (length if ctx.has_input(2) else 0))
    return Cost(flops=flops, formula=f"{batch}*{frames}*(fft({length}) + window)")


def _window(op: str, each: int, definition: str) -> None:
    @rule(op, category="signal", macs="0", flops=f"{each}·|Y|  ({definition})")
    def cost(ctx: NodeContext) -> Cost:
        """A window generator: a few cosines per sample."""
        n = ctx.out_numel(0)
        return Cost(flops=each * n, formula=f"{each}*{n}")


_window("HannWindow", 5, "0.5 − 0.5·cos(2πn/N)")
_window("HammingWindow", 5, "α − β·cos(2πn/N)")
_window("BlackmanWindow", 9, "0.42 − 0.5·cos(2πn/N) + 0.08·cos(4πn/N)")
_window("MelWeightMatrix", 4, "compare to the band edges, subtract, divide, select")
