"""The memory fit in words: what the generation holds at once against the chip's memory."""

from __future__ import annotations

from modelaudit.figures import Figure

from .common import human_bytes, safe

__all__ = ["memory_lines"]


def memory_lines(m: dict) -> list[str]:
    """Weights + KV cache + other activations = need, against the capacity; whether it fits, and
    the largest batch and longest context that do."""
    need: Figure = m["need_bytes"]
    head = (
        f"memory at batch {m['batch']:,}, context {m['context']:,}: weights {human_bytes(m['weights_bytes'])} + "
        f"KV cache {human_bytes(m['kv_cache_bytes'])} + the other activations at their peak "
        f"{human_bytes(m['activation_peak_bytes'])} ({_where(m.get('step', 'decode'))}) = "
        f"{human_bytes(need)}"
    )
    capacity = m["capacity_bytes"]
    chip = safe(m.get("chip", "the chip"))
    if capacity is None:
        return [head + f"; {chip} gives no memory capacity (memory_gib in its spec file): no fit is judged"]
    lines = [head + f", on {chip}'s {human_bytes(capacity)}: " + _verdict(m["fits"], need, capacity)]
    decode = (m.get("step_need_bytes") or {}).get("decode")
    if m.get("step") == "prefill" and decode is not None:
        lines[0] += f"; the decode step alone holds {human_bytes(decode)}"
    batch, context = m.get("largest_batch"), m.get("longest_context")
    if batch is not None or context is not None:
        lines.append(
            f"largest batch that fits at context {m['context']:,}: {_count(batch)}; "
            f"longest context that fits at batch {m['batch']:,}: {_count(context)} tokens "
            "(each checked by auditing the model there; a runtime's own buffers, such as a CUDA context "
            "and workspace, take some more)"
        )
    return lines


def _where(step: str) -> str:
    if step in ("prefill", "decode"):
        return f"in the {step} step, which holds most"
    return "the largest of the encoder's and the decoder steps'"


def _verdict(fits: bool | None, need: Figure, capacity: int) -> str:
    if fits is True:
        return f"fits, {human_bytes(capacity - need.value)} to spare"  # type: ignore[operator]
    if fits is False:
        return f"DOES NOT FIT: {human_bytes(need.lower - capacity)} more than the chip holds"  # type: ignore[operator]
    return "whether it fits is unknown (some sizes are unknown)"


def _count(value: int | None) -> str:
    if value is None:
        return "unknown"
    return "none" if value == 0 else f"{value:,}"
