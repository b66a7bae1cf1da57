"""--hardware calibrate: this machine's attainable FLOP/s per dtype (a large MatMul), bandwidth (a large
elementwise copy) and per-node overhead (a one-element Add), measured by onnxruntime in the fenced child."""

from __future__ import annotations

import os
import platform

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from .fence import RunRequest, RuntimeFailure, run_fenced

__all__ = ["calibrate"]

MATMUL = (512, 512, 512)  # M, K, N: 0.27 GFLOP per product, short enough that the fastest of many runs
# escapes the other processes of a busy machine; B constant, prepacked as for a layer's weights
COPY_ELEMENTS = 16 << 20  # 64 MiB of float32 read and 64 MiB written: past most caches
_L2_FALLBACK = 1 << 20  # a core's L2 where the system does not say


def cache_bytes() -> int:
    """A core's L2 cache in bytes (sysfs), or 1 MiB: a node whose bytes moved fit in it may stream
    them from cache rather than from memory."""
    import glob

    for index in sorted(glob.glob("/sys/devices/system/cpu/cpu0/cache/index*")):
        try:
            with open(f"{index}/level") as fh:
                level = fh.read().strip()
            with open(f"{index}/size") as fh:
                size = fh.read().strip().upper()
        except OSError:
            continue
        if level == "2" and size[:-1].isdigit():
            return int(size[:-1]) << {"K": 10, "M": 20, "G": 30}.get(size[-1], 0)
    return _L2_FALLBACK


def _model(nodes, inputs, outputs, inits=()):
    graph = helper.make_graph(nodes, "calibrate", inputs, outputs, initializer=list(inits))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def _matmul(dtype: int, np_dtype) -> tuple[bytes, dict]:
    m, k, n = MATMUL
    rng = np.random.default_rng(0)
    weight = numpy_helper.from_array(rng.standard_normal((k, n)).astype(np_dtype), "b")
    model = _model(
        [helper.make_node("MatMul", ["a", "b"], ["y"], name="matmul")],
        [helper.make_tensor_value_info("a", dtype, [m, k])],
        [helper.make_tensor_value_info("y", dtype, [m, n])],
        [weight],
    )
    return model, {"a": rng.standard_normal((m, k)).astype(np_dtype)}


def _copy(elements: int, name: str, tiny: bool) -> tuple[bytes, dict]:
    """A copy of `elements` floats (x + 0), and with `tiny` a one-element Add for the launch overhead."""
    nodes = [helper.make_node("Add", ["x", "zero"], ["y"], name=name)]
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [elements])]
    feeds = {"x": np.ones(elements, np.float32)}
    if tiny:
        nodes.append(helper.make_node("Add", ["t", "zero"], ["u"], name="tiny"))
        inputs.append(helper.make_tensor_value_info("t", TensorProto.FLOAT, [1]))
        feeds["t"] = np.ones(1, np.float32)
    outputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in ("y", "u")[: len(nodes)]]
    zero = numpy_helper.from_array(np.zeros((), np.float32), "zero")
    return _model(nodes, inputs, outputs, [zero]), feeds


def _best_ms(
    model: bytes, feeds: dict, outputs: list[str], runs: int, threads: int, memory: int, timeout: float
) -> dict:
    """Each node's fastest kernel time over `runs` (ms): the attainable rate, least disturbed by other load."""
    request = RunRequest(model, feeds, outputs, memory, timeout, threads, profile_model=model, runs=runs, warmup=2)
    result = run_fenced(request)
    best: dict = {}
    for event in result.profile_events:
        if event["kind"] == "node":
            ms = event["dur"] / 1000.0
            best[event["name"]] = min(best.get(event["name"], ms), ms)
    best["_version"] = result.ort_version
    return best


def calibrate(threads: int = 0, runs: int = 50, memory_limit: int = 4 << 30, timeout: float = 300.0) -> dict:
    """A spec table (the keys of a --hardware TOML file) of this machine as onnxruntime's CPU provider
    reaches it with `threads` threads."""
    peaks: dict[str, float] = {}
    version = "?"
    for key, dtype, np_dtype in (("fp32", TensorProto.FLOAT, np.float32), ("fp16", TensorProto.FLOAT16, np.float16)):
        model, feeds = _matmul(dtype, np_dtype)
        try:
            best = _best_ms(model, feeds, ["y"], runs, threads, memory_limit, timeout)
        except RuntimeFailure:
            continue  # onnxruntime's CPU provider has no kernel for this dtype here
        if best.get("matmul"):
            peaks[key] = 2 * MATMUL[0] * MATMUL[1] * MATMUL[2] / (best["matmul"] / 1e3) / 1e12
            version = best["_version"]
    if "fp32" not in peaks:
        raise RuntimeFailure("the calibration MatMul did not run")
    model, feeds = _copy(COPY_ELEMENTS, "copy", tiny=True)
    best = _best_ms(model, feeds, ["y", "u"], runs, threads, memory_limit, timeout)
    bandwidth = 2 * 4 * COPY_ELEMENTS / (best["copy"] / 1e3) / 1e9
    # a copy within a core's L2, in a run of its own (the large copy would evict it), warm from the
    # run before
    cache = cache_bytes()
    small = cache // 16  # floats read and written: half the L2
    model, feeds = _copy(small, "cached", tiny=False)
    took = _best_ms(model, feeds, ["y"], runs, threads, memory_limit, timeout).get("cached", 0.0)
    cached = 2 * 4 * small / (took / 1e3) / 1e9 if took > 0 else None
    cpu = platform.processor() or platform.machine()
    memory = _physical_memory()
    return {
        "name": "calibrated",
        "peak_tflops": peaks,
        "attainable_tflops": peaks,
        "bandwidth_gbs": bandwidth,
        **({"cache_bandwidth_gbs": max(cached, bandwidth), "cache_kib": cache / 1024} if cached else {}),
        "overhead_us": best.get("tiny", 0.0) * 1e3,
        "source": f"measured on this machine ({cpu}, {threads or 'all'} thread(s)) with onnxruntime {version}: "
        f"{'x'.join(map(str, MATMUL))} MatMul per dtype, a {4 * COPY_ELEMENTS >> 20} MiB elementwise copy, "
        f"a {4 * small >> 10} KiB one (read and written within a core's {cache >> 10} KiB L2, warm), a one-element "
        f"Add; fastest of {runs} runs",
        "notes": "attainable rates of onnxruntime's CPU provider, not a datasheet's"
        + ("" if memory is None else "; memory: this machine's physical memory"),
        **({} if memory is None else {"memory_gib": memory / 2**30}),
    }


def _physical_memory() -> int | None:
    """This machine's physical memory in bytes, where the system says."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None
