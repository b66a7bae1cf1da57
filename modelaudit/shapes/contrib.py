"""Output shapes of the com.microsoft ops that onnx.defs does not know (onnxruntime registers their
schemas only inside its own library). Used by shape inference for nodes onnx leaves unknown."""

from __future__ import annotations

import math
from collections.abc import Callable

from onnx import TensorProto

from .geometry import matmul_dims, window_dims

__all__ = ["CONTRIB_SHAPES", "NCHWC", "contrib_output_dtype", "contrib_output_shapes", "fused_operand", "nchwc_block"]

Shape = tuple
ShapeFn = Callable[[list, dict], "list[Shape | None]"]
CONTRIB_SHAPES: dict[tuple[str, str], ShapeFn] = {}


def _shape(*ops: str, domain: str = "com.microsoft"):
    def register(fn: ShapeFn) -> ShapeFn:
        for op in ops:
            CONTRIB_SHAPES[(domain, op)] = fn
        return fn

    return register


@_shape(
    "Gelu",
    "BiasGelu",
    "FastGelu",
    "QuickGelu",
    "RotaryEmbedding",
    "LayerNormalization",
    "BiasAdd",
    "BiasSplitGelu",
    "QLinearSigmoid",
    "QLinearLeakyRelu",
    "QLinearSoftmax",
    "QuantizeLinear",
    "DequantizeLinear",
)
def _like_input(shapes: list, attrs: dict) -> list:
    return [shapes[0]]


def fused_operand(shape: tuple, trans: bool, trans_batch: bool) -> tuple:
    """The operand FusedMatMul multiplies: transBatch moves dim 0 to just before the last two
    (perm [1, …, r−2, 0, r−1]), then trans swaps the last two (onnxruntime's kernel, checked
    against it in tests/costs/rules/test_fused.py)."""
    dims = list(shape)
    if trans_batch and len(dims) >= 3:
        dims = dims[1:-1] + [dims[0], dims[-1]]
    if trans and len(dims) >= 2:
        dims[-1], dims[-2] = dims[-2], dims[-1]
    return tuple(dims)


@_shape("FusedMatMul")
def _fused_matmul(shapes: list, attrs: dict) -> list:
    a = fused_operand(tuple(shapes[0]), bool(attrs.get("transA")), bool(attrs.get("transBatchA")))
    b = fused_operand(tuple(shapes[1]), bool(attrs.get("transB")), bool(attrs.get("transBatchB")))
    return [_matmul(a, b)]


@_shape("SkipLayerNormalization", "SkipSimplifiedLayerNormalization")
def _skip_layer_norm(shapes: list, attrs: dict) -> list:
    """output, mean and inv_std_var (one per row: [..., 1]), input_skip_bias_sum (the residual)."""
    x = tuple(shapes[0])
    stat = x[:-1] + (1,)
    return [x, stat, stat, x]


@_shape("SimplifiedLayerNormalization", domain="")
@_shape("SimplifiedLayerNormalization")
def _simplified_layer_norm(shapes: list, attrs: dict) -> list:
    """Y like X, inv_std_var with the normalised axes (from `axis`, default −1) kept as 1."""
    x = tuple(shapes[0])
    axis = int(attrs.get("axis", -1)) % len(x)
    return [x, x[:axis] + (1,) * (len(x) - axis)]


@_shape("FusedConv")
@_shape("Conv", domain="com.microsoft.nchwc")
def _conv(shapes: list, attrs: dict) -> list:
    """Conv's window over X; an NCHWc conv's W holds the padded channels, and so does Y."""
    x, w = tuple(shapes[0]), tuple(shapes[1])
    kernel = tuple(attrs.get("kernel_shape") or w[2:])
    return [window_dims(attrs, x, kernel, w[0])]


@_shape("FusedGemm")
def _fused_gemm(shapes: list, attrs: dict) -> list:
    a, b = shapes[0], shapes[1]
    return [(a[1] if attrs.get("transA") else a[0], b[0] if attrs.get("transB") else b[1])]


