"""An encoder–decoder's generation from an optimum export folder (T5, BART, Whisper…):
encoder_model.onnx runs once over the SOURCE tokens (or frames), decoder_model.onnx runs the first
step (the decoder's start token: it makes the self-attention cache and the cross-attention one, the
encoder's keys and values), and decoder_with_past_model.onnx each of the NEW − 1 later steps, which
reads both caches and grows the self-attention one by a token. Step k (k = 1 … NEW − 1) has k tokens
in its self-attention cache; the steps are summed as a decoder's are (steps.py)."""

from __future__ import annotations

from pathlib import Path

from modelaudit.errors import UsageError
from modelaudit.figures import Figure

from .generation import SUMMED, Run, phase
from .kvcache import CacheLayout, _dims, find_cache
from .pricing import Pricing
from .steps import StepSeries

__all__ = ["FILES", "is_encdec_folder", "encdec_generate"]

FILES = ("encoder_model.onnx", "decoder_model.onnx", "decoder_with_past_model.onnx")
MAX_STEPS = 256


def is_encdec_folder(path: str) -> bool:
    folder = Path(path)
    return folder.is_dir() and all((folder / f).is_file() for f in FILES)


def _read(path: Path):
    from modelaudit.load.reader import read_model_light

    return read_model_light(path).model


def _inputs(model) -> list:
    init = {t.name for t in model.graph.initializer}
    return [vi for vi in model.graph.input if vi.name not in init]


def _plain_run(model, batch_dim: str | None, seq_dim: str | None, batch: int, dims: dict, pricing) -> Run:
    """A Run for a model without a cache (the encoder, the first decoder step)."""
    layout = CacheLayout([], "\0no cache", seq_dim, batch_dim)
    return Run(model, layout, batch, {}, dims, pricing, "--generate")


def _priced(shape, stored: int | None, pricing: Pricing) -> int | None:
    """A cache tensor's bytes at --kv-dtype, from its shape (as stored without one)."""
    import math

    if pricing.kv_dtype is None or shape is None or not all(isinstance(d, int) for d in shape):
        return stored
    return pricing.cache(math.prod(shape))


def _decoder_dims(first, layout: CacheLayout, dims: dict, encoded: int) -> dict:
    """The decoders' dims: the cross-attention cache's length and the encoder's states' (as the
    first step names them) are the encoder's output length."""
    if layout.cross_dim:
        dims[layout.cross_dim] = encoded
    for vi in _inputs(first):
        sym = _symbol(vi, 1)
        if sym and sym not in dims and "hidden" in vi.name:
            dims[sym] = encoded
    return dims


def _symbol(vi, axis: int) -> str | None:
    shape = _dims(vi)
    return shape[axis] if axis < len(shape) and isinstance(shape[axis], str) else None


