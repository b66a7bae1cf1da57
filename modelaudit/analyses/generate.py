"""--generate PROMPT:NEW: a whole generation, the prefill of PROMPT tokens and every decode step until
NEW tokens are out, summed exactly; with a chip, the time to first token, the time per output token,
the end-to-end time bound and tokens/s.

Convention (Hugging Face's generate): the prefill yields the first output token, and NEW − 1 decode
steps yield the rest, step k (k = 0 … NEW − 2) with PROMPT + k tokens cached. A decode step's costs
are affine in its cached length, so the steps are audited at the first and last (and, to check the
line, the middle) cached length and summed in closed form; a cost that is not a line is audited at
every step (up to MAX_STEPS of them) or reported unknown."""

from __future__ import annotations

from modelaudit.errors import UsageError
from modelaudit.figures import Figure
from modelaudit.shapes.dimexpr import MAX_DIM

from .generation import SUMMED, Run, open_run, phase
from .pricing import Pricing
from .steps import StepSeries

__all__ = ["generate", "parse_generate", "CONVENTION", "MAX_STEPS"]

MAX_STEPS = 256  # decode steps audited one by one when a cost is not affine in the cached length
CONVENTION = (
    "the prefill yields the first output token; the other {n} come from decode steps with {first}…{last} tokens "
    "cached (Hugging Face's count; LLM-Viewer's analyze_generate_task runs one decode step more)"
)


def parse_generate(spec: str) -> tuple[int, int]:
    """`512:128` -> (512, 128)."""
    prompt, sep, new = spec.partition(":")
    if not sep or not prompt.strip().isdigit() or not new.strip().isdigit():
        raise UsageError(f"--generate {spec!r}: expected PROMPT:NEW token counts, e.g. --generate 512:128")
    p, n = int(prompt), int(new)
    if p < 1 or n < 1:
        raise UsageError(f"--generate {spec!r}: the prompt and the new tokens are at least 1 each")
    if p + n >= MAX_DIM:
        raise UsageError(f"--generate {spec!r}: the prompt and the new tokens add up to at most {MAX_DIM - 1:,}")
    return p, n


def generate(
    source,
    prompt: int,
    new: int,
    inputs: dict | None = None,
    dims: dict | None = None,
    pricing: Pricing | None = None,
    spec=None,
) -> dict:
    """The whole generation's costs (and, with a chip's `spec`, its time bounds and memory fit)."""
    run = open_run(source, inputs, dims, pricing, "--generate")
    if not run.layout.seq_dim:
        raise UsageError(
            "--generate: this export takes a fixed number of new tokens (a decode-only, 'with past' export): "
            "it cannot run the prefill",
            "cost its decode steps with --decode, or export the decoder with a dynamic sequence length",
        )
    steps = new - 1
    series = StepSeries(run, prompt, steps, MAX_STEPS)
    prefill = phase(run, prompt, 0, f"prefill of {prompt:,}", series.per_token)
    decode = series.totals()
    result = {
        "prompt": prompt,
        "new_tokens": new,
        "batch": run.batch,
        "layout": run.layout.as_dict(),
        "pricing": run.pricing.as_dict(),
        "convention": CONVENTION.format(n=steps, first=f"{prompt:,}", last=f"{prompt + steps - 1:,}")
        if steps
        else "the prefill yields the only output token: no decode step",
        "prefill": prefill,
        "decode_steps": steps,
        "decode_first": series.first,
        "decode_last": series.last,
        "decode_totals": decode,
        "totals": {k: prefill["totals"][k] + decode.get(k, Figure.exact(0)) for k in SUMMED},
        "kv_cache_bytes_per_token": prefill["kv_cache_bytes_per_token"],
        "kv_cache_bytes": _cache_at(prefill, prompt + steps),
    }
    if spec is not None:
        result["roofline"] = series.roofline(prefill, spec, run.batch)
        t = prefill["roofline"]["as_written"]
        kind = "attainable" if t["dtype"] in spec.attainable_tflops else "datasheet"
        result["hardware"] = {
            "name": spec.name,
            "rate": f"{t['peak_flops_per_s'] / 1e12:.4g} TFLOP/s {t['dtype']} ({kind}), "
            f"{spec.bytes_per_s / 1e9:,.4g} GB/s",
            "overhead_us": spec.overhead_us,
            "spec": spec.as_dict(),
        }
        result["memory"] = _memory(run, spec, prompt, steps, prefill, series)
    return result


def _cache_at(step: dict, tokens: int) -> int | None:
    per_token = step["kv_cache_bytes_per_token"]
    return None if per_token is None else per_token * tokens


def _memory(run: Run, spec, prompt: int, steps: int, prefill: dict, series: StepSeries) -> dict:
    """The fit at the generation's longest context (prompt + new − 1 tokens cached after its last
    step); the longest context that fits keeps the prompt and grows the output."""
    from dataclasses import replace

    from .memfit import memory_fit

    context = prompt + steps

    def steps_at(length: int, batch: int) -> list[dict]:
        other = replace(run, batch=batch)
        first = phase(other, prompt, 0, f"prefill of {prompt:,}, batch {batch:,}")
        if length <= prompt:
            return [first]
        return [first, phase(other, 1, length - 1, f"decode with {length - 1:,} cached, batch {batch:,}")]

    measured = [prefill] + ([series.last] if series.last is not None else [])
    return memory_fit(run, spec.memory_bytes, context, measured, steps_at) | {"chip": spec.name}
