"""Audit findings: what is wrong or wasteful in a model, each with a stable code (MA001…)."""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass
from itertools import chain

from modelaudit.costs.report import Report
from modelaudit.graph.model import ModelGraph
from modelaudit.load.dtypes import dtype_name

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
        return asdict(self)


def _make(code: str, target: str, message: str, **waste) -> Finding:
    return Finding(code, CODES[code][0], target, message, **waste)


def find(mg: ModelGraph, report: Report, read_bytes=None) -> list[Finding]:
    """Every finding, in code order. `read_bytes(tensor)` gives a tensor's bytes for hashing
    (None: hash only what is in memory)."""
    out: list[Finding] = []
    out += _dead_nodes(mg)
    out += _unused_initializers(mg)
    out += _duplicate_weights(mg, read_bytes)
    out += _foldable_batchnorm(mg, report)
    out += _leftovers(mg)
    out += _precision(mg)
    if mg.order != list(range(len(mg.order))):
        out.append(_make("MA008", "graph", "nodes are not in topological order in the file; many tools need them sorted"))
    out += _large_constants(mg)
    opset = mg.opset("")
    if 0 < opset < OLDEST_GOOD_OPSET:
        out.append(_make("MA010", "opset_import", f"default-domain opset {opset}; re-export with opset "
                         f"{OLDEST_GOOD_OPSET} or later for onnxruntime's kernels and optimizations"))
    out += _unresolved_inputs(mg)
    out += _names(mg)
    if mg.checker is not None and not mg.checker["valid"]:
        out.append(_make("MA013", "model", f"onnx.checker: {mg.checker['error']}"))
    return out


def _dead_nodes(mg: ModelGraph) -> list[Finding]:
    readers_of: dict[int, list[int]] = {}  # v -> the nodes v reads from; a plain walk, no graph object
    for u, v in mg.edges:
        readers_of.setdefault(v, []).append(u)
    alive = {mg.producer[o] for o in mg.outputs if o in mg.producer}
    stack = list(alive)
    while stack:
        for u in readers_of.get(stack.pop(), ()):
            if u not in alive:
                alive.add(u)
                stack.append(u)
    return [_make("MA001", mg.nodes[i].name or f"#{i} {mg.nodes[i].op_type}",
                  f"{mg.nodes[i].op_type} node whose outputs no graph output depends on")
            for i in range(len(mg.nodes)) if i not in alive]


def _read_names(mg: ModelGraph) -> set[str]:
    views = mg.views
    if not any(v.has_graph for v in views):  # no subgraph: the load's own node records
        read = set(chain.from_iterable(v.input for v in views))
        read.discard("")
        return read
    from modelaudit.graph.walk import flatten, walk

    return {name for v in flatten(walk(mg)) for name in v.node.input if name}


def _unused_initializers(mg: ModelGraph) -> list[Finding]:
    read = _read_names(mg) | set(mg.outputs)
    out = []
    # the load's records (names unique: a name defined twice is refused), not 30,000 protobuf reads
    for t in mg.initializers.values():
        if t.name not in read:
            size = (math.prod(t.dims) * (max(_bits(t.dtype), 8))) // 8
            out.append(_make("MA002", t.name, f"initializer {_shape(t.dims)} {dtype_name(t.dtype)} that no node "
                             "reads", wasted_bytes=size))
    return out


def _bits(dtype: int) -> int:
    from modelaudit.load.dtypes import dtype_bits

    return dtype_bits(dtype) or 0


def _shape(dims) -> str:
    return "x".join(str(d) for d in dims) or "scalar"


def _bytes_in_file(mg: ModelGraph):
    """Reads the data a tensor left in the model file itself (never external data: hashing it is
    optional, and reading it is --verify's business)."""
    spans = mg.weights_in_file.spans if mg.weights_in_file is not None else {}
    if not spans or mg.path is None:
        return lambda t: t.raw_data or None

    def read(t):
        if t.name not in spans:
            return t.raw_data or None
        with open(mg.path, "rb") as fh:  # the model file itself: its own bytes, never another file
            parts = []
            for _, offset, length in spans[t.name]:
                fh.seek(offset)
                parts.append(fh.read(length))
        return b"".join(parts)

    return read


