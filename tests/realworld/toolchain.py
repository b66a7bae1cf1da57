"""The deployment toolchain's variants of an export (issue 24): each transform takes the path of a
base model and writes the transformed file, as a deployment engineer would run the tool."""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

__all__ = ["TRANSFORMS", "Base", "feeds", "record", "write_matrix"]


class Base:
    """A base model on disk: its path, its fixed input shapes and (for transformer models) what
    onnxruntime's transformers optimizer needs to know of it."""

    def __init__(self, name: str, path: Path, inputs: dict[str, tuple], kind: str, heads: int = 0, hidden: int = 0):
        self.name, self.path, self.inputs, self.kind = name, path, inputs, kind
        self.heads, self.hidden = heads, hidden


def feeds(path: Path, inputs: dict[str, tuple], seed: int = 0) -> dict[str, np.ndarray]:
    """Seeded feeds for the model's inputs: normal floats, small integer ids, masks of ones."""
    model = onnx.load(path, load_external_data=False)
    rng = np.random.default_rng(seed)
    out = {}
    for vi in model.graph.input:
        if vi.name not in inputs:
            continue
        dtype = helper.tensor_dtype_to_np_dtype(vi.type.tensor_type.elem_type)
        shape = inputs[vi.name]
        if np.issubdtype(dtype, np.floating):
            out[vi.name] = rng.standard_normal(shape).astype(dtype)
        elif "mask" in vi.name:
            out[vi.name] = np.ones(shape, dtype)
        elif "type" in vi.name:
            out[vi.name] = np.zeros(shape, dtype)
        else:
            out[vi.name] = rng.integers(0, 100, shape).astype(dtype)
    return out


@contextlib.contextmanager
def _quiet():
    """The quantizers and optimizers print and log progress; a test run wants none of it."""
    logging.disable(logging.WARNING)
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            yield
    finally:
        logging.disable(logging.NOTSET)


def fp16_converter(base: Base, out: Path) -> None:
    from onnxconverter_common import float16

    model = float16.convert_float_to_float16(onnx.load(base.path), keep_io_types=True)
    onnx.save(model, out)


def fp16_ort(base: Base, out: Path) -> None:
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = convert_float_to_float16(onnx.load(base.path), keep_io_types=True)
    onnx.save(model, out)


def opset(base: Base, out: Path) -> None:
    onnx.save(onnx.version_converter.convert_version(onnx.load(base.path), 21), out)


def external(base: Base, out: Path) -> None:
    """onnx's default threshold: tensors of 1 KiB or more go to the data file. (With 0, the shape
    tensors of Resize and Reshape go too, and modelaudit, which never reads external data, cannot
    fold them: those shapes are unknown and the report says so, incomplete, not wrong.)"""
    onnx.save(onnx.load(base.path), out, save_as_external_data=True, location=out.name + ".data")


def quantize_dynamic(base: Base, out: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with _quiet():
        quantize_dynamic(base.path, out, weight_type=QuantType.QInt8)


class _Reader:
    def __init__(self, base: Base):
        self.batches = iter([feeds(base.path, base.inputs, seed) for seed in range(2)])

    def get_next(self):
        return next(self.batches, None)


def _static(base: Base, out: Path, qdq: bool) -> None:
    from onnxruntime.quantization import QuantFormat, quantize_static

    fmt = QuantFormat.QDQ if qdq else QuantFormat.QOperator
    with _quiet():
        quantize_static(base.path, out, _Reader(base), quant_format=fmt)


def qdq_static(base: Base, out: Path) -> None:
    _static(base, out, qdq=True)


def qoperator_static(base: Base, out: Path) -> None:
    _static(base, out, qdq=False)


def matmul_4bits(base: Base, out: Path) -> None:
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    with _quiet():
        quantizer = MatMulNBitsQuantizer(onnx.load(base.path), block_size=16, is_symmetric=True)
        quantizer.process()
    quantizer.model.save_model_to_file(str(out))


def _ort_saved(level_name: str) -> Callable[[Base, Path], None]:
    def save(base: Base, out: Path) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, level_name)
        options.optimized_model_filepath = str(out)
        options.log_severity_level = 3
        ort.InferenceSession(str(base.path), options, providers=["CPUExecutionProvider"])

    save.__name__ = level_name.lower()
    return save


def transformers_optimizer(base: Base, out: Path) -> None:
    from onnxruntime.transformers.optimizer import optimize_model

    kind = base.kind if base.kind in ("bert", "gpt2", "vit") else "bert"
    with _quiet():
        model = optimize_model(str(base.path), model_type=kind, num_heads=base.heads, hidden_size=base.hidden)
    model.save_model_to_file(str(out))


