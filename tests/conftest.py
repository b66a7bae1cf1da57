"""Shared helpers: models built in code with onnx.helper."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parent.parent
SUMMARY: list[str] = []  # lines a test wants in the run's closing summary
SAMPLES = ROOT / "sample_models"
sys.path.insert(0, str(Path(__file__).resolve().parent))


def tensor(name: str, shape, dtype=np.float32, seed: int = 0) -> onnx.TensorProto:
    """A deterministic initializer of the given shape."""
    rng = np.random.default_rng(seed)
    if np.issubdtype(dtype, np.integer):
        data = rng.integers(-8, 8, size=shape).astype(dtype)
    else:
        data = rng.standard_normal(shape).astype(dtype)
    return numpy_helper.from_array(data, name)


def vi(name: str, shape, elem=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, elem, shape)


def make_model(nodes, inputs, outputs, initializers=(), opset: int = 17, **graph_kw) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "test", inputs, outputs, initializer=list(initializers), **graph_kw)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model


def _int64_constant(name, values):
    return helper.make_node(
        "Constant", [], [name], value=helper.make_tensor(name, TensorProto.INT64, [len(values)], values)
    )


def flatten_then_matmul(annotation, seq="seq"):
    """x[batch, seq, 8] reshaped to [batch·seq, 8] through Shape→Gather→ReduceProd→Concat, then
    MatMul by W[8, 4]; an exporter annotated the reshaped tensor and the output with `annotation`,
    its name for batch·seq (as torch's exporters write unk__88 or `batch*seq`)."""
    nodes = [
        helper.make_node("Shape", ["x"], ["s"]),
        _int64_constant("i01", [0, 1]),
        _int64_constant("m8", [8]),
        helper.make_node("Gather", ["s", "i01"], ["bs"], axis=0),
        helper.make_node("ReduceProd", ["bs"], ["bq"], keepdims=1),
        helper.make_node("Concat", ["bq", "m8"], ["shape"], axis=0),
        helper.make_node("Reshape", ["x", "shape"], ["r"]),
        helper.make_node("MatMul", ["r", "w"], ["y"]),
    ]
    model = make_model(nodes, [vi("x", ["batch", seq, 8])], [vi("y", [annotation, 4])], [tensor("w", (8, 4))])
    model.graph.value_info.append(vi("r", [annotation, 8]))
    return model


def run_ort(model: onnx.ModelProto, feeds: dict) -> list[np.ndarray]:
    import onnxruntime as ort

    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


@pytest.fixture
def samples() -> Path:
    return SAMPLES


REALWORLD = Path(__file__).resolve().parent / "realworld"


def pytest_collection_modifyitems(config, items):
    """Every test of tests/realworld is marked `realworld`: deselected by default, `-m realworld` runs it."""
    for item in items:
        if REALWORLD in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.realworld)


@pytest.fixture
def realworld_table():
    sys.path.insert(0, str(REALWORLD))
    from realworld_table import recorder

    return recorder()


# CI's real-world run sets these (.ci/run): a skip there means a dependency did not install or a
# file could not be fetched, which must fail the run rather than leave it green with less tested
STRICT = os.environ.get("MODELAUDIT_REALWORLD_STRICT") == "1"
REALWORLD_MIN = int(os.environ.get("MODELAUDIT_REALWORLD_MIN", "0"))
_REALWORLD_PASSED: list[str] = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if item.get_closest_marker("realworld") is None:
        return
    if report.passed and report.when == "call":
        _REALWORLD_PASSED.append(item.nodeid)
    elif report.skipped and STRICT:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"CI's real-world run must run every test, and this one skipped: {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    report = outcome.get_result()
    path = Path(str(getattr(collector, "path", "") or ""))
    if STRICT and report.skipped and (path == REALWORLD or REALWORLD in path.parents):
        report.outcome = "failed"
        report.longrepr = f"CI's real-world run must run every test, and {path.name} skipped: {report.longrepr}"


def pytest_sessionfinish(session, exitstatus):
    table = sys.modules.get("realworld_table")
    if table is not None:
        table.write_table()
    if REALWORLD_MIN and len(_REALWORLD_PASSED) < REALWORLD_MIN:
        SUMMARY.append(
            f"FAILED: {len(_REALWORLD_PASSED)} real-world tests passed, fewer than the {REALWORLD_MIN} CI expects "
            "(MODELAUDIT_REALWORLD_MIN in .ci/run)"
        )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter):
    for line in SUMMARY:
        terminalreporter.write_line(line)
