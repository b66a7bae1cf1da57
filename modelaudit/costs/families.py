"""Op families: what kind of work an op type does (dense, grouped or depthwise conv, matmul,
attention, elementwise…), decided by its op type and rule, never by whether its shapes resolved."""

from __future__ import annotations

from .rows import Rows

__all__ = ["FAMILIES", "family_of", "families"]

FAMILIES = [
    "Conv (dense)",
    "Conv (grouped)",
    "Conv (depthwise)",
    "ConvTranspose",
    "Gemm/MatMul",
    "recurrent",
    "attention",
    "normalization",
    "elementwise",
    "data movement",
    "other",
]
_LINEAR = {"Gemm", "MatMul", "Einsum", "MatMulInteger", "QLinearMatMul", "FusedMatMul", "MatMulNBits", "QGemm"}
_LINEAR.add("FusedGemm")  # onnxruntime's saved optimizations
_RECURRENT = {"RNN", "GRU", "LSTM"}
_ATTENTION = {"Attention", "MultiHeadAttention", "GroupQueryAttention", "LinearAttention", "RotaryEmbedding"}
_NORM = {
    "BatchNormalization",
    "LayerNormalization",
    "InstanceNormalization",
    "GroupNormalization",
    "RMSNormalization",
    "SkipLayerNormalization",
    "SimplifiedLayerNormalization",
    "SkipSimplifiedLayerNormalization",
    "LpNormalization",
    "LRN",
    "MeanVarianceNormalization",
}


_CONV = ("Conv", "ConvInteger", "QLinearConv", "DeformConv", "FusedConv")
_BY_CATEGORY = {
    "linear": "Gemm/MatMul",
    "recurrent": "recurrent",
    "attention": "attention",
    "normalization": "normalization",
}


def family_of(row: dict) -> str:
    return _family(row["op"], row.get("domain", ""), row.get("details"), row["status"])


def _family(op: str, domain: str, details: dict | None, status: str) -> str:
    """The family of an op type, whether or not its shapes resolved: an Add whose size is unknown
    is still elementwise. A node folded at load (all inputs constant) costs nothing at run time."""
    from .rules import is_zero_cost, newest_rule  # the rules load with the audit, not with the command line

    if op in _CONV:
        kind = (details or {}).get("conv", "dense")
        return f"Conv ({kind})"
    if op == "ConvTranspose":
        return "ConvTranspose"
    if op in _LINEAR:
        return "Gemm/MatMul"
    if op in _RECURRENT:
        return "recurrent"
    if op in _ATTENTION:
        return "attention"
    if op in _NORM:
        return "normalization"
    if status == "constant" or is_zero_cost(op, domain):
        return "data movement"
    spec = newest_rule(op, domain)
    if spec is None or spec.category == "control flow":  # no rule: uncounted; If/Loop: their bodies' rows count
        return "other"
    if spec.category in _BY_CATEGORY:  # a contrib op of a known kind (DynamicQuantizeMatMul, QAttention)
        return _BY_CATEGORY[spec.category]
    return "elementwise" if spec.macs == "0" else "other"  # no MACs by its rule: elementwise, pooling, resize…


def families(rows: Rows) -> list[str]:
    """Each row's family, decided once per distinct op, domain and constant
    or not; a conv's once per row (its kind is in its details)."""
    ops = rows.column("op")
    decided: dict[tuple, str] = {}
    out = []
    for key in zip(ops, rows.column("domain", ""), rows.column("status")):
        key = (key[0], key[1], key[2] == "constant")
        family = decided.get(key)
        if family is None:
            family = decided[key] = _family(key[0], key[1], None, "constant" if key[2] else "")
        out.append(family)
    if any(key[0] in _CONV for key in decided):
        for i, (op, details) in enumerate(zip(ops, rows.column("details"))):
            if op in _CONV:
                out[i] = _family(op, "", details, "")
    return out