def slim(base: Base, out: Path) -> None:
    import onnxslim

    with _quiet():
        onnx.save(onnxslim.slim(str(base.path)), out)


def simplify(base: Base, out: Path) -> None:
    import onnxsim

    with _quiet():
        model, ok = onnxsim.simplify(onnx.load(base.path), overwrite_input_shapes=base.inputs)
    assert ok, "onnxsim's own check failed"
    onnx.save(model, out)


MATMUL_LIKE = {"MatMul": 1, "Gemm": 1, "Conv": 1, "ConvTranspose": 1}


def int8_by_hand(base: Base, out: Path) -> None:
    """Every float weight of a MatMul, Gemm or Conv stored as int8 and dequantized in the graph by
    hand: int8 initializer -> Cast(float) -> Mul by a float scale (symmetric, per tensor)."""
    model = onnx.load(base.path)
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    readers: dict[str, int] = {}
    for node in graph.node:
        for name in node.input:
            readers[name] = readers.get(name, 0) + 1
    done: dict[str, str] = {}
    added = []
    for node in graph.node:
        slot = MATMUL_LIKE.get(node.op_type)
        if slot is None or slot >= len(node.input):
            continue
        name = node.input[slot]
        t = inits.get(name)
        if name not in done and (t is None or t.data_type != TensorProto.FLOAT or len(t.dims) < 2):
            continue
        if name not in done:
            w = numpy_helper.to_array(t)
            scale = float(np.abs(w).max() / 127) or 1.0
            q = np.clip(np.round(w / scale), -127, 127).astype(np.int8)
            graph.initializer.remove(t)
            graph.initializer.extend(
                [
                    numpy_helper.from_array(q, name + "_int8"),
                    numpy_helper.from_array(np.float32(scale), name + "_scale"),
                ]
            )
            added += [
                helper.make_node("Cast", [name + "_int8"], [name + "_float"], to=TensorProto.FLOAT),
                helper.make_node("Mul", [name + "_float", name + "_scale"], [name + "_dequantized"]),
            ]
            done[name] = name + "_dequantized"
        node.input[slot] = done[name]
    nodes = added + list(graph.node)  # before every reader: the graph stays in topological order
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.save(model, out)


TRANSFORMS: dict[str, Callable[[Base, Path], None]] = {
    "fp16_onnxconverter": fp16_converter,
    "fp16_ort": fp16_ort,
    "opset21": opset,
    "external_data": external,
    "quantize_dynamic": quantize_dynamic,
    "qdq_static": qdq_static,
    "matmul_4bits": matmul_4bits,
    "ort_basic": _ort_saved("ORT_ENABLE_BASIC"),
    "ort_extended": _ort_saved("ORT_ENABLE_EXTENDED"),
    "ort_all": _ort_saved("ORT_ENABLE_ALL"),
    "transformers_optimizer": transformers_optimizer,
    "qoperator_static": qoperator_static,
    "onnxslim": slim,
    "onnxsim": simplify,
    "int8_by_hand": int8_by_hand,
}


_ROWS: dict[tuple[str, str], tuple] = {}


def record(name: str, transform: str, report, reason: str | None) -> None:
    t = report.totals
    complete = t.macs.complete and t.params.complete and not report.uncounted
    _ROWS[(name, transform)] = (t.params, t.macs, complete, reason)


def write_matrix(target: str, exports: dict) -> None:
    """docs/validation.md's matrix: a row per transform, a column per base; `=` where MACs and params
    equal the export's and the report is complete, else the differences and a note saying why."""
    names = [n for n in exports if any(k[0] == n for k in _ROWS)]
    notes: list[str] = []
    lines = [
        "| base | params | MACs |",
        "|---|---|---|",
        *(f"| {n} | {exports[n].totals.params:,} | {exports[n].totals.macs:,} |" for n in names),
        "",
        "| transform | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for transform in TRANSFORMS:
        cells = []
        for name in names:
            row = _ROWS.get((name, transform))
            if row is None:
                cells.append("—")
                continue
            params, macs, complete, reason = row
            base = exports[name].totals
            parts = [f"params {params - base.params:+,}"] if params != base.params else []
            if macs != base.macs:
                parts.append(f"MACs {100 * (macs - base.macs) / base.macs:+.1f} %")
            for part in reason.split("; ") if reason else ():
                if part not in notes:
                    notes.append(part)
                parts.append(f"({chr(ord('a') + notes.index(part))})")
            cell = " ".join(parts) or "="
            cells.append(cell if complete else cell + " incomplete")
        lines.append(f"| {transform} | " + " | ".join(cells) + " |")
    lines += ["", *(f"({chr(ord('a') + i)}) {note}." for i, note in enumerate(notes))]
    Path(target).write_text("\n".join(lines) + "\n", encoding="utf-8")
