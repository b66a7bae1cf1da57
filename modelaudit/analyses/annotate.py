"""An annotated copy of a model for Netron: inferred shapes in value_info, each node's costs in its
doc_string and metadata_props. Weights are copied byte for byte; external data stays referenced."""

from __future__ import annotations

import os
from pathlib import Path

import onnx
from onnx import ModelProto, TensorProto, helper

from modelaudit.costs.analyze import analyze
from modelaudit.costs.report import Report
from modelaudit.errors import UsageError
from modelaudit.graph.model import ModelGraph, load
from modelaudit.load.external import external_refs
from modelaudit.load.reader import read_model

__all__ = ["annotate", "annotate_model", "PREFIX"]

PREFIX = "modelaudit."  # metadata_props keys: modelaudit.params, modelaudit.macs…


def _value_info(name: str, shape: tuple | None, dtype: int):
    """A ValueInfoProto; a symbolic dim keeps its name, an unknown one stays blank."""
    vi = helper.make_tensor_value_info(name, dtype or TensorProto.UNDEFINED, None)
    if shape is not None:
        dims = vi.type.tensor_type.shape.dim
        vi.type.tensor_type.shape.SetInParent()  # rank 0 (a scalar) is a shape too
        for d in shape:
            dim = dims.add()
            if isinstance(d, int):
                dim.dim_value = d
            elif isinstance(d, str):
                dim.dim_param = d
    return vi


def _text(value) -> str:
    return "unknown" if value is None else f"{value:,}"


def annotate_model(model: ModelProto, mg: ModelGraph, report: Report) -> dict:
    """Writes the shapes and costs into `model` (the full copy of mg's model); returns counts."""
    graph = model.graph
    shapes = _shapes_into(graph, mg)
    by_scope: dict[str, dict[int, object]] = {}  # rows of a subgraph are scoped "<parent row>/<attribute>"
    for r in report.rows:
        by_scope.setdefault(r.scope, {})[r.index] = r
    nodes = _annotate_nodes(graph, "", by_scope)
    return {"shapes": shapes, "nodes": nodes}


def _shapes_into(graph, mg: ModelGraph) -> int:
    """The inferred shapes into one graph's value_info (and its declared inputs and outputs that
    have none), then into its subgraphs' (If branches, Loop and Scan bodies): a subgraph's
    tensors are inferred too, per iteration. Returns how many shapes were written."""
    weights = {t.name for t in graph.initializer}
    declared = {vi.name for vi in graph.input} | {vi.name for vi in graph.output}
    produced = [o for node in graph.node for o in node.output if o]
    given = {vi.name: vi for vi in graph.value_info}  # what the file said: kept where nothing was inferred
    written, shapes = [], 0
    for name in produced:
        info = mg.tensors.get(name)
        if name in weights or name in declared:
            continue
        if info is None or not info.dtype:  # not inferred, or not a tensor (a sequence, an optional): the file's entry
            written += [given[name]] if name in given else []
            continue
        written.append(_value_info(name, info.shape, info.dtype))
        shapes += 1
    outputs = set(produced)
    written += [vi for name, vi in given.items() if name not in outputs]
    del graph.value_info[:]
    graph.value_info.extend(written)
    for vi in list(graph.input) + list(graph.output):  # declared types, with the inferred shape where it was left out
        info = mg.tensors.get(vi.name)
        if info is not None and info.shape is not None and not vi.type.tensor_type.HasField("shape"):
            vi.CopyFrom(_value_info(vi.name, info.shape, info.dtype or vi.type.tensor_type.elem_type))
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                shapes += _shapes_into(attr.g, mg)
            elif attr.type == onnx.AttributeProto.GRAPHS:
                shapes += sum(_shapes_into(g, mg) for g in attr.graphs)
    return shapes


def _annotate_nodes(graph, scope: str, by_scope: dict) -> int:
    """Each node's costs into its doc_string and metadata_props, then its subgraphs' nodes."""
    rows, count = by_scope.get(scope, {}), 0
    for i, node in enumerate(graph.node):
        row = rows.get(i)  # index: the node's position in its own graph
        if row is None:
            continue
        _annotate_node(node, row)
        count += 1
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                count += _annotate_nodes(attr.g, f"{row.name}/{attr.name}", by_scope)
    return count


def _annotate_node(node, row) -> None:
    note = (
        f"modelaudit: params {row.params:,}, MACs {_text(row.macs_total)}, FLOPs {_text(row.flops_total)}"
        + (f"; {row.formula}" if row.formula else "")
        + f" [{row.status}]"
    )
    node.doc_string = f"{node.doc_string}\n{note}" if node.doc_string else note
    # NodeProto.metadata_props came with IR 10 (onnx 1.16); an older reader skips the field
    props = {
        "params": row.params,
        "macs": _text(row.macs_total),
        "flops": _text(row.flops_total),
        "formula": row.formula,
        "status": row.status,
    }
    kept = [p for p in node.metadata_props if not p.key.startswith(PREFIX)]
    del node.metadata_props[:]
    node.metadata_props.extend(kept)
    for key, value in props.items():
        node.metadata_props.add(key=PREFIX + key, value=str(value))


def _refuse_output(source: Path, output: Path, locations: set[str]) -> None:
    """-o may name neither the model (through a hard or symbolic link too), nor a file its external
    data lives in, nor a symbolic link (which would write wherever it points, maybe outside)."""
    if output.is_symlink():
        raise UsageError(f"-o {output}: is a symbolic link; name a plain file (annotate never writes through a link)")
    if output.exists() and os.path.samefile(output, source):
        raise UsageError(f"-o {output}: is the model itself; annotate writes a copy")
    try:
        folder, resolved = source.resolve().parent, output.resolve()
    except (OSError, RuntimeError):  # a link loop on the way (pathlib raises RuntimeError for it)
        raise UsageError(f"-o {output}: its path holds a symbolic link loop; name a plain file") from None
    if locations and resolved.parent != folder:
        raise UsageError(
            f"-o {output}: write the copy beside the model, in {folder}: "
            "its external data is referenced by a path relative to the model's folder"
        )
    taken = {(folder / loc).resolve() for loc in locations}
    if resolved in taken or (output.exists() and any(p.exists() and os.path.samefile(output, p) for p in taken)):
        raise UsageError(f"-o {output}: holds the model's external data; annotate writes a copy beside it")


def annotate(
    source: str | os.PathLike, output: str | os.PathLike, inputs: dict | None = None, dims: dict | None = None
) -> dict:
    """Audits `source` and writes its annotated copy to `output`; returns what was written."""
    source, output = Path(source), Path(output)
    _refuse_output(source, output, set())  # before the audit: the cheap refusals first
    mg = load(source, inputs=inputs, dims=dims)  # checks the file and its external data (never opened)
    report = analyze(mg)
    model, _ = read_model(source, full=True)  # the model file's own bytes; external data is not read
    _refuse_output(source, output, {ref.location for ref in external_refs(model)})  # any tensor, subgraphs too
    counts = annotate_model(model, mg, report)
    try:  # the bytes as they are: onnx.save would also look for external data to write
        # O_NOFOLLOW: a link put in place since the check above is refused, not written through
        fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o666)
        with os.fdopen(fd, "wb") as f:
            f.write(model.SerializeToString())
    except OSError as exc:
        raise UsageError(f"-o {output}: cannot write ({exc.strerror})") from None
    return counts
