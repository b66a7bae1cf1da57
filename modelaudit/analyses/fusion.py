"""The fused accounting: the bytes a fused runtime moves, beside the graph as written.

- Data movement (Transpose, Concat, Expand, Slice, Reshape…) is a view: no kernel, no bytes; whoever
  reads its output reads its sources instead (a K cache concatenated, transposed and repeated for
  grouped-query attention is read once, at its own size; a slice only as much as it holds).
- Elementwise ops (activations, residual adds, casts, masks) run in the kernel of their most recent
  producer: the tensor between them never reaches memory.
- Attention is one kernel, as FlashAttention runs it: the softmax and the second matmul join the
  first, so the scores never reach memory and Q, K and V are each read once.
- A kernel reads each tensor made outside it once, and writes each tensor read outside it (or a
  graph output) once; a KV cache is appended in place: only the new tokens are written.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["fused_traffic", "ALIAS_OPS"]

ALIAS_OPS = frozenset(
    {
        "Reshape",
        "Flatten",
        "Squeeze",
        "Unsqueeze",
        "Identity",
        "Dropout",
        "Transpose",
        "Concat",
        "Split",
        "Slice",
        "Gather",
        "GatherElements",
        "GatherND",
        "Expand",
        "Tile",
        "Pad",
        "DepthToSpace",
        "SpaceToDepth",
    }
)
_NOT_ELEMENTWISE = {"Softmax", "LogSoftmax", "Hardmax", "CumSum", "CumProd", "NonZero", "Range"}
_SOFTMAX = {"Softmax", "LogSoftmax"}
_MATMUL = {"MatMul", "Einsum", "FusedMatMul"}


def _elementwise_ops() -> frozenset[str]:
    from modelaudit.costs.rules import registered

    ops = {s.op_type for s in registered() if s.category == "elementwise"} - _NOT_ELEMENTWISE
    return frozenset(ops | {"Cast", "CastLike"})


_FUSED: list[frozenset[str]] = []  # the elementwise ops, read from the rule registry once


def fused_traffic(
    rows: list,
    traffic: list[dict],
    nbytes: Callable[[str], int | None],
    graph_outputs: set[str],
    written: dict[str, int] | None = None,
    nested: set[int] | None = None,
) -> list[dict]:
    """Per row: `kernel` (the row whose kernel it runs in; None for a view or a folded constant) and
    `bytes` (what it reads from and writes to memory in that kernel, its weights included; None where
    a size is unknown). `written` gives a tensor's bytes when written (a present cache: its new
    tokens); rows in `nested` (inside a subgraph) are kernels of their own."""
    if not _FUSED:
        _FUSED.append(_elementwise_ops())
    return _Fusion(rows, traffic, nbytes, graph_outputs, written or {}, nested or set()).run()


class _Fusion:
    def __init__(self, rows, traffic, nbytes, graph_outputs, written, nested):
        self.rows, self.traffic, self.nbytes = rows, traffic, nbytes
        self.outputs, self.written = graph_outputs, written
        self.producer = {name: i for i, t in enumerate(traffic) for name in t["writes"]}
        self.consumers: dict[str, list[int]] = {}
        for i, t in enumerate(traffic):
            for name in t["reads"]:
                self.consumers.setdefault(name, []).append(i)
        self.kind = [_kind(r, t, i in nested) for i, (r, t) in enumerate(zip(rows, traffic))]
        self.kernel: list[int | None] = [None] * len(rows)

    def run(self) -> list[dict]:
        self._group()
        charged: dict[int, set[str]] = {}
        return [
            {"kernel": k, "bytes": 0 if k is None else self._bytes(i, k, charged.setdefault(k, set()))}
            for i, k in enumerate(self.kernel)
        ]

    def sources(self, name: str, depth: int = 0) -> list[str]:
        """The tensors a view's output is made of (itself, unless a view made it)."""
        i = self.producer.get(name)
        if i is None or self.kind[i] != "alias" or depth > 64:
            return [name]
        return [s for n in self.traffic[i]["reads"] for s in self.sources(n, depth + 1)]

    def _group(self) -> None:
        attention: set[int] = set()  # kernels that hold an activation × activation matmul
        for i, t in enumerate(self.traffic):
            kind = self.kind[i]
            if kind in ("none", "alias"):
                continue
            made = [self.producer[s] for n in t["reads"] for s in self.sources(n) if s in self.producer]
            made = [j for j in made if self.kernel[j] is not None]
            latest = self.kernel[max(made)] if made else None
            if kind == "fused" or (kind in ("softmax", "matmul2") and latest in attention):
                joins = kind != "matmul2" or any(self.rows[j].op in _SOFTMAX for j in made)
            else:
                joins = False
            self.kernel[i] = latest if joins and latest is not None else i
            if kind == "matmul2" and self.kernel[i] == i:
                attention.add(i)

    def _outside(self, name: str, k: int, depth: int = 0) -> bool:
        """Whether `name` is read outside kernel k (through views) or leaves the graph."""
        if name in self.outputs or depth > 64:
            return True
        for c in self.consumers.get(name, ()):
            if self.kind[c] == "alias":
                if any(self._outside(o, k, depth + 1) for o in self.traffic[c]["writes"]):
                    return True
            elif self.kernel[c] is not None and self.kernel[c] != k:
                return True
        return False

    def _bytes(self, i: int, k: int, charged: set[str]) -> int | None:
        t = self.traffic[i]
        total = t["weight_bytes"] or 0
        for name in t["reads"]:
            every = self.sources(name)
            sizes = {s: self.nbytes(s) for s in every}
            own = self.nbytes(name)
            if own is None or None in sizes.values():
                return None
            external = [s for s in every if s not in self.producer or self.kernel[self.producer[s]] != k]
            if sum(v or 0 for v in sizes.values()) > own:  # a slice of larger sources: what it holds
                charge = [(name, own)] if external else []
            else:
                charge = [(s, sizes[s]) for s in external]
            for s, size in charge:
                if s not in charged:
                    charged.add(s)
                    total += size or 0
        for name in t["writes"]:
            if self._outside(name, k):
                size = self.written.get(name, self.nbytes(name))
                if size is None:
                    return None
                total += size
        return total


def _kind(row, t: dict, nested: bool) -> str:
    """none (runs nothing), alias (a view), fused (elementwise), softmax, matmul2 (activation ×
    activation), or kernel."""
    if row.status == "constant" or not row.runs:
        return "none"
    if nested:
        return "kernel"
    if row.op in ALIAS_OPS and not t["weight_bytes"]:
        return "alias"
    if row.op in _FUSED[0]:
        return "fused"
    if row.op in _SOFTMAX:
        return "softmax"
    if row.op in _MATMUL and not t["weight_bytes"] and len(t["reads"]) >= 2:
        return "matmul2"
    return "kernel"
