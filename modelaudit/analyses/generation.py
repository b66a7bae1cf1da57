"""--decode N: an LLM's prefill of N tokens and one decode step at context N, read from a decoder
export with a KV cache: MACs, FLOPs, weight and KV-cache bytes per row and in total, as written and
as a fused runtime moves them (fusion.py)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from onnx import ModelProto

from modelaudit.errors import ModelAuditError, UsageError
from modelaudit.figures import Figure, figure_sum

from .kvcache import CacheLayout, find_cache, phase_dims, present_outputs
from .pricing import Pricing

__all__ = ["Run", "generation", "phase", "SUMMED", "open_run", "column", "assemble"]

SUMMED = (
    "macs",
    "flops",
    "weight_bytes",
    "kv_read_bytes",
    "kv_written_bytes",
    "input_bytes",
    "output_bytes",
    "fused_bytes",
)


@dataclass
class Run:
    """What every step of one generation shares: the model, its cache layout, the batch, the flags,
    and the model once it is read, checked and linked (later steps re-run only inference and rules)."""

    model: ModelProto
    layout: CacheLayout
    batch: int
    inputs: dict
    dims: dict
    pricing: Pricing = field(default_factory=Pricing)
    flag: str = "--decode"
    loaded: list = field(default_factory=list)


def open_run(source, inputs: dict | None, dims: dict | None, pricing: Pricing | None, flag: str) -> Run:
    """The model read light, its cache found, the batch taken from --dim (1 by default)."""
    from modelaudit.load.reader import read_model_light

    model = read_model_light(source).model
    layout = find_cache(model)
    dims = dict(dims or {})
    given = [d for d in (layout.past_dim, layout.seq_dim, *layout.sums) if d is not None and d in dims]
    if given:
        raise UsageError(f"{flag} sets {', '.join(given)} itself; drop it from --dim")
    batch = dims.pop(layout.batch_dim, 1) if layout.batch_dim else 1
    return Run(model, layout, batch, dict(inputs or {}), dims, pricing or Pricing(), flag)


def _graph(run: Run, seq: int, past: int, label: str):
    from modelaudit.costs.analyze import analyze
    from modelaudit.graph.model import load, with_dims

    fixed = {**run.dims, **phase_dims(run.layout, seq, past, run.batch)}
    try:
        if run.loaded:
            mg = with_dims(run.loaded[0], run.inputs, fixed, strict=False)
        else:
            mg = load(run.model, inputs=run.inputs, dims=fixed, strict=False)
            run.loaded.append(mg)
        return mg, analyze(mg), fixed
    except ModelAuditError as exc:
        raise UsageError(f"{run.flag} {label}: {exc.one_line()}") from None


def _cache_sizes(mg, run: Run) -> tuple[dict[str, int | None], list[str]]:
    """Each cache input's and present output's bytes, at --kv-dtype where given; the present names."""
    presents = present_outputs(mg.model, run.layout)
    sizes: dict[str, int | None] = {}
    for name in [*run.layout.caches, *presents]:
        info, stored = mg.info(name), mg.nbytes(name)
        shape = None if info is None else info.shape
        known = shape is not None and all(isinstance(d, int) for d in shape)
        priced = run.pricing.cache(math.prod(shape)) if known else None  # type: ignore[arg-type]
        sizes[name] = stored if priced is None else priced
    return sizes, presents


def phase(run: Run, seq: int, past: int, label: str, per_token: int | None = None) -> dict:
    """One step: `seq` new tokens after `past` cached ones. Its rows and totals; KV bytes per token
    from the cache inputs over the cached length (a decode step), from the present outputs over the
    whole length, or handed in."""
    from .fusion import fused_traffic
    from .traffic import row_traffic

    mg, report, fixed = _graph(run, seq, past, label)
    sizes, presents = _cache_sizes(mg, run)
    known = {n: b for n, b in sizes.items() if b is not None}
    traffic = row_traffic(mg, report, run.pricing, known)
    caches = run.layout.caches
    own = [c for c in caches if c not in run.layout.cross]  # the self-attention cache, grown by each step
    cache_sizes = [sizes[c] for c in own]
    cache_bytes = None if None in cache_sizes else sum(cache_sizes)  # type: ignore[arg-type]
    present_sizes = [sizes[p] for p in presents]
    if past and cache_bytes is not None:
        per_token = cache_bytes // past
    elif presents and None not in present_sizes and len(presents) == len(own):
        per_token = sum(present_sizes) // (past + seq)  # type: ignore[arg-type]
    new_each = None if per_token is None or not own else per_token * seq // len(own)
    written = {p: new_each for p in presents if new_each is not None}  # a present cache: its new tokens
    size = lambda n: known[n] if n in known else mg.nbytes(n)  # noqa: E731
    fused = fused_traffic(report.rows, traffic, size, set(mg.outputs), written, _nested_rows(mg))
    rows = _rows(report.rows, traffic, fused, run.layout, size, new_each, written)
    broken = _cannot_run(mg)
    if broken:  # shapes inferred at this step but no run can have them: every figure unknown
        rows = [{k: (None if k in _NUMBERS else v) for k, v in r.items()} for r in rows]
        per_token = cache_bytes = None
    totals = {key: figure_sum(r[key] for r in rows if r["runs"]) for key in SUMMED}
    if not _macs_complete(report):  # a part the rows do not show (a subgraph's) is unknown
        totals["macs"] = totals["macs"] + Figure.unknown()
        totals["flops"] = totals["flops"] + Figure.unknown()
    return {
        "sequence": seq,
        "past": past,
        "cannot_run": broken,
        "dims": fixed,
        "cross_kv_bytes": None if broken else _sum_known([sizes[c] for c in run.layout.cross]),
        "output_shapes": {o: (None if mg.info(o) is None else mg.info(o).shape) for o in mg.outputs},
        "output_sizes": {o: size(o) for o in mg.outputs},
        "totals": totals,
        "rows": rows,
        "kv_cache_bytes": cache_bytes,
        "kv_cache_bytes_per_token": per_token,
        "activation_peak_bytes": _transient_peak(mg, known, presents, run.layout.caches),
        "weights_bytes": _weights_bytes(mg, run.pricing),
    }


def _rows(report_rows, traffic, fused, layout: CacheLayout, size, new_each, written: dict[str, int]) -> list[dict]:
    """Per row: costs, the bytes it moves as written (the whole cache read once, by the first node
    that reads each cache input's data; an attention op's present cache written as its new tokens,
    as onnxruntime-genai runs it in one buffer with the past), and its fused kernel and bytes."""
    rows, unclaimed, cross = [], set(layout.caches), set(layout.cross)
    for row, t, f in zip(report_rows, traffic, fused):
        read = [n for n in t["reads"] if n in unclaimed] if row.op not in ("Shape", "Size") else []
        unclaimed.difference_update(read)
        output = t["output_bytes"]
        if read and output is not None and row.op in _ATTENTION:
            present = [n for n in t["writes"] if n in written]
            output -= sum(size(n) or 0 for n in present) - sum(written[n] for n in present)
        sizes = [size(n) for n in read]
        kv_read = None if None in sizes else sum(sizes)
        rows.append(
            {
                "name": row.name,
                "op": row.op_label,
                "runs": row.runs,
                "status": row.status,
                "macs": row.macs_total,
                "flops": row.flops_total,
                "weight_bytes": t["weight_bytes"],
                "kv_read_bytes": kv_read,
                "kv_written_bytes": _written(read, cross, new_each),
                "input_bytes": t["input_bytes"],
                "output_bytes": output,
                "dtype": t["dtype"],
                "kernel": f["kernel"],
                "fused_bytes": f["bytes"],
            }
        )
    return rows


_ATTENTION = {"GroupQueryAttention", "MultiHeadAttention", "Attention"}


def _written(read: list[str], cross: set, new_each: int | None) -> int | None:
    """The new tokens' keys and values a row appends to the self-attention cache inputs it reads."""
    grown = [n for n in read if n not in cross]
    if not grown:
        return 0
    return None if new_each is None else new_each * len(grown)