NCHWC = "com.microsoft.nchwc"


@_shape("MaxPool", "AveragePool", domain=NCHWC)
def _nchwc_pool(shapes: list, attrs: dict) -> list:
    x = tuple(shapes[0])
    return [window_dims(attrs, x, tuple(attrs["kernel_shape"]), x[1], bool(attrs.get("ceil_mode", 0)))]


@_shape("GlobalAveragePool", "GlobalMaxPool", domain=NCHWC)
def _nchwc_global_pool(shapes: list, attrs: dict) -> list:
    x = tuple(shapes[0])
    return [x[:2] + (1,) * (len(x) - 2)]


@_shape("Upsample", domain=NCHWC)
def _nchwc_upsample(shapes: list, attrs: dict) -> list:
    """`scales`: one integer per axis of X (N and C included)."""
    x, scales = tuple(shapes[0]), list(attrs["scales"])
    return [tuple(d * s if isinstance(d, int) else (d if s == 1 else None) for d, s in zip(x, scales))]


def nchwc_block(channels: list[int]) -> int | None:
    """The NCHWc block size of a model onnxruntime saved: it pads every NCHWc conv's output
    channels to a multiple of its CPU's block (8, or 16 with AVX-512), so the largest of these that
    divides all of them (`channels`: each NCHWc conv's W[0])."""
    return next((b for b in (16, 8) if channels and all(c % b == 0 for c in channels)), None)


