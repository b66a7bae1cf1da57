"""Output shapes of the com.microsoft ops that onnx.defs does not know (onnxruntime registers their
schemas only inside its own library). Used by shape inference for nodes onnx leaves unknown."""

from __future__ import annotations

from typing import Callable

from .geometry import matmul_dims

__all__ = ["CONTRIB_SHAPES", "contrib_output_shapes"]

Shape = tuple
ShapeFn = Callable[[list, dict], "list[Shape | None]"]
CONTRIB_SHAPES: dict[tuple[str, str], ShapeFn] = {}


def _shape(*ops: str, domain: str = "com.microsoft"):
    def register(fn: ShapeFn) -> ShapeFn:
        for op in ops:
            CONTRIB_SHAPES[(domain, op)] = fn
        return fn
    return register


@_shape("Gelu", "BiasGelu", "FastGelu", "QuickGelu", "RotaryEmbedding", "SkipLayerNormalization",
        "SkipSimplifiedLayerNormalization", "SimplifiedLayerNormalization", "LayerNormalization",
        "BiasAdd", "BiasSplitGelu")
def _like_input(shapes: list, attrs: dict) -> list:
    return [shapes[0]]


@_shape("FusedMatMul")
def _fused_matmul(shapes: list, attrs: dict) -> list:
    a, b = list(shapes[0]), list(shapes[1])
    if attrs.get("transA") and len(a) >= 2:
        a[-1], a[-2] = a[-2], a[-1]
    if attrs.get("transB") and len(b) >= 2:
        b[-1], b[-2] = b[-2], b[-1]
    batch, m, _, n = matmul_dims(tuple(a), tuple(b))
    out = list(batch) + ([m] if len(a) > 1 else []) + ([n] if len(b) > 1 else [])
    return [tuple(out)]


@_shape("MatMulNBits")
def _matmul_nbits(shapes: list, attrs: dict) -> list:
    return [tuple(shapes[0][:-1]) + (int(attrs["N"]),)]


@_shape("Attention")
def _attention(shapes: list, attrs: dict) -> list:
    batch, seq = shapes[0][0], shapes[0][1]
    width = shapes[1][1]
    sizes = attrs.get("qkv_hidden_sizes") or [width // 3] * 3
    return [(batch, seq, int(sizes[2]))]


@_shape("MultiHeadAttention")
def _mha(shapes: list, attrs: dict) -> list:
    q = shapes[0]
    if len(q) == 5:
        return [(q[0], q[1], q[2] * q[4])]
    value = shapes[2] if len(shapes) > 2 and shapes[2] is not None else None
    heads = int(attrs.get("num_heads", 1))
    if value is not None and len(value) == 3:
        return [(q[0], q[1], value[2])]
    if value is not None and len(value) == 4:
        return [(q[0], q[1], heads * value[3])]
    return [tuple(q)]


@_shape("GroupQueryAttention")
def _gqa(shapes: list, attrs: dict) -> list:
    q = shapes[0]
    heads, kv_heads = int(attrs["num_heads"]), int(attrs["kv_num_heads"])
    packed = len(shapes) < 2 or shapes[1] is None
    head = q[2] // (heads + 2 * kv_heads) if packed and isinstance(q[2], int) else (
        q[2] // heads if isinstance(q[2], int) else None)
    return [(q[0], q[1], heads * head if head is not None else None)]


def contrib_output_shapes(domain: str, op: str, shapes: list, attrs: dict) -> list | None:
    """Output shapes (first outputs only where the rest are state) or None when unknown."""
    fn = CONTRIB_SHAPES.get((domain, op))
    if fn is None or not shapes or shapes[0] is None:
        return None
    try:
        return fn(shapes, attrs)
    except (IndexError, KeyError, TypeError, ValueError, ZeroDivisionError):
        return None
