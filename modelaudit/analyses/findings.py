"""Audit findings: what is wrong or wasteful in a model, each with a stable code (MA001…)."""

from __future__ import annotations

import hashlib
import math
import os
from collections import Counter
from dataclasses import dataclass, fields
from itertools import chain
from operator import attrgetter, itemgetter

from modelaudit.costs.info import MISSING_DATA, unknown_ort_op
from modelaudit.costs.report import Report
from modelaudit.graph.model import ModelGraph
from modelaudit.load.dtypes import dtype_name
from modelaudit.shapes.contradictions import CONTRADICTION

__all__ = ["Finding", "CODES", "find", "SEVERITIES", "select", "sarif"]

SEVERITIES = ("note", "warning", "error")
LARGE_CONSTANT_BYTES = 1 << 20
OLDEST_GOOD_OPSET = 13  # onnxruntime's kernels and optimizers target opset 13 and later best

CODES = {
    "MA001": ("warning", "dead node: its outputs reach no graph output"),
    "MA002": ("warning", "unused initializer: stored, never read"),
    "MA003": ("warning", "duplicate weights: the same bytes stored twice"),
    "MA004": ("note", "BatchNormalization after Conv/Gemm could be folded into it"),
    "MA005": ("warning", "leftover Identity or Dropout node"),
    "MA006": ("warning", "float32 weight in an otherwise float16 model"),
    "MA007": ("warning", "float64 tensor"),
    "MA008": ("warning", "the file's node order is not topological"),
    "MA009": ("warning", "large Constant node that should be an initializer"),
    "MA010": ("warning", "opset older than the one onnxruntime supports best"),
    # a note: every normal export has a symbolic batch, so a strict `--fail-on warning` must pass it
    "MA011": ("note", "input dim that is symbolic and was not resolved"),
    "MA012": ("warning", "node name repeated or missing: reports are ambiguous"),
    "MA013": ("error", "onnx.checker rejects the model: it is structurally invalid"),
    "MA014": ("warning", "shape annotation in the file contradicts inference (inference is used)"),
    "MA015": ("error", "external-data file missing: no runtime can load the model"),
}


@dataclass
class Finding:
    code: str
    severity: str
    target: str  # the node or tensor it concerns
    message: str
    wasted_bytes: int | None = None
    wasted_macs: int | None = None

    def as_dict(self) -> dict:
        return dict(zip(_FINDING_FIELDS, _finding_values(self)))  # asdict() deep-copies each plain value


_FINDING_FIELDS = tuple(f.name for f in fields(Finding))
_finding_values = attrgetter(*_FINDING_FIELDS)


def _make(code: str, target: str, message: str, **waste) -> Finding:
    return Finding(code, CODES[code][0], target, message, **waste)


def find(mg: ModelGraph, report: Report, read_bytes=None) -> list[Finding]:
    """Every finding, in code order. `read_bytes(tensor)` gives a tensor's bytes for hashing
    (None: hash only what is in memory)."""
    out: list[Finding] = []
    ops = set(map(attrgetter("op_type"), mg.nodes))  # most checks look for an op the model lacks
    out += _dead_nodes(mg)
    out += _unused_initializers(mg)
    out += _duplicate_weights(mg, read_bytes)
    out += _foldable_batchnorm(mg, report) if "BatchNormalization" in ops else []
    out += _leftovers(mg) if {"Identity", "Dropout"} & ops else []
    out += _precision(mg)
    if mg.order != list(range(len(mg.order))):
        out.append(
            _make("MA008", "graph", "nodes are not in topological order in the file; many tools need them sorted")
        )
    out += _large_constants(mg) if "Constant" in ops else []
    opset = mg.opset("")
    if 0 < opset < OLDEST_GOOD_OPSET:
        out.append(
            _make(
                "MA010",
                "opset_import",
                f"default-domain opset {opset}; re-export with opset "
                f"{OLDEST_GOOD_OPSET} or later for onnxruntime's kernels and optimizations",
            )
        )
    out += _unresolved_inputs(mg)
    out += _names(mg)
    if mg.checker is not None and not mg.checker["valid"] and not unknown_ort_op(mg.checker["error"]):
        out.append(_make("MA013", "model", f"onnx.checker: {mg.checker['error']}"))
    out += [
        _make("MA014", w.split("tensor ", 1)[1].split(" ", 1)[0], w) for w in mg.warnings if w.startswith(CONTRADICTION)
    ]
    out += [_make("MA015", p.name, f"{MISSING_DATA}: {p.name}") for p in mg.data_files if not os.path.lexists(p)]
    return out


