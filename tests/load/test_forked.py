"""load.forked: a value computed in a forked child, or None (and the caller computes it) whatever goes wrong."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest
from builders import attention_block, loop_model, saved

from modelaudit.graph import model as graph_model
from modelaudit.graph.model import load
from modelaudit.load import forked
from modelaudit.load.forked import DISABLE_ENV, can_fork, fork_call

pytestmark = pytest.mark.skipif(
    not can_fork(), reason="no fork() here, or a single CPU: everything runs in one process"
)


def test_the_child_computes_and_hands_back_its_value():
    parent = os.getpid()
    job = fork_call(lambda: (os.getpid(), [1, 2, 3] * 100_000))
    pid, data = job.result()
    assert pid != parent  # computed in another process
    assert data == [1, 2, 3] * 100_000  # larger than a pipe's buffer: read while the child writes


def test_a_note_told_after_the_fork_is_read_by_the_child():
    """The child reads what the parent learned after forking; unwritten, it reads None (and works
    the answer out itself)."""
    told, untold = forked.Note(), forked.Note()

    def child():
        while told.read() is None:
            time.sleep(0.001)
        yield told.read(), untold.read()

    job = fork_call(child)
    told.tell(True)
    assert job.result() == (True, None)
    job.cancel()
    told.tell(False)
    assert told.read() is False


def test_a_failure_in_the_child_gives_none_so_the_caller_recomputes():
    assert fork_call(lambda: 1 / 0).result() is None
    assert fork_call(lambda: threading.Lock()).result() is None  # a value that does not pickle


def test_a_child_that_dies_gives_none():
    assert fork_call(lambda: os.kill(os.getpid(), signal.SIGKILL)).result() is None
    assert fork_call(lambda: os._exit(3)).result() is None


def test_cancel_stops_the_child_and_reaps_it():
    job = fork_call(lambda: time.sleep(60))
    start = time.monotonic()
    job.cancel()
    assert time.monotonic() - start < 5
    with pytest.raises(ChildProcessError):
        os.waitpid(job._pid, os.WNOHANG)  # already reaped: no zombie left
    assert job.result() is None
    job.cancel()  # twice is harmless


def test_switched_off_by_the_environment(monkeypatch):
    monkeypatch.setenv(DISABLE_ENV, "1")
    assert not can_fork() and fork_call(lambda: 1) is None


def test_not_while_other_threads_run():
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert fork_call(lambda: 1) is None  # a lock another thread holds would stay held in the child
    finally:
        stop.set()
        thread.join()


def _same(a, b):
    assert a.tensors == b.tensors and a.warnings == b.warnings and a.order == b.order and a.checker == b.checker
    assert {k: v.tolist() for k, v in a.values.items()} == {k: v.tolist() for k, v in b.values.items()}


def _rejected():
    """torch's opset-17 Split with num_outputs: onnx.checker rejects it (its verdict comes from the child)."""
    from conftest import make_model, vi
    from onnx import helper

    return make_model(
        [helper.make_node("Split", ["x"], ["a", "b"], axis=1, num_outputs=2, name="split")],
        [vi("x", [1, 4])],
        [vi("a", [1, 2]), vi("b", [1, 2])],
        opset=17,
    )


def _accepted():
    from conftest import make_model, vi
    from onnx import helper

    return make_model([helper.make_node("Relu", ["x"], ["y"], name="relu")], [vi("x", [1, 4])], [vi("y", [1, 4])])


@pytest.mark.parametrize(
    "build",
    [lambda: attention_block(), lambda: loop_model(3), _rejected, _accepted],
    ids=["attention", "loop", "rejected by onnx.checker", "accepted by onnx.checker"],
)
def test_a_forked_load_equals_the_serial_one(monkeypatch, build):
    monkeypatch.setattr(forked, "WORTH_NODES", 0)
    results = []

    class Recorded:  # the child's value is the one used, not a serial recomputation
        def __init__(self, fn):
            self.job = forked.fork_call(fn)

        def result(self):
            results.append(self.job.result())
            return results[-1]

        def cancel(self):
            self.job.cancel()

    monkeypatch.setattr(graph_model, "fork_call", Recorded)
    path = saved(build())
    forked_load = load(path, fork=True)
    _same(forked_load, load(path))
    if build is _rejected:
        assert forked_load.checker["valid"] is False and "num_outputs" in forked_load.checker["error"]
    if build is _accepted:
        assert forked_load.checker == {"valid": True, "full_check": True, "error": None}
    _same(load(path, dims={"batch": 2}, strict=False, fork=True), load(path, dims={"batch": 2}, strict=False))
    assert len(results) == 4 and None not in results  # per load: the first inference round, then the verdict


def test_a_failed_load_stops_its_child(monkeypatch):
    monkeypatch.setattr(forked, "WORTH_NODES", 0)
    jobs = []
    real = graph_model.fork_call
    monkeypatch.setattr(graph_model, "fork_call", lambda fn: jobs.append(real(lambda: time.sleep(60))) or jobs[-1])

    def broken(*args, **kwargs):
        raise RuntimeError("the load failed after the fork")

    monkeypatch.setattr(graph_model, "link", broken)
    path = saved(attention_block())
    start = time.monotonic()
    with pytest.raises(RuntimeError):
        load(path, fork=True)
    assert time.monotonic() - start < 5 and jobs and jobs[0]._reaped


def test_a_child_that_fails_leaves_the_serial_result(monkeypatch):
    monkeypatch.setattr(forked, "WORTH_NODES", 0)
    monkeypatch.setattr(graph_model, "fork_call", lambda fn: forked.fork_call(lambda: 1 / 0))
    path = saved(attention_block())
    _same(load(path, fork=True), load(path))


def test_a_generator_hands_back_each_value_as_it_is_made():
    def stages():
        yield "first"
        time.sleep(0.2)
        yield list(range(100_000))  # larger than a pipe's buffer
        raise RuntimeError("the third stage fails")

    job = fork_call(stages)
    start = time.monotonic()
    assert job.result() == "first" and time.monotonic() - start < 0.2  # not held back by the later stages
    assert job.result() == list(range(100_000))
    assert job.result() is None and job.result() is None  # the failure, then nothing
    with pytest.raises(ChildProcessError):
        os.waitpid(job._pid, os.WNOHANG)  # reaped when it failed


def test_cancel_between_values_stops_the_child():
    def stages():
        yield 1
        time.sleep(60)
        yield 2

    job = fork_call(stages)
    assert job.result() == 1
    start = time.monotonic()
    job.cancel()
    assert time.monotonic() - start < 5 and job.result() is None
