"""Which input slots of which ops hold what: statistics and quantization parameters
(non-trainable), settings (ignored), quantized weights, and the slots through which data-movement
ops hand constants on."""

from __future__ import annotations

__all__ = [
    "ATTRIBUTE_WEIGHTS",
    "GENERATORS",
    "IGNORED_SLOTS",
    "NON_TRAINABLE_SLOTS",
    "NOT_CONSTANT",
    "PASS_THROUGH",
    "QUANT_WEIGHT_OPS",
]

# Input slots whose constants are statistics or quantization parameters, not learned weights.
NON_TRAINABLE_SLOTS: dict[str, frozenset[int]] = {
    "BatchNormalization": frozenset({3, 4}),
    "DequantizeLinear": frozenset({1, 2}),
    "QuantizeLinear": frozenset({1, 2}),
    "QLinearConv": frozenset({1, 2, 4, 5, 6, 7}),
    "QLinearMatMul": frozenset({1, 2, 4, 5, 6, 7}),
    "ConvInteger": frozenset({2, 3}),
    "MatMulInteger": frozenset({2, 3}),
    "MatMulNBits": frozenset({2, 3}),
    # com.microsoft's quantized ops (onnxruntime's quantizer and optimizer write them)
    "DynamicQuantizeLSTM": frozenset({8, 9, 10, 11}),
    "QAttention": frozenset({3, 4, 6, 7}),
    "DynamicQuantizeMatMul": frozenset({2, 3}),
    "MatMulIntegerToFloat": frozenset({2, 3, 4, 5}),
    "QGemm": frozenset({1, 2, 4, 5, 7, 8}),
    "QLinearAdd": frozenset({1, 2, 4, 5, 6, 7}),
    "QLinearMul": frozenset({1, 2, 4, 5, 6, 7}),
    "QLinearWhere": frozenset({2, 3, 5, 6, 7, 8}),
    "QLinearAveragePool": frozenset({1, 2, 3, 4}),
    "QEmbedLayerNormalization": frozenset(range(8, 18)),
    "QLinearConcat": frozenset({0, 1}) | frozenset(i for i in range(2, 3 * 1024) if (i - 2) % 3),
    **{
        op: frozenset({1, 2, 3, 4})
        for op in ("QLinearSigmoid", "QLinearLeakyRelu", "QLinearSoftmax", "QLinearGlobalAveragePool")
    },
}
# Input slots whose constants are settings (sizes, scales, bounds, initial state), not weights.
IGNORED_SLOTS: dict[str, frozenset[int]] = {
    "Resize": frozenset({1, 2, 3}),
    "Upsample": frozenset({1}),
    "Pad": frozenset({1, 2, 3}),
    "Clip": frozenset({1, 2}),
    "LSTM": frozenset({4, 5, 6}),
    "GRU": frozenset({4, 5}),
    "RNN": frozenset({4, 5}),
    "Reshape": frozenset({1}),
    "Expand": frozenset({1}),
    "Tile": frozenset({1}),
    "Slice": frozenset({1, 2, 3, 4}),
    "Range": frozenset({0, 1, 2}),
    "ConstantOfShape": frozenset({0}),
    "Squeeze": frozenset({1}),
    "Unsqueeze": frozenset({1}),
    "TopK": frozenset({1}),
    "Split": frozenset({1}),
    "OneHot": frozenset({1, 2}),
    "DynamicQuantizeLSTM": frozenset({4, 5, 6}),
}
# Ops whose integer weight operands are quantized weights (params with their true dtype).
QUANT_WEIGHT_OPS = frozenset(
    {
        "QLinearConv",
        "QLinearMatMul",
        "ConvInteger",
        "MatMulInteger",
        "MatMulNBits",
        "DynamicQuantizeMatMul",
        "QGemm",
        "QAttention",
        "GatherBlockQuantized",
        "QLinearAdd",
        "QLinearMul",
        "DynamicQuantizeLSTM",
        "MatMulIntegerToFloat",
        "QLinearWhere",
        "QEmbedLayerNormalization",
    }
)


NOT_CONSTANT = frozenset(
    {
        "RandomNormal",
        "RandomUniform",
        "RandomNormalLike",
        "RandomUniformLike",
        "Multinomial",
        "Bernoulli",
        "If",
        "Loop",
        "Scan",
    }
)
GENERATORS = frozenset({"ConstantOfShape"})
# Data-movement ops hand on the weights in these input slots: the weight is used where the moved
# data is consumed (an initial state expanded to the batch is still initial state, not a weight).
_FIRST = frozenset({0})
PASS_THROUGH: dict[str, frozenset[int]] = {
    op: _FIRST
    for op in (
        "Reshape",
        "Expand",
        "Tile",
        "Slice",
        "Squeeze",
        "Unsqueeze",
        "Transpose",
        "Identity",
        "Cast",
        "CastLike",
        "Flatten",
        "Split",
        "Gather",
        "GatherElements",
        "GatherND",
        "Pad",
        "DepthToSpace",
        "SpaceToDepth",
        "Dropout",
        "Compress",
        "ReverseSequence",
        "Trilu",
        "CenterCropPad",
        "BitCast",
    )
}
PASS_THROUGH["Concat"] = frozenset(range(2**16))


# ai.onnx.ml keeps its weights in attributes: (attribute, role) per op. Learned coefficients, support
# vectors, tree thresholds and leaf values are params; a Scaler's offset and scale and an Imputer's
# values are fitted statistics, non-trainable like BatchNormalization's running mean and variance.
_LINEAR = (("coefficients", "param"), ("intercepts", "param"))
_TREE = (
    ("nodes_values", "param"),
    ("nodes_values_as_tensor", "param"),
    ("base_values", "param"),
    ("base_values_as_tensor", "param"),
)
ATTRIBUTE_WEIGHTS: dict[str, tuple[tuple[str, str], ...]] = {
    "LinearClassifier": _LINEAR,
    "LinearRegressor": _LINEAR,
    "SVMClassifier": (
        ("support_vectors", "param"),
        ("coefficients", "param"),
        ("rho", "param"),
        ("prob_a", "param"),
        ("prob_b", "param"),
    ),
    "SVMRegressor": (("support_vectors", "param"), ("coefficients", "param"), ("rho", "param")),
    "TreeEnsembleClassifier": _TREE + (("class_weights", "param"), ("class_weights_as_tensor", "param")),
    "TreeEnsembleRegressor": _TREE + (("target_weights", "param"), ("target_weights_as_tensor", "param")),
    "TreeEnsemble": (("nodes_splits", "param"), ("leaf_weights", "param")),
    "Scaler": (("offset", "non-trainable"), ("scale", "non-trainable")),
    "Imputer": (("imputed_value_floats", "non-trainable"),),
}