def _dead_nodes(mg: ModelGraph) -> list[Finding]:
    alive = {mg.producer[o] for o in mg.outputs if o in mg.producer}
    # the graph is acyclic (load refuses a cycle): every node's outputs lead to a node nothing
    # reads, so when each of those writes a graph output, every node is alive (the usual case)
    if set(range(len(mg.nodes))).difference(map(itemgetter(0), mg.edges)) <= alive:
        return []
    readers_of: dict[int, list[int]] = {}  # v -> the nodes v reads from; a plain walk, no graph object
    for u, v in mg.edges:
        readers_of.setdefault(v, []).append(u)
    stack = list(alive)
    while stack:
        for u in readers_of.get(stack.pop(), ()):
            if u not in alive:
                alive.add(u)
                stack.append(u)
    return [
        _make(
            "MA001",
            mg.nodes[i].name or f"#{i} {mg.nodes[i].op_type}",
            f"{mg.nodes[i].op_type} node whose outputs no graph output depends on",
        )
        for i in range(len(mg.nodes))
        if i not in alive
    ]


def _unread(mg: ModelGraph, names) -> set[str]:
    """The `names` that no node reads (subgraph nodes included)."""
    views = mg.views
    unread = set(names)
    if not any(map(attrgetter("has_graph"), views)):  # no subgraph: the load's own node records
        unread.difference_update(chain.from_iterable(map(attrgetter("input"), views)))
        return unread
    from modelaudit.graph.walk import flatten, walk

    return unread - {name for v in flatten(walk(mg)) for name in v.node.input if name}


def _unused_initializers(mg: ModelGraph) -> list[Finding]:
    unused = _unread(mg, mg.initializers.keys() - set(mg.outputs))
    out: list[Finding] = []
    if not unused:
        return out
    # the load's records (names unique: a name defined twice is refused), not 30,000 protobuf reads
    for t in mg.initializers.values():
        if t.name in unused:
            size = (math.prod(t.dims) * (max(_bits(t.dtype), 8))) // 8
            out.append(
                _make(
                    "MA002",
                    t.name,
                    f"initializer {_shape(t.dims)} {dtype_name(t.dtype)} that no node reads",
                    wasted_bytes=size,
                )
            )
    return out


def _bits(dtype: int) -> int:
    from modelaudit.load.dtypes import dtype_bits

    return dtype_bits(dtype) or 0


def _shape(dims) -> str:
    return "x".join(str(d) for d in dims) or "scalar"


class _BytesInFile:
    """Reads the data a tensor left in the model file itself (never external data: hashing it is
    optional, and reading it is --verify's business); the file is opened once, when first needed."""

    def __init__(self, mg: ModelGraph):
        self.spans = mg.weights_in_file.spans if mg.weights_in_file is not None and mg.path is not None else {}
        self.path, self.file = mg.path, None

    def __call__(self, t):
        if t.name not in self.spans:
            return t.raw_data or None
        if self.file is None:
            self.file = open(self.path, "rb")  # the model file itself: its own bytes, never another file
        parts = []
        for _, offset, length in self.spans[t.name]:
            self.file.seek(offset)
            parts.append(self.file.read(length))
        return b"".join(parts)

    def close(self) -> None:
        if self.file is not None:
            self.file.close()


def _duplicate_weights(mg: ModelGraph, read_bytes) -> list[Finding]:
    seen: dict[tuple, str] = {}
    out = []
    in_file = _BytesInFile(mg)
    try:
        for t in mg.initializers.values():  # the load's records (dims, dtype), not protobuf reads
            if math.prod(t.dims) < 16:
                continue
            data = (read_bytes or in_file)(t.proto)
            if not data:
                continue
            key = (t.dtype, t.dims, hashlib.sha256(data).hexdigest())
            if key in seen:
                out.append(
                    _make(
                        "MA003",
                        t.name,
                        f"holds the same {_shape(t.dims)} {dtype_name(t.dtype)} bytes as "
                        f"'{seen[key]}'; one tensor could serve both",
                        wasted_bytes=len(data),
                    )
                )
            else:
                seen[key] = t.name
    finally:
        in_file.close()
    return out


def _foldable_batchnorm(mg: ModelGraph, report: Report) -> list[Finding]:
    rows = {r.index: r for r in report.rows if not r.scope}
    out = []
    for i, node in enumerate(mg.nodes):
        if node.op_type != "BatchNormalization" or not node.input:
            continue
        source = mg.producer.get(node.input[0])
        if source is None or mg.nodes[source].op_type not in ("Conv", "Gemm", "ConvTranspose", "MatMul"):
            continue
        if mg.dag.out_degree(source) != 1:
            continue  # the conv's output is read elsewhere too: folding would change that reader
        bn = rows.get(i)
        channels = bn.params // 2 if bn else 0
        had_bias = len(mg.nodes[source].input) > 2 and bool(mg.nodes[source].input[2])
        stored = (bn.params + bn.non_trainable - (0 if had_bias else channels)) if bn else 0
        flops = "its FLOPs (unknown until the sizes are)" if bn is None or bn.flops is None else f"{bn.flops:,} FLOPs"
        saved = f" (saves {stored:,} stored values and {flops})" if bn else ""
        out.append(
            _make(
                "MA004",
                node.name or f"#{i}",
                f"BatchNormalization after {mg.nodes[source].op_type} "
                f"'{mg.nodes[source].name}' folds into its weights and bias{saved}",
                wasted_bytes=4 * stored if bn else None,
                wasted_macs=0,
            )
        )
    return out