_NUMBERS = (*SUMMED, "roofline_ms")


def _cannot_run(mg) -> str | None:
    """Why no run can have this step's shapes, or None: a Reshape whose output holds another count
    of values than its input (a length the export fixed when it traced one token: at another
    length onnx's inference still gives the fixed shape, and every cost after it is wrong)."""
    for node in mg.model.graph.node:
        if node.op_type != "Reshape" or len(node.input) < 2:
            continue
        a, b = mg.info(node.input[0]), mg.info(node.output[0])
        if a is None or b is None or a.shape is None or b.shape is None:
            continue
        if all(isinstance(d, int) for d in (*a.shape, *b.shape)) and math.prod(a.shape) != math.prod(b.shape):
            return (
                f"{node.name or node.output[0]} reshapes {math.prod(a.shape):,} values {list(a.shape)} into "
                f"{math.prod(b.shape):,} {list(b.shape)}: a length the export fixed when it was traced"
            )
    return None


def _nested_rows(mg) -> set[int]:
    from modelaudit.graph.walk import flatten, walk

    return {i for i, v in enumerate(flatten(walk(mg))) if v.depth}


def _macs_complete(report) -> bool:
    return report.totals.macs.complete


def _sum_known(values: list) -> int | None:
    return None if None in values else sum(values)