@_shape("ReorderInput", domain=NCHWC)
def _reorder_input(shapes: list, attrs: dict) -> list:
    """NCHW (or NHWC with channels_last) to NCHWc: the channels padded up to the block size."""
    x = tuple(shapes[0])
    block = int(attrs["block"])  # the caller's nchwc_block() of the model
    nchw = (x[0], x[-1], *x[1:-1]) if attrs.get("channels_last") else x
    channels = nchw[1]
    padded = -(-channels // block) * block if isinstance(channels, int) else None
    return [(nchw[0], padded, *nchw[2:])]


@_shape("ReorderOutput", domain=NCHWC)
def _reorder_output(shapes: list, attrs: dict) -> list:
    """NCHWc back to NCHW (or NHWC with channels_last) with `channels`, the unpadded count."""
    x, channels = tuple(shapes[0]), int(attrs["channels"])
    return [(x[0], *x[2:], channels) if attrs.get("channels_last") else (x[0], channels, *x[2:])]


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
    head = (
        q[2] // (heads + 2 * kv_heads)
        if packed and isinstance(q[2], int)
        else (q[2] // heads if isinstance(q[2], int) else None)
    )
    out: list[tuple] = [(q[0], q[1], heads * head if head is not None else None)]
    past = shapes[3] if len(shapes) > 3 else None
    if past is not None and len(past) == 4 and isinstance(past[2], int) and isinstance(q[1], int):
        # present_key/value [B, H_kv, S_past + S, D]; a runtime sharing the past buffer keeps S_past
        present = (past[0], past[1], past[2] + q[1], past[3])
        out += [present, present]
    return out


def _broadcast(*shapes) -> tuple:
    """numpy broadcasting of shapes whose dims may be symbolic (str) or unknown (None)."""
    rank = max(len(s) for s in shapes)
    out = []
    for axis in range(rank):
        dims = {s[axis - rank + len(s)] for s in shapes if axis - rank + len(s) >= 0} - {1}
        out.append(dims.pop() if len(dims) == 1 else 1 if not dims else None)
    return tuple(out)


def _matmul(a: tuple, b: tuple) -> tuple:
    batch, m, _, n = matmul_dims(tuple(a), tuple(b))
    return tuple(batch) + ((m,) if len(a) > 1 else ()) + ((n,) if len(b) > 1 else ())


@_shape("DynamicQuantizeMatMul", "MatMulIntegerToFloat")
def _integer_matmul(shapes: list, attrs: dict) -> list:
    return [_matmul(shapes[0], shapes[1])]


@_shape("QGemm")
def _qgemm(shapes: list, attrs: dict) -> list:
    a, b = shapes[0], shapes[3]
    return [(a[1] if attrs.get("transA") else a[0], b[0] if attrs.get("transB") else b[1])]


@_shape("QLinearAdd", "QLinearMul")
def _qlinear_binary(shapes: list, attrs: dict) -> list:
    return [_broadcast(shapes[0], shapes[3])]


@_shape("QLinearWhere")
def _qlinear_where(shapes: list, attrs: dict) -> list:
    return [_broadcast(shapes[0], shapes[1], shapes[4])]


@_shape("QLinearGlobalAveragePool")
def _qlinear_global_pool(shapes: list, attrs: dict) -> list:
    x = shapes[0]
    if attrs.get("channels_last"):
        return [(x[0],) + (1,) * (len(x) - 2) + (x[-1],)]
    return [tuple(x[:2]) + (1,) * (len(x) - 2)]


@_shape("QLinearConcat")
def _qlinear_concat(shapes: list, attrs: dict) -> list:
    parts = [shapes[i] for i in range(2, len(shapes), 3)]
    first = parts[0]
    axis = int(attrs["axis"]) % len(first)
    sizes = [p[axis] for p in parts]
    total = sum(sizes) if all(isinstance(d, int) for d in sizes) else None
    return [tuple(first[:axis]) + (total,) + tuple(first[axis + 1 :])]


@_shape("QAttention")
def _qattention(shapes: list, attrs: dict) -> list:
    return [(shapes[0][0], shapes[0][1], shapes[1][1] // 3)]


@_shape("DynamicQuantizeLSTM")
def _dynamic_quantize_lstm(shapes: list, attrs: dict) -> list:
    """Y [seq, dirs, batch, H], Y_h and Y_c [dirs, batch, H]; W is [dirs, I, 4·H]."""
    seq, batch = shapes[0][0], shapes[0][1]
    w = shapes[1]
    dirs = 2 if attrs.get("direction") in ("bidirectional", b"bidirectional") else 1
    hidden = int(attrs.get("hidden_size") or w[2] // 4)
    return [(seq, dirs, batch, hidden), (dirs, batch, hidden), (dirs, batch, hidden)]


@_shape("QLinearAveragePool")
def _qlinear_average_pool(shapes: list, attrs: dict) -> list:
    """AveragePool's window over X [N, C, D…] (channels_last: [N, D…, C])."""
    x = tuple(shapes[0])
    last = bool(attrs.get("channels_last"))
    nchw = (x[0], x[-1], *x[1:-1]) if last else x
    y = window_dims(attrs, nchw, tuple(attrs["kernel_shape"]), nchw[1], bool(attrs.get("ceil_mode", 0)))
    return [(y[0], *y[2:], y[1]) if last else y]


@_shape("QEmbedLayerNormalization")
def _qembed_layer_norm(shapes: list, attrs: dict) -> list:
    """input_ids [B, S], word_embedding [vocab, hidden] (input 2) → [B, S, hidden], mask_index [B]."""
    ids = shapes[0]
    return [(ids[0], ids[1], shapes[2][1]), (ids[0],)]


@_shape("EmbedLayerNormalization")
def _embed_layer_norm(shapes: list, attrs: dict) -> list:
    """input_ids [B, S], word_embedding [vocab, hidden] (input 2) → [B, S, hidden], mask_index [B],
    embedding_sum [B, S, hidden]."""
    ids = shapes[0]
    y = (ids[0], ids[1], shapes[2][1])
    return [y, (ids[0],), y]


# outputs of float32 statistics (onnxruntime's type U) beside a float16 result
_FLOAT_STATS = {
    ("com.microsoft", "SkipLayerNormalization"): (1, 2),
    ("com.microsoft", "SkipSimplifiedLayerNormalization"): (1, 2),
    ("com.microsoft", "SimplifiedLayerNormalization"): (1,),
    ("", "SimplifiedLayerNormalization"): (1,),
}
ML = "ai.onnx.ml"


@_shape("Scaler", "Normalizer", "Binarizer", "Imputer", domain=ML)
def _ml_like_input(shapes: list, attrs: dict) -> list:
    """Scaler, Normalizer, Binarizer and Imputer keep X's shape ([N, F]; a 1-D X is one sample)."""
    return [tuple(shapes[0])]


@_shape("ArrayFeatureExtractor", domain=ML)
def _array_feature_extractor(shapes: list, attrs: dict) -> list:
    """X[..., indices]: X's last axis replaced by the number of indices."""
    x, indices = tuple(shapes[0]), tuple(shapes[1])
    count = math.prod(indices) if all(isinstance(d, int) for d in indices) else None
    return [x[:-1] + (count,)]


def _classes(attrs: dict) -> int:
    labels = attrs.get("classlabels_ints") or attrs.get("classlabels_int64s") or attrs.get("classlabels_strings")
    return len(labels or ())


_ML_CLASSIFIERS = frozenset({"LinearClassifier", "SVMClassifier", "TreeEnsembleClassifier"})
_ML_REGRESSORS = frozenset({"LinearRegressor", "SVMRegressor", "TreeEnsembleRegressor"})


@_shape(*_ML_CLASSIFIERS, domain=ML)
def _ml_classifier(shapes: list, attrs: dict) -> list:
    """Y (labels) [N], Z (scores) [N, classes] (a binary linear classifier's one coefficient row
    still gives two score columns in onnxruntime)."""
    n = shapes[0][0] if len(shapes[0]) > 1 else 1
    return [(n,), (n, _classes(attrs))]


@_shape(*_ML_REGRESSORS, domain=ML)
def _ml_regressor(shapes: list, attrs: dict) -> list:
    """Y [N, targets]."""
    n = shapes[0][0] if len(shapes[0]) > 1 else 1
    return [(n, int(attrs.get("targets", attrs.get("n_targets", 1))))]


_FLOAT_OUTPUT = frozenset({"MatMulIntegerToFloat", "QAttention", "DequantizeLinear", "QEmbedLayerNormalization"})


_INT32_MASK_INDEX = frozenset({"EmbedLayerNormalization", "QEmbedLayerNormalization"})  # output 1


def contrib_output_dtype(domain: str, op: str, dtypes: list, output: int = 0) -> int | None:
    """The element type of output `output` where it is not the first input's (integer kernels
    returning float, QuantizeLinear returning its zero point's type, int32 mask_index beside
    float16 embeddings); None otherwise."""
    if output in _FLOAT_STATS.get((domain, op), ()):
        return TensorProto.FLOAT
    if domain == ML and op in _ML_CLASSIFIERS:  # labels (int64, or strings: not told apart here), scores
        return TensorProto.INT64 if output == 0 else TensorProto.FLOAT
    if domain == ML and op in _ML_REGRESSORS:
        return TensorProto.FLOAT
    if domain != "com.microsoft":
        return None
    if op == "QLinearConcat":  # Y's type is Y_zero_point's (input 1), not Y_scale's float
        return dtypes[1] if len(dtypes) > 1 and dtypes[1] else None
    if output == 1 and op in _INT32_MASK_INDEX:
        return TensorProto.INT32
    if op in _FLOAT_OUTPUT:
        return TensorProto.FLOAT
    if op == "EmbedLayerNormalization":  # the embedding tables' type (float or float16), not the ids'
        return dtypes[2] if len(dtypes) > 2 and dtypes[2] else TensorProto.FLOAT
    if op == "QuantizeLinear":
        return dtypes[2] if len(dtypes) > 2 and dtypes[2] else TensorProto.UINT8
    return None


def contrib_output_shapes(domain: str, op: str, shapes: list, attrs: dict) -> list | None:
    """Output shapes (first outputs only where the rest are state) or None when unknown."""
    fn = CONTRIB_SHAPES.get((domain, op))
    if fn is None or not shapes or shapes[0] is None:
        return None
    try:
        return fn(shapes, attrs)
    except (IndexError, KeyError, TypeError, ValueError, ZeroDivisionError):
        return None
