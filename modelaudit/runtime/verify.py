"""--verify and --profile: run the model once in onnxruntime, prove every static shape, time every layer."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from onnx import ModelProto, TensorProto, ValueInfoProto, helper

from modelaudit.costs.analyze import analyze
from modelaudit.costs.cost import dims_str
from modelaudit.costs.report import Report
from modelaudit.errors import ResourceLimitError, UsageError
from modelaudit.graph.model import ModelGraph
from modelaudit.load.dtypes import tensor_bytes
from modelaudit.load.external import load_external
from modelaudit.load.inline import inline_functions
from modelaudit.load.reader import read_model
from modelaudit.shapes.infer import TensorInfo

from .fence import OVERHEAD_BYTES, PROVIDERS, RunRequest, RuntimeFailure, installed, run_fenced

__all__ = ["RuntimeOptions", "check", "load_input_data", "input_shapes_of"]

DEFAULT_MAX_MEMORY = 4 << 30


@dataclass
class RuntimeOptions:
    verify: bool = True
    profile: bool = False
    input_data: dict[str, np.ndarray] | None = None
    runs: int = 10
    warmup: int = 1
    max_memory: int = DEFAULT_MAX_MEMORY
    timeout: float = 300.0
    threads: int = 0  # 0: the machine's cores
    seed: int = 0
    optimization: str = "disable"
    provider: str = "cpu"  # --profile's execution provider (fence.PROVIDERS)


def load_input_data(path: str | os.PathLike, input_names: list[str] | None = None) -> dict[str, np.ndarray]:
    """Arrays from an .npz (by input name) or an .npy (the model's single input); never unpickles."""
    path = Path(path)
    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise UsageError(f"--input-data {path}: cannot be read as .npz or .npy ({exc})") from None
    if not isinstance(loaded, np.ndarray):  # an .npz archive
        with loaded:
            return {k: loaded[k] for k in loaded.files}
    array = loaded
    if not input_names or len(input_names) != 1:
        raise UsageError(
            f"--input-data {path}: a .npy holds one array, but the model has "
            f"{len(input_names or [])} inputs; use an .npz keyed by input name"
        )
    return {input_names[0]: array}


def input_shapes_of(data: dict[str, np.ndarray]) -> dict[str, tuple]:
    return {name: tuple(int(d) for d in array.shape) for name, array in data.items()}


def _feeds(mg: ModelGraph, options: RuntimeOptions) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(options.seed)
    given = options.input_data or {}
    unknown = set(given) - set(mg.inputs)
    if unknown:
        raise UsageError(
            f"--input-data has arrays for {', '.join(sorted(unknown))}, which are not model inputs",
            f"its inputs are: {', '.join(mg.inputs)}",
        )
    feeds = {}
    for name in mg.inputs:
        info = mg.info(name)
        dtype = info.dtype if info else 0
        try:
            np_type = helper.tensor_dtype_to_np_dtype(dtype) if dtype else np.dtype(np.float32)
        except KeyError:  # an element type ONNX does not define: no array can be made for it
            raise RuntimeFailure(f"input '{name}' has element type {dtype}, which ONNX does not define") from None
        if name in given:
            feeds[name] = np.asarray(given[name]).astype(np_type, copy=False)
            continue
        if info is None or not info.known:
            shape = dims_str(info.shape if info else None)
            flag = "--verify" if options.verify or not options.profile else "--profile"
            raise UsageError(
                f"{flag} needs a concrete shape for input '{name}' ({shape})",
                f"fix it with --input {name}=... or --dim NAME=N",
            )
        dims = tuple(d for d in info.shape or () if isinstance(d, int))  # known: every dim is one
        if np.issubdtype(np_type, np.floating):
            feeds[name] = rng.standard_normal(dims).astype(np_type)
        else:  # integers (ids, indices) and booleans: zeros are always in range
            feeds[name] = np.zeros(dims, np_type)
    return feeds


def _observed(mg: ModelGraph) -> list[str]:
    names, seen = [], set()
    for index in mg.order:
        for name in mg.nodes[index].output:
            if name and name not in seen:
                seen.add(name)
                names.append(name)
    return names


def _named_copy(mg: ModelGraph, extra_outputs: list[str]) -> tuple[bytes, dict[str, int]]:
    """A copy with every node named uniquely (profiles are keyed by name) and extra graph outputs."""
    if mg.weights_in_file is not None and mg.path is not None:
        copy = read_model(mg.path)[0]  # the weights stayed in the file: read them now
    else:
        copy = ModelProto()
        copy.CopyFrom(mg.model)
    load_external(copy, mg.folder)
    inline_functions(copy)  # as the audit did: the tensors observed are those of the inlined graph
    names: dict[str, int] = {}
    for index, node in enumerate(copy.graph.node):
        if not node.name or node.name in names:
            node.name = f"modelaudit_node_{index}"
        names[node.name] = index
    present = {vi.name for vi in copy.graph.output}
    copy.graph.output.extend(ValueInfoProto(name=n) for n in extra_outputs if n not in present)
    return copy.SerializeToString(), names


def _needed_bytes(mg: ModelGraph, report: Report, observed: list[str], given: dict[str, np.ndarray]) -> int:
    """What the verify run holds at once, from static shapes, before anything is allocated: weights,
    inputs, and every observed tensor (each is a graph output of the run)."""
    # at least what is known of the weights: the guard refuses only a run that surely needs too much
    total = int(report.totals.weight_bytes.lower or 0) + sum(a.nbytes for a in given.values())
    for name in [n for n in mg.inputs if n not in given] + observed:
        info = mg.info(name)
        if info is not None and info.known:
            total += tensor_bytes(math.prod(d for d in info.shape or () if isinstance(d, int)), info.dtype) or 0
    return total


def check(mg: ModelGraph, report: Report, options: RuntimeOptions) -> tuple[Report, bool]:
    """Runs the model; returns the report with a verification (and profile) section, and whether
    every shape was verified. A model onnxruntime cannot run keeps its static report."""
    if options.profile and not installed(options.provider):
        raise UsageError(
            f"--provider {options.provider}: this onnxruntime has no {PROVIDERS[options.provider][0]}",
            "install onnxruntime-gpu (in place of onnxruntime) on a machine with a CUDA GPU",
        )
    observed = _observed(mg) if options.verify else []
    needed = _needed_bytes(mg, report, observed, options.input_data or {})
    if needed > options.max_memory:
        raise ResourceLimitError(
            f"the run would need about {needed:,} bytes ({needed / 2**30:.1f} GiB) for weights, "
            f"inputs and every intermediate tensor, over --max-memory {options.max_memory:,}",
            "raise --max-memory, or use smaller input shapes",
        )
    try:
        feeds = _feeds(mg, options)
        model_bytes, names = _named_copy(mg, observed)
        profile_bytes = _named_copy(mg, [])[0] if options.profile else None
        request = RunRequest(
            model=model_bytes,
            feeds=feeds,
            outputs=observed or list(mg.outputs),
            memory_limit=options.max_memory + OVERHEAD_BYTES,
            timeout=options.timeout,
            threads=options.threads or (os.cpu_count() or 1),
            profile_model=profile_bytes,
            runs=options.runs,
            warmup=options.warmup,
            optimization=options.optimization,
            provider=options.provider,
        )
        result = run_fenced(request)
    except RuntimeFailure as exc:  # the static report stands; with --verify, nothing was verified: a failed check
        report.runtime = {"skipped": f"onnxruntime cannot run this model: {exc}"}
        report.warnings.append(report.runtime["skipped"])
        return report, not options.verify
    ok = True
    if options.verify:
        report, ok = _verified(mg, report, result)
    if options.profile:
        from .profile import attach_profile

        attach_profile(report, result, names, request, mg)
    report.runtime = {
        "onnxruntime": result.ort_version,
        "provider": result.provider,
        "threads": request.threads,
        "inputs": {k: dims_str(v.shape) for k, v in feeds.items()},
        "input_source": "--input-data and generated"
        if options.input_data
        else f"generated (seed {options.seed}: normal floats, zero integers)",
    }
    return report, ok


def _verified(mg: ModelGraph, report: Report, result) -> tuple[Report, bool]:
    matched, mismatches, runtime_shaped = 0, [], set()
    for name, shape in result.shapes.items():
        info = mg.info(name)
        if info is not None and info.known:
            if tuple(info.shape or ()) == shape:
                matched += 1
            else:
                producer = mg.producer.get(name)
                mismatches.append(
                    {
                        "tensor": name,
                        "node": mg.nodes[producer].name if producer is not None else "",
                        "static": dims_str(info.shape),
                        "runtime": dims_str(shape),
                    }
                )
        else:
            runtime_shaped.add(name)
            dtype = info.dtype if info is not None else TensorProto.FLOAT
            mg.tensors[name] = TensorInfo(name, shape, dtype)
    if runtime_shaped:  # costs of rows whose shapes only the run could tell
        warnings, verification_report = report.warnings, analyze(mg)
        verification_report.warnings = warnings
        report = verification_report
        shaped = [not row.scope and not runtime_shaped.isdisjoint(mg.nodes[row.index].output) for row in report.rows]
        report.tables["verify"] = {"runtime_shaped": shaped}
    branches = []
    for index in mg.order:
        node = mg.nodes[index]
        if node.op_type == "If" and node.input and node.input[0] in result.values:
            taken = "then_branch" if bool(np.asarray(result.values[node.input[0]]).reshape(-1)[0]) else "else_branch"
            branches.append({"node": node.name or f"If_{index}", "branch": taken})
    report.verification = {
        "tensors": len(result.shapes),
        "verified": matched,
        "runtime_shaped": len(runtime_shaped),
        "mismatches": mismatches,
        "if_branches": branches,
        "note": "tensors inside If/Loop/Scan subgraphs are not observable from outside",
    }
    return report, not mismatches