def _transient_peak(mg, sizes: dict, presents: list[str], caches: list[str]) -> Figure:
    """The peak of the activations live at once, the KV cache left out (the memory fit counts it
    on its own): a lower bound where some size is unknown."""
    from modelaudit.costs.memory import live_bytes
    from modelaudit.costs.weights import find_weights
    from modelaudit.graph.walk import walk

    cache = {*caches, *presents}
    every = {name: 0 if name in cache else sizes.get(name, mg.nbytes(name)) for name in mg.tensors}
    for name in mg.inputs:
        every.setdefault(name, 0 if name in cache else mg.nbytes(name))
    table = find_weights(mg, walk(mg))
    _, peak, complete = live_bytes(mg, table.constant_tensors if table is not None else set(), every)
    return Figure.of(peak, complete)


def _weights_bytes(mg, pricing: Pricing) -> int:
    """Every weight's bytes once (the memory they hold), at --weight-dtype where it applies."""
    from modelaudit.load.dtypes import dtype_name, tensor_bytes

    total = 0
    for init in mg.initializers.values():
        priced = pricing.weight(init.numel, dtype_name(init.dtype), len(init.dims))
        total += priced if priced is not None else (tensor_bytes(init.numel, init.dtype) or 0)
    return total


def column(run: Run, context: int, label: str | None = None) -> dict:
    """The prefill of `context` tokens and the decode step with `context` cached, for one column."""
    decode = phase(run, 1, context, f"decode at context {context}")
    prefill = (
        phase(run, context, 0, f"prefill of {context}", decode["kv_cache_bytes_per_token"])
        if run.layout.seq_dim
        else None
    )
    return {
        "context": context,
        "label": label or f"context {context:,}",
        "batch": run.batch,
        "prefill": prefill,
        "decode_step": decode,
        "kv_cache_bytes_per_token": decode["kv_cache_bytes_per_token"],
        "kv_cache_bytes": decode["kv_cache_bytes"],
    }


def assemble(run: Run, columns: list[dict], spec=None, search: bool = True) -> dict:
    """The document of --decode's columns; with a chip's `spec`, each step's time bounds and the
    memory fit of the last column (with the largest batch and longest context where `search`)."""
    result = {
        **columns[-1],
        "batch": run.batch,
        "layout": run.layout.as_dict(),
        "pricing": run.pricing.as_dict(),
        "contexts": [c["context"] for c in columns],
        "columns": columns,
    }
    if spec is not None:
        from .memfit import memory_fit
        from .roofline import generation_roofline

        generation_roofline(result, spec)
        last = columns[-1]
        steps = [s for s in (last["prefill"], last["decode_step"]) if s is not None]
        at = replace(run, batch=last["batch"], dims=last.get("dims", run.dims))
        result["memory"] = memory_fit(at, spec.memory_bytes, last["context"], steps, search=search) | {
            "chip": spec.name
        }
    return result


def generation(
    source,
    contexts: list[int],
    inputs: dict | None = None,
    dims: dict | None = None,
    pricing: Pricing | None = None,
    spec=None,
) -> dict:
    """Prefill (N tokens, nothing cached) and one decode step (1 token, N cached) at each context N;
    with a chip's `spec`, their time bounds and the memory fit at the largest context."""
    run = open_run(source, inputs, dims, pricing, "--decode")
    return assemble(run, [column(run, n) for n in contexts], spec)