def _duplicate_weights(mg: ModelGraph, read_bytes) -> list[Finding]:
    seen: dict[tuple, str] = {}
    out = []
    read_bytes = read_bytes or _bytes_in_file(mg)
    for t in mg.model.graph.initializer:
        if math.prod(t.dims) < 16:
            continue
        data = read_bytes(t)
        if not data:
            continue
        key = (t.data_type, tuple(t.dims), hashlib.sha256(data).hexdigest())
        if key in seen:
            out.append(_make("MA003", t.name, f"holds the same {_shape(t.dims)} {dtype_name(t.data_type)} bytes as "
                             f"'{seen[key]}'; one tensor could serve both", wasted_bytes=len(data)))
        else:
            seen[key] = t.name
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
        saved = f" (saves {stored:,} stored values and {bn.flops or 0:,} FLOPs)" if bn else ""
        out.append(_make("MA004", node.name or f"#{i}", f"BatchNormalization after {mg.nodes[source].op_type} "
                         f"'{mg.nodes[source].name}' folds into its weights and bias{saved}",
                         wasted_bytes=4 * stored if bn else None, wasted_macs=0))
    return out


def _leftovers(mg: ModelGraph) -> list[Finding]:
    return [_make("MA005", n.name or f"#{i}", f"{n.op_type} node: a no-op at inference, usually left by the exporter")
            for i, n in enumerate(mg.nodes) if n.op_type in ("Identity", "Dropout") and n.domain in ("", "ai.onnx")]


def _precision(mg: ModelGraph) -> list[Finding]:
    from onnx import TensorProto

    inits = list(mg.model.graph.initializer)
    floats = [t for t in inits if t.data_type in (TensorProto.FLOAT, TensorProto.FLOAT16)]
    half = sum(1 for t in floats if t.data_type == TensorProto.FLOAT16)
    out = []
    if half and half >= len(floats) / 2:
        out += [_make("MA006", t.name, f"float32 weight {_shape(t.dims)} in a model whose other weights are float16",
                      wasted_bytes=math.prod(t.dims) * 2)
                for t in floats if t.data_type == TensorProto.FLOAT and math.prod(t.dims) > 1]
    for name, info in mg.tensors.items():
        if info.dtype == TensorProto.DOUBLE:
            out.append(_make("MA007", name, "float64 tensor: rarely needed, twice the bytes and slow on most devices"))
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
                    out.append(_make("MA009", node.name or f"#{i}", f"Constant node holding {size:,} bytes "
                                     f"({_shape(attr.t.dims)}); store it as an initializer (external data, sharing)"))
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
                out.append(_make("MA011", name, f"input '{name}' has {label} left symbolic: costs that depend on it "
                                 f"are unknown (fix it with --dim or --input)"))
    return out


def _names(mg: ModelGraph) -> list[Finding]:
    counts: dict[str, int] = {}
    missing = 0
    for node in mg.nodes:
        if node.name:
            counts[node.name] = counts.get(node.name, 0) + 1
        else:
            missing += 1
    out = [_make("MA012", name, f"{n} nodes share the name '{name}'") for name, n in counts.items() if n > 1]
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
        "runs": [{
            "tool": {"driver": {"name": "modelaudit", "version": __version__, "informationUri": "docs/cli.md",
                                "rules": [{"id": code, "shortDescription": {"text": text},
                                           "defaultConfiguration": {"level": level[sev]}}
                                          for code, (sev, text) in CODES.items()]}},
            "results": [{"ruleId": f.code, "level": level[f.severity],
                         "message": {"text": f"{f.target}: {f.message}"},
                         "locations": [{"physicalLocation": {"artifactLocation": {"uri": uri}},
                                        "logicalLocations": [{"name": f.target}]}]} for f in findings],
        }],
    }