def encdec_generate(folder: str, source: int, new: int, dims: dict | None, pricing: Pricing | None, spec=None) -> dict:
    """The whole generation: the encoder, the first decoder step, every later one (summed), the
    cross-attention cache counted where it is made (the first step writes it) and read (every step)."""
    root = Path(folder)
    pricing = pricing or Pricing()
    dims = dict(dims or {})
    encoder, first, later = (_read(root / f) for f in FILES)
    enc_in = _inputs(encoder)[0]
    batch_dim = _symbol(enc_in, 0)
    batch = dims.pop(batch_dim, 1) if batch_dim else 1
    length = next((d for d in _dims(enc_in)[1:] if isinstance(d, str)), None)
    if length is None:
        raise UsageError(f"--generate: {FILES[0]}'s input {enc_in.name} has no symbolic length to set to {source}")
    enc = phase(_plain_run(encoder, batch_dim, length, batch, dims, pricing), source, 0, f"encoder over {source:,}")
    out_shape = next(iter(enc["output_shapes"].values()))
    if not out_shape or not isinstance(out_shape[1], int):
        raise UsageError(f"--generate: {FILES[0]}'s output length at {source:,} source tokens is unknown")
    encoded = out_shape[1]
    layout = find_cache(later, cross=True)
    shared = _decoder_dims(first, layout, {**dims, length: source}, encoded)
    ids = _symbol(_inputs(first)[0], 1)
    start = phase(_plain_run(first, batch_dim, ids, batch, shared, pricing), 1, 0, "first decoder step")
    presents = [
        _priced(start["output_shapes"][o], b, pricing)
        for o, b in start["output_sizes"].items()
        if o.startswith("present")
    ]
    if presents:  # the first step writes the self-attention cache's first token and the cross-attention cache
        known = [b for b in presents if b is not None]
        start["totals"]["kv_written_bytes"] = (
            Figure.exact(sum(known)) if len(known) == len(presents) else Figure.unknown()
        )
    run = Run(later, layout, batch, {}, shared, pricing, "--generate")
    series = StepSeries(run, 1, new - 1, MAX_STEPS)
    decode = series.totals()
    result = {
        "kind": "encoder-decoder",
        "prompt": source,
        "new_tokens": new,
        "batch": batch,
        "layout": layout.as_dict(),
        "pricing": pricing.as_dict(),
        "convention": (
            f"the encoder runs once over {source:,} source positions ({encoded:,} out); the first decoder step "
            f"(decoder_model.onnx) yields the first token and writes both caches; {new - 1:,} later steps "
            f"(decoder_with_past_model.onnx) with 1…{new - 1:,} tokens in the self-attention cache yield the rest"
            if new > 1
            else f"the encoder runs once over {source:,} source positions; the first decoder step yields the token"
        ),
        "encoder": enc,
        "prefill": start,
        "decode_steps": new - 1,
        "decode_first": series.first,
        "decode_last": series.last,
        "decode_totals": decode,
        "totals": {k: enc["totals"][k] + start["totals"][k] + decode.get(k, Figure.exact(0)) for k in SUMMED},
        "kv_cache_bytes_per_token": series.per_token,
        "kv_cache_bytes": None if series.per_token is None else series.per_token * new,
        "cross_kv_cache_bytes": series.first["cross_kv_bytes"] if series.first else None,
    }
    if spec is not None:
        _timing(result, series, enc, start, spec)
        result["memory"] = _memory(result, spec)
    return result


def _memory(result: dict, spec) -> dict:
    """The weights of the encoder and the decoder (once: a merged decoder holds them once; the two
    decoder files loaded side by side hold them twice), both caches at the last step, and the peak
    of the activations of the step that holds most."""
    steps = [s for s in (result["encoder"], result["prefill"], result["decode_last"]) if s is not None]
    weights = result["encoder"]["weights_bytes"] + (result["decode_last"] or result["prefill"])["weights_bytes"]
    self_kv, cross_kv = result["kv_cache_bytes"], result["cross_kv_cache_bytes"]
    kv = Figure.unknown() if None in (self_kv, cross_kv) else Figure.exact(self_kv + cross_kv)
    act = Figure.largest(*(s["activation_peak_bytes"] for s in steps))
    need = Figure.exact(weights) + kv + act
    capacity = spec.memory_bytes
    fits = None
    if capacity is not None:
        fits = True if need.provably_at_most(capacity) else (False if need.provably_above(capacity) else None)
    return {
        "chip": spec.name,
        "capacity_bytes": capacity,
        "weights_bytes": weights,
        "kv_cache_bytes": kv.value,
        "activation_peak_bytes": act,
        "step": "encoder–decoder",
        "need_bytes": need,
        "context": result["new_tokens"],
        "batch": result["batch"],
        "fits": fits,
    }


def _timing(result: dict, series: StepSeries, enc: dict, start: dict, spec) -> None:
    """Time to first token: the encoder and the first decoder step; then the later steps."""
    from .roofline import ACCOUNTINGS, rate, step_roofline

    timed = series.roofline(start, spec, result["batch"])
    encoder = step_roofline(enc, spec)
    for acc in ACCOUNTINGS:
        t = timed[acc]
        t["encoder_ms"] = encoder[acc]["time_ms"]
        t["ttft_ms"] = encoder[acc]["time_ms"] + t["ttft_ms"]
        t["e2e_ms"] = t["ttft_ms"] + t["decode_ms"]
        t["tokens_per_s"] = rate(t["e2e_ms"], result["batch"] * result["new_tokens"])
    result["roofline"] = timed
    w = start["roofline"]["as_written"]
    kind = "attainable" if w["dtype"] in spec.attainable_tflops else "datasheet"
    result["hardware"] = {
        "name": spec.name,
        "rate": f"{w['peak_flops_per_s'] / 1e12:.4g} TFLOP/s {w['dtype']} ({kind}), {spec.bytes_per_s / 1e9:,.4g} GB/s",
        "overhead_us": spec.overhead_us,
        "spec": spec.as_dict(),
    }
