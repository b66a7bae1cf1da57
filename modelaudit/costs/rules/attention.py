"""Attention: MACs are Q·Kᵀ and P·V, B·H_q·S_q·S_kv·(D + D_v); projections where the op fuses them."""

from __future__ import annotations

import math

from modelaudit.costs.cost import Cost, NodeContext, Unresolved

from . import rule

__all__ = ["attention", "sdpa_cost", "kv_length"]

_SCORE_FLOPS = "per score: scale 1, softmax 5, mask 1 if masked or causal"


def sdpa_cost(
    batch: int, q_heads: int, s_q: int, s_kv: int, d: int, d_v: int, masked: bool, softcap: bool = False
) -> tuple[int, int, str]:
    """(MACs, FLOPs, formula) of scaled dot-product attention over the given sizes."""
    scores = batch * q_heads * s_q * s_kv
    macs = scores * (d + d_v)
    per_score = 1 + 5 + (1 if masked else 0) + (3 if softcap else 0)
    formula = f"{batch}*{q_heads}*{s_q}*{s_kv}*({d}+{d_v}); scores {per_score}*{scores}"
    return macs, 2 * macs + per_score * scores, formula


def kv_length(ctx: NodeContext, key_len: int, past_input: int | None, present_output: int | None, axis: int = 2) -> int:
    """Total key length: from the `present` output when known, else past + new."""
    if present_output is not None and present_output < len(ctx.node.output) and ctx.node.output[present_output]:
        try:
            return ctx.out_dims(present_output)[axis]
        except Unresolved:
            pass
    if past_input is not None and ctx.has_input(past_input):
        return ctx.in_dims(past_input)[axis] + key_len
    return key_len


@rule(
    "Attention",
    since=23,
    category="attention",
    macs="B·H_q·S_q·S_kv·(D + D_v)  (S_kv includes past_key)",
    flops=f"2·MACs + ({_SCORE_FLOPS}, softcap 3)",
)
def attention(ctx: NodeContext) -> Cost:
    """Q [B, H_q, S_q, D] or [B, S_q, H_q·D]; K [B, H_kv, S_kv, D]; V [B, H_kv, S_kv, D_v] (3-D likewise)."""
    q, k, v = ctx.in_dims(0), ctx.in_dims(1), ctx.in_dims(2)
    if len(q) == 4:
        batch, heads, s_q, d = q
        s_kv, d_v = k[2], v[3]
    else:
        heads = int(ctx.attr("q_num_heads"))
        kv_heads = int(ctx.attr("kv_num_heads"))
        batch, s_q, d = q[0], q[1], q[2] // heads
        s_kv, d_v = k[1], v[2] // kv_heads
    s_kv = kv_length(ctx, s_kv, 4, 1)
    masked = ctx.has_input(3) or bool(ctx.attr("is_causal", 0))
    macs, flops, formula = sdpa_cost(batch, heads, s_q, s_kv, d, d_v, masked, bool(ctx.attr("softcap", 0.0)))
    return Cost(macs=macs, flops=flops, formula=formula)


@rule(
    "LinearAttention",
    since=27,
    category="attention",
    macs="B·T·(H_kv·d_k·d_v·(1 + delta) + H_q·d_k·d_v)  (state update k⊗v, delta rule Sᵀk, output qᵀS)",
    flops="2·MACs + B·T·H_kv·d_k·d_v·(1 if gated) + B·T·H_q·d_v (scale)",
)
def linear_attention(ctx: NodeContext) -> Cost:
    """query [B, T, H_q·d_k], key [B, T, H_kv·d_k], value [B, T, H_kv·d_v]; state [B, H_kv, d_k, d_v]."""
    q, v = ctx.in_dims(0), ctx.in_dims(2)
    heads, kv_heads = int(ctx.attr("q_num_heads")), int(ctx.attr("kv_num_heads"))
    batch, steps = q[0], q[1]
    d_k, d_v = q[2] // heads, v[2] // kv_heads
    rule_name = str(ctx.attr("update_rule", "linear"))
    delta = 1 if "delta" in rule_name else 0
    state = d_k * d_v
    macs = batch * steps * (kv_heads * state * (1 + delta) + heads * state)
    gate = batch * steps * kv_heads * state if "gated" in rule_name else 0
    return Cost(
        macs=macs,
        flops=2 * macs + gate + batch * steps * heads * d_v,
        formula=f"{batch}*{steps}*({kv_heads}*{d_k}*{d_v}*{1 + delta} + {heads}*{d_k}*{d_v})",
    )


