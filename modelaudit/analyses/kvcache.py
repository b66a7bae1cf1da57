"""Which graph inputs of a decoder hold its KV cache, and which named dims are the new-token,
cached and batch lengths: the layout every --decode and --generate step is built from."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from onnx import ModelProto

from modelaudit.errors import UsageError
from modelaudit.shapes.dimexpr import MAX_DIM

__all__ = ["CacheLayout", "find_cache", "cached_axis", "parse_contexts", "phase_dims", "present_outputs"]

# past_key_values.0.key, past_key_0, past.0, past_value, cache_key_3, key_cache.1, cache.0.value…
_CACHE_NAME = re.compile(r"(^|[./_])(past|cache)([./_]|\d|$)|past_?key|past_?value|(key|value)_?cache", re.I)
# the slots of attention ops that take the cache: (domain, op) -> input indices
_PAST_SLOTS = {
    ("com.microsoft", "GroupQueryAttention"): (3, 4),
    ("com.microsoft", "MultiHeadAttention"): (6, 7),
    ("com.microsoft", "Attention"): (4,),
    ("", "Attention"): (4, 5),
}
_TOKEN_NAMES = ("input_ids", "inputs_embeds", "ids", "tokens")
_TOTAL_NAMES = re.compile(r"^(total_?(sequence|seq)_?(length|len)?|total_?length|all_?seq(uence)?_?len(gth)?)$", re.I)
_TERM = re.compile(r"^\s*([A-Za-z_][\w.]*|\d+)\s*$")


@dataclass
class CacheLayout:
    """Which graph inputs hold the cache, and which named dims are the new-token and cached lengths."""

    caches: list[str]
    past_dim: str
    seq_dim: str | None
    batch_dim: str | None
    sums: dict[str, list] = field(default_factory=dict)  # a dim that is past + new: its terms (names, ints)
    # an encoder–decoder's cross-attention cache: read every step, never written by it; its length
    # (cross_dim) is the encoder's output length, not the cached one
    cross: list[str] = field(default_factory=list)
    cross_dim: str | None = None

    def as_dict(self) -> dict:
        return {
            "caches": self.caches,
            "cross": self.cross,
            "cross_dim": self.cross_dim,
            "past_dim": self.past_dim,
            "seq_dim": self.seq_dim,
            "batch_dim": self.batch_dim,
            "sums": {k: [str(t) for t in v] for k, v in self.sums.items()},
        }


def _dims(vi) -> list:
    t = vi.type.tensor_type
    if not t.HasField("shape"):
        return []
    return [
        d.dim_param if d.HasField("dim_param") else (d.dim_value if d.HasField("dim_value") else None)
        for d in t.shape.dim
    ]


def _cache_inputs(model: ModelProto, real: list) -> list:
    by_slot = set()
    for node in model.graph.node:
        for i in _PAST_SLOTS.get(("" if node.domain == "ai.onnx" else node.domain, node.op_type), ()):
            if i < len(node.input) and node.input[i]:
                by_slot.add(node.input[i])
    return [vi for vi in real if vi.name in by_slot or _CACHE_NAME.search(vi.name)]


_CROSS = re.compile(r"[._]encoder[._]|cross", re.I)


def find_cache(model: ModelProto, cross: bool = False) -> CacheLayout:
    """Recognises the cache (by name, or by the past slots of attention ops) and its dims, or raises
    a UsageError that says why not. With `cross`, an encoder–decoder's decoder: the cache inputs
    named for the encoder (optimum's past_key_values.{i}.encoder.*) are its cross-attention cache."""
    init = {t.name for t in model.graph.initializer}
    real = [vi for vi in model.graph.input if vi.name not in init]
    caches = [vi for vi in _cache_inputs(model, real) if len(_dims(vi)) >= 3]
    if not caches:
        raise UsageError(
            "--decode: the model has no recognisable KV cache (no input named past_key_values.*, "
            "past_key*, past_value*, cache_* or in an attention op's past slots)",
            "export the decoder with its cache (transformers/optimum: use_cache=True, 'with past')",
        )
    past_dims: set[str] = set()
    cross_dims: set[str] = set()
    for vi in caches:
        shape = _dims(vi)
        batch = shape[1] if len(shape) == 5 else shape[0]  # GPT-2's old `past` stacks [2, B, H, S, D]
        at = (
            shape[-2]
            if isinstance(shape[-2], str)
            else next((d for d in shape if isinstance(d, str) and d != batch), None)
        )
        if at is None:
            raise UsageError(
                f"--decode: cache input '{vi.name}' {shape} has no symbolic cached length",
                "the export fixed the cache length; re-export with a dynamic past length",
            )
        (cross_dims if _CROSS.search(vi.name) else past_dims).add(at)
    if cross_dims and not cross:
        raise UsageError(
            "--decode: an encoder–decoder's decoder (a cross-attention cache beside the self-attention one)",
            "audit the export's folder (encoder_model.onnx, decoder_model.onnx, decoder_with_past_model.onnx) "
            "with --generate SOURCE:NEW",
        )
    if len(past_dims) != 1 or len(cross_dims) > 1:
        every = ", ".join(sorted(past_dims | cross_dims))
        raise UsageError(f"--decode: the cache inputs disagree on their cached length ({every})")
    past = past_dims.pop()
    names = {vi.name for vi in caches}
    others = [vi for vi in real if vi.name not in names]
    token = _token_input(others, past)
    seq = batch = None
    if token is not None:
        shape = _dims(token)
        seq = shape[1] if isinstance(shape[1], str) else None  # a fixed count: a decode-only export
        batch = shape[0] if isinstance(shape[0], str) else None
    first = _dims(caches[0])
    if batch is None and isinstance(first[1 if len(first) == 5 else 0], str):
        batch = first[1 if len(first) == 5 else 0]
    layout = CacheLayout([vi.name for vi in caches], past, seq, batch)
    layout.cross = [vi.name for vi in caches if _CROSS.search(vi.name)]
    layout.cross_dim = next(iter(cross_dims), None)
    for vi in others:
        shape = _dims(vi)
        for axis, d in enumerate(shape):
            if not isinstance(d, str) or d in (past, seq, batch) or d in layout.sums:
                continue
            terms = _sum_terms(d)
            if terms and all(isinstance(t, int) or t in (past, seq) for t in terms):
                layout.sums[d] = terms
            elif seq and (_TOTAL_NAMES.match(d) or ("mask" in vi.name.lower() and axis == len(shape) - 1)):
                layout.sums[d] = [past, seq]  # the attention mask spans the cached and the new tokens
    return layout


def cached_axis(model: ModelProto, layout: CacheLayout, name: str) -> int | None:
    """The axis of cache input `name` that holds the cached length, or None if it is no cache input."""
    if name not in layout.caches:
        return None
    vi = next(v for v in model.graph.input if v.name == name)
    shape = _dims(vi)
    return shape.index(layout.past_dim) if layout.past_dim in shape else len(shape) - 2


def _token_input(others: list, past: str):
    """The input carrying the new tokens: input_ids (or embeddings) by name, else an input with a
    plain symbolic length on axis 1 (not the cached length, not a sum such as a mask's)."""
    ranked = [vi for vi in others if len(_dims(vi)) >= 2]
    for wanted in _TOKEN_NAMES:
        for vi in ranked:
            if wanted in vi.name.lower():
                return vi
    for vi in ranked:
        d = _dims(vi)[1]
        if isinstance(d, str) and d != past and "+" not in d:
            return vi
    return None


def _sum_terms(name: str) -> list | None:
    """`past_sequence_length + sequence_length` -> its terms; None unless it is a plain sum."""
    if "+" not in name:
        return None
    terms = []
    for part in name.split("+"):
        m = _TERM.match(part)
        if m is None:
            return None
        terms.append(int(m.group(1)) if m.group(1).isdigit() else m.group(1))
    return terms


def phase_dims(layout: CacheLayout, seq: int, past: int, batch: int) -> dict[str, int]:
    """The named dims of one step: `seq` new tokens after `past` cached ones."""
    values = {layout.past_dim: past}
    if layout.seq_dim:
        values[layout.seq_dim] = seq
    if layout.batch_dim:
        values[layout.batch_dim] = batch
    for name, terms in layout.sums.items():
        values[name] = sum(t if isinstance(t, int) else values[t] for t in terms)
    return values


def parse_contexts(spec: str) -> list[int]:
    """`128,512,2048` -> [128, 512, 2048]."""
    try:
        values = [int(v) for v in spec.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values or any(v <= 0 for v in values):
        raise UsageError(f"--decode {spec!r}: expected context lengths N[,N…] as positive integers, e.g. --decode 2048")
    if any(v >= MAX_DIM for v in values):  # N cached + 1 new token is a dim: an int64 in the shapes
        raise UsageError(f"--decode {spec!r}: a context length may be at most {MAX_DIM - 1:,}")
    return values


def present_outputs(model: ModelProto, layout: CacheLayout) -> list[str]:
    """The graph outputs that hand the cache back (`present.*`): those of a node that reads a cache
    input (an exporter's Concat; an attention op's outputs after its first)."""
    caches, outputs = set(layout.caches), {o.name for o in model.graph.output}
    found: list[str] = []
    for node in model.graph.node:
        if not caches.intersection(node.input):
            continue
        attention = ("" if node.domain == "ai.onnx" else node.domain, node.op_type) in _PAST_SLOTS
        found += [n for n in (node.output[1:] if attention else node.output) if n in outputs and n not in found]
    return found