def _leftovers(mg: ModelGraph) -> list[Finding]:
    return [
        _make("MA005", n.name or f"#{i}", f"{n.op_type} node: a no-op at inference, usually left by the exporter")
        for i, n in enumerate(mg.nodes)
        if n.op_type in ("Identity", "Dropout") and n.domain in ("", "ai.onnx")
    ]


def _precision(mg: ModelGraph) -> list[Finding]:
    from onnx import TensorProto

    dtypes = Counter(map(attrgetter("dtype"), mg.initializers.values()))  # the load's records, not protobuf
    half = dtypes[TensorProto.FLOAT16]
    out = []
    if half and half >= (dtypes[TensorProto.FLOAT] + half) / 2:
        out += [
            _make(
                "MA006",
                t.name,
                f"float32 weight {_shape(t.dims)} in a model whose other weights are float16",
                wasted_bytes=math.prod(t.dims) * 2,
            )
            for t in mg.initializers.values()
            if t.dtype == TensorProto.FLOAT and math.prod(t.dims) > 1
        ]
    if TensorProto.DOUBLE in map(attrgetter("dtype"), mg.tensors.values()):
        out += [
            _make("MA007", name, "float64 tensor: rarely needed, twice the bytes and slow on most devices")
            for name, info in mg.tensors.items()
            if info.dtype == TensorProto.DOUBLE
        ]
    return out


def _large_constants(mg: ModelGraph) -> list[Finding]:
    out = []
    for i, node in enumerate(mg.nodes):
        if node.op_type != "Constant":
            continue
        for attr in node.attribute:
            if attr.name == "value":
                size = math.prod(attr.t.dims) * max(_bits(attr.t.data_type), 8) // 8
                if size >= LARGE_CONSTANT_BYTES:
                    out.append(
                        _make(
                            "MA009",
                            node.name or f"#{i}",
                            f"Constant node holding {size:,} bytes "
                            f"({_shape(attr.t.dims)}); store it as an initializer (external data, sharing)",
                        )
                    )
    return out


def _unresolved_inputs(mg: ModelGraph) -> list[Finding]:
    out = []
    for name in mg.inputs:
        info = mg.info(name)
        if info is None or info.shape is None:
            continue
        for d in info.shape:
            if isinstance(d, str) or d is None:
                label = d if isinstance(d, str) else "an unnamed dim"
                out.append(
                    _make(
                        "MA011",
                        name,
                        f"input '{name}' has {label} left symbolic: costs that depend on it "
                        f"are unknown (fix it with --dim or --input)",
                    )
                )
    return out


def _names(mg: ModelGraph) -> list[Finding]:
    counts = Counter(map(attrgetter("name"), mg.nodes))  # in order of first appearance
    missing = counts.pop("", 0)
    repeated = len(counts) + missing < len(mg.nodes)
    out = (
        [_make("MA012", name, f"{n} nodes share the name '{name}'") for name, n in counts.items() if n > 1]
        if repeated
        else []
    )
    if missing:
        out.append(_make("MA012", "graph", f"{missing} node(s) have no name"))
    return out


def select(findings: list[Finding], min_severity: str = "warning", ignore: set[str] | None = None) -> list[Finding]:
    """The findings at or above a severity, without the silenced codes."""
    floor = SEVERITIES.index(min_severity)
    return [f for f in findings if SEVERITIES.index(f.severity) >= floor and f.code not in (ignore or set())]


def sarif(findings: list[Finding], model_path: str | None) -> dict:
    """SARIF 2.1.0, the format code-scanning tools show on pull requests."""
    from modelaudit._version import __version__

    level = {"note": "note", "warning": "warning", "error": "error"}
    uri = model_path or "model.onnx"
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "modelaudit",
                        "version": __version__,
                        "informationUri": "docs/cli.md",
                        "rules": [
                            {
                                "id": code,
                                "shortDescription": {"text": text},
                                "defaultConfiguration": {"level": level[sev]},
                            }
                            for code, (sev, text) in CODES.items()
                        ],
                    }
                },
                "results": [
                    {
                        "ruleId": f.code,
                        "level": level[f.severity],
                        "message": {"text": f"{f.target}: {f.message}"},
                        "locations": [
                            {
                                "physicalLocation": {"artifactLocation": {"uri": uri}},
                                "logicalLocations": [{"name": f.target}],
                            }
                        ],
                    }
                    for f in findings
                ],
            }
        ],
    }