@rule(
    "Attention",
    domain="com.microsoft",
    category="attention",
    macs="B·S·I·(3·hidden) (packed QKV projection) + B·N·S·S_total·(D + D_v)",
    flops=f"2·MACs + B·S·3·hidden (bias) + ({_SCORE_FLOPS})",
)
def ms_attention(ctx: NodeContext) -> Cost:
    """input [B, S, I], weights [I, hidden_q + hidden_k + hidden_v], bias, mask, past → [B, S, hidden_v]."""
    batch, seq, width = ctx.in_dims(0)
    w = ctx.in_dims(1)
    heads = int(ctx.attr("num_heads"))
    sizes = ctx.attr("qkv_hidden_sizes") or [w[1] // 3] * 3
    hq, _, hv = (int(s) for s in sizes)
    projection = batch * seq * width * w[1]
    s_total = kv_length(ctx, seq, 4, 1, axis=3)  # past [2, B, N, S_past, D]
    macs, flops, formula = sdpa_cost(batch, heads, seq, s_total, hq // heads, hv // heads, ctx.has_input(3))
    bias = batch * seq * w[1] if ctx.has_input(2) else 0
    return Cost(
        macs=projection + macs,
        flops=2 * projection + bias + flops,
        formula=f"projection {batch}*{seq}*{width}*{w[1]}; {formula}",
    )


@rule(
    "MultiHeadAttention",
    domain="com.microsoft",
    category="attention",
    macs="B·N·S_q·S_kv·(D + D_v)",
    flops=f"2·MACs + ({_SCORE_FLOPS})",
)
def ms_multi_head_attention(ctx: NodeContext) -> Cost:
    """query [B, S_q, hidden] (or packed [B, S, N, 3, D]), key/value [B, S_kv, hidden] or [B, N, S_kv, D]."""
    q = ctx.in_dims(0)
    heads = int(ctx.attr("num_heads"))
    if len(q) == 5:  # packed QKV
        batch, s_q, _, _, d = q
        s_kv, d_v = s_q, d
    else:
        batch, s_q, hidden = q
        d = hidden // heads
        k = ctx.in_dims(1) if ctx.has_input(1) else None
        if k is None:
            s_kv, d_v = s_q, d
        elif len(k) == 4:
            s_kv, d_v = k[2], ctx.in_dims(2)[3] if ctx.has_input(2) else d
        else:
            s_kv = k[1]
            d_v = ctx.in_dims(2)[-1] // heads if ctx.has_input(2) and len(ctx.in_dims(2)) == 3 else d
    s_kv = kv_length(ctx, s_kv, 6, 1)
    masked = ctx.has_input(4) or ctx.has_input(5) or bool(ctx.attr("unidirectional", 0))
    macs, flops, formula = sdpa_cost(batch, heads, s_q, s_kv, d, d_v, masked)
    return Cost(macs=macs, flops=flops, formula=formula)


@rule(
    "GroupQueryAttention",
    domain="com.microsoft",
    category="attention",
    macs="B·H_q·S·S_total·2·D  (S_total from present_key)",
    flops=f"2·MACs + ({_SCORE_FLOPS}, causal)",
)
def ms_group_query_attention(ctx: NodeContext) -> Cost:
    """query [B, S, H_q·D] (or packed QKV), key/value [B, S, H_kv·D], past_key [B, H_kv, S_past, D]."""
    q = ctx.in_dims(0)
    heads, kv_heads = int(ctx.attr("num_heads")), int(ctx.attr("kv_num_heads"))
    batch, seq = q[0], q[1]
    d = q[2] // (heads if ctx.has_input(1) else heads + 2 * kv_heads)
    s_total = kv_length(ctx, seq, 3, 1)
    macs, flops, formula = sdpa_cost(batch, heads, seq, s_total, d, d, True)
    return Cost(macs=macs, flops=flops, formula=formula)


def _rotary(ctx: NodeContext, heads: int | None) -> Cost:
    x = ctx.in_dims(0)
    n = math.prod(x)
    if len(x) == 4:
        head = x[3]
    elif heads:
        head = x[-1] // heads
    else:
        head = ctx.in_dims(1)[-1] * 2  # cos_cache [.., rotary_dim/2]
    rotary = int(ctx.attr("rotary_embedding_dim", 0)) or head
    rotated = n * min(rotary, head) // head
    return Cost(flops=3 * rotated, formula=f"3*{rotated}")


@rule(
    "RotaryEmbedding",
    since=23,
    category="attention",
    macs="0",
    flops="3 per rotated element (x1·cos − x2·sin, x2·cos + x1·sin: 6 per pair)",
)
def rotary_embedding(ctx: NodeContext) -> Cost:
    """X [B, S, H·D] or [B, H, S, D], cos/sin caches; rotary_embedding_dim of each head rotated."""
    return _rotary(ctx, int(ctx.attr("num_heads", 0)) or None)


@rule("RotaryEmbedding", domain="com.microsoft", category="attention", macs="0", flops="3 per rotated element")
def ms_rotary_embedding(ctx: NodeContext) -> Cost:
    """input [B, S, hidden] or [B, N, S, H], position_ids, cos_cache, sin_cache (inputs 2, 3)."""
    x = ctx.in_dims(0)
    heads = int(ctx.attr("num_heads", 0)) or None
    if heads is None and len(x) == 3:
        half = ctx.in_dims(2)[-1]
        rotated = math.prod(x) if not ctx.attr("rotary_embedding_dim") else math.prod(x[:-1]) * 2 * half
        return Cost(flops=3 * rotated, formula=f"3*{rotated}")
    return _rotary(ctx, heads)
