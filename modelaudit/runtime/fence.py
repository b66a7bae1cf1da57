"""Runs a model in onnxruntime inside a fenced child process: an address-space limit, a wall-clock
timeout and a temporary working directory. The parent is never killed by what the model does."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field

import numpy as np

from modelaudit.errors import ResourceLimitError

__all__ = ["RunRequest", "RunResult", "RuntimeFailure", "run_fenced", "OVERHEAD_BYTES", "PROVIDERS", "installed"]

OVERHEAD_BYTES = 1 << 30  # the interpreter, numpy and onnxruntime themselves, beyond --max-memory
_SMALL = 16  # integer/bool outputs this small are sent back by value (If conditions, trip counts)


@dataclass
class RunRequest:
    model: bytes  # serialized, external data already loaded
    feeds: dict[str, np.ndarray]
    outputs: list[str]  # tensors whose shapes we want
    memory_limit: int
    timeout: float
    threads: int
    profile_model: bytes | None = None  # the model as shipped, for timing
    runs: int = 10
    warmup: int = 1
    optimization: str = "disable"
    provider: str = "cpu"  # --provider: the execution provider that times the model (PROVIDERS)


@dataclass
class RunResult:
    shapes: dict[str, tuple]
    values: dict[str, object]
    ort_version: str
    provider: str = "CPUExecutionProvider"  # the provider the timed session ran on first
    profile_events: list[dict] = field(default_factory=list)
    optimized: list | None = None  # the timed session's optimized graph (runtime/attribution.py), if optimized


# --provider -> onnxruntime's providers, in order of preference (CPU runs what the other cannot)
PROVIDERS = {"cpu": ["CPUExecutionProvider"], "cuda": ["CUDAExecutionProvider", "CPUExecutionProvider"]}


def installed(provider: str) -> bool:
    """Whether this onnxruntime ships the provider's library (onnxruntime-gpu ships CUDA's), found
    without importing onnxruntime into this process."""
    if provider == "cpu":
        return True
    import glob
    import importlib.util

    spec = importlib.util.find_spec("onnxruntime")
    folders = (spec.submodule_search_locations or []) if spec is not None else []
    return any(glob.glob(os.path.join(f, "capi", f"*onnxruntime_providers_{provider}*")) for f in folders)


class RuntimeFailure(Exception):
    """onnxruntime could not run the model (an op it lacks, an invalid graph); the static report stands."""


_LEVELS = {
    "disable": "ORT_DISABLE_ALL",
    "basic": "ORT_ENABLE_BASIC",
    "extended": "ORT_ENABLE_EXTENDED",
    "all": "ORT_ENABLE_ALL",
}


def _options(ort, threads: int, optimization: str, profile_dir: str | None = None):
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, _LEVELS[optimization])
    options.log_severity_level = 3
    if profile_dir:
        options.enable_profiling = True
        options.profile_file_prefix = os.path.join(profile_dir, "profile")
    return options


def _child(request: RunRequest) -> tuple[str, object]:
    """Runs in the child process; returns ("ok", RunResult) or (kind, message)."""
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (request.memory_limit, request.memory_limit))
    except (ImportError, ValueError, OSError):
        pass  # not on Linux: the timeout still fences the run
    try:
        with tempfile.TemporaryDirectory(prefix="modelaudit-") as work:
            os.chdir(work)
            return "ok", _run(request, work)
    except MemoryError:
        return "memory", "onnxruntime ran out of the memory allowed by --max-memory"
    except Exception as exc:  # onnxruntime raises its own exception types
        text = f"{type(exc).__name__}: {exc}"
        memory = any(k in text for k in ("bad_alloc", "Failed to allocate", "MemoryError"))
        return ("memory", "out of memory") if memory else ("runtime", text)


def _child_main() -> None:
    """`python -m modelaudit.runtime.child`: a request pickled on stdin, the answer pickled on stdout."""
    request = pickle.load(sys.stdin.buffer)
    answer = _child(request)
    sys.stdout.buffer.write(pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL))
    sys.stdout.buffer.flush()


def _run(request: RunRequest, work: str) -> RunResult:
    import onnxruntime as ort

    run_options = ort.RunOptions()
    session = ort.InferenceSession(
        request.model, _options(ort, request.threads, "disable"), providers=["CPUExecutionProvider"]
    )
    arrays = session.run(request.outputs, request.feeds, run_options)
    shapes, values = {}, {}
    for name, array in zip(request.outputs, arrays):
        array = np.asarray(array) if not isinstance(array, list) else None
        if array is None:
            continue
        shapes[name] = tuple(int(d) for d in array.shape)
        if array.size <= _SMALL and (array.dtype == bool or np.issubdtype(array.dtype, np.integer)):
            values[name] = array.tolist()
    del arrays
    result = RunResult(shapes, values, ort.__version__, "CPUExecutionProvider")
    if request.profile_model is not None:
        result.profile_events, result.optimized, result.provider = _profile(ort, request, work)
    return result


def _profile(ort, request: RunRequest, work: str) -> tuple[list[dict], list | None, str]:
    """The timed runs' events, the optimized graph's nodes (None unoptimized) and the provider."""
    import json

    from .attribution import keep_optimized, optimized_nodes

    options = _options(ort, request.threads, request.optimization, work)
    optimized = request.optimization != "disable"
    if optimized:  # its kernels are named after the optimized graph: save it, to trace them back
        keep_optimized(options, work)
    session = ort.InferenceSession(request.profile_model, options, providers=PROVIDERS[request.provider])
    for _ in range(request.warmup + request.runs):
        session.run(None, request.feeds)
    with open(session.end_profiling(), encoding="utf-8") as fh:
        events = json.load(fh)
    keep = []
    for e in events:
        name = e.get("name", "")
        if e.get("cat") == "Session" and name == "model_run":
            keep.append({"kind": "run", "ts": e["ts"], "dur": e["dur"]})
        elif e.get("cat") == "Node" and name.endswith("_kernel_time"):
            keep.append(
                {
                    "kind": "node",
                    "name": name[: -len("_kernel_time")],
                    "ts": e["ts"],
                    "dur": e["dur"],
                    "op": e.get("args", {}).get("op_name", ""),
                    "provider": e.get("args", {}).get("provider", ""),
                }
            )
    return keep, optimized_nodes(work) if optimized else None, session.get_providers()[0]


def run_fenced(request: RunRequest) -> RunResult:
    """Runs `request` in a fresh Python process. Raises ResourceLimitError (exit 5) when it hits the
    memory or time limit, RuntimeFailure when onnxruntime refuses the model."""
    process = subprocess.Popen(
        [sys.executable, "-m", "modelaudit.runtime.child"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        out, err = process.communicate(pickle.dumps(request, protocol=pickle.HIGHEST_PROTOCOL), timeout=request.timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise ResourceLimitError(
            f"the onnxruntime run took longer than --timeout {request.timeout:g} s and was stopped",
            "raise --timeout, or fix the shapes with --input/--dim",
        ) from None
    try:
        kind, payload = pickle.loads(out) if out else ("crash", None)
    except (pickle.UnpicklingError, EOFError, ValueError):
        kind, payload = "crash", None
    if kind == "ok" and isinstance(payload, RunResult):
        return payload
    if kind == "memory" or (kind == "crash" and process.returncode in (-9, -6, -11)):
        raise ResourceLimitError(
            f"onnxruntime needed more than --max-memory {request.memory_limit - OVERHEAD_BYTES:,} "
            "bytes and was stopped",
            "raise --max-memory, or use smaller input shapes",
        )
    if kind == "crash":
        last = err.decode(errors="replace").strip().splitlines()[-1:] if err else []
        raise RuntimeFailure(
            f"the onnxruntime process died (exit code {process.returncode}"
            + (f": {last[0][:200]}" if last else "")
            + ")"
        )
    raise RuntimeFailure(" ".join(str(payload).split())[:500])
