"""load.forked: the forked helper computes values beside this process, or this process computes them
itself whatever goes wrong there; a helper that ran out of memory stops the command."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest
from builders import attention_block, loop_model, saved

from modelaudit.errors import ResourceLimitError
from modelaudit.graph import model as graph_model
from modelaudit.graph.model import load
from modelaudit.load import forked
from modelaudit.load.forked import DISABLE_ENV, Helper, can_fork

pytestmark = pytest.mark.skipif(
    not can_fork(), reason="no fork() here, or a single CPU: everything runs in one process"
)


def here():
    return "computed here"


def test_the_child_computes_and_hands_back_its_value():
    parent = os.getpid()
    helper = Helper.start(lambda told: (os.getpid(), [1, 2, 3] * 100_000))
    assert helper.forked
    pid, data = helper.last(here)
    assert pid != parent  # computed in another process
    assert data == [1, 2, 3] * 100_000  # larger than a pipe's buffer: read while the child writes
    assert not helper.forked and helper.take(here) == "computed here"


def test_what_the_parent_tells_after_the_fork_is_read_by_the_child():
    """The child reads what the parent learned after forking; untold, it reads None (and works the
    answer out itself)."""

    def work(told):
        yield told()
        while told() is None:
            time.sleep(0.001)
        yield told()

    helper = Helper.start(work)
    assert helper.take(here) is None
    helper.tell(False)
    assert helper.last(here) is False


def test_a_failure_in_the_child_is_computed_here():
    assert Helper.start(lambda told: 1 / 0).take(here) == "computed here"
    assert Helper.start(lambda told: threading.Lock()).take(here) == "computed here"  # a value that does not pickle


def test_a_child_that_dies_is_computed_here():
    assert Helper.start(lambda told: os._exit(3)).take(here) == "computed here"
    # pytest's faulthandler prints this child's "Fatal Python error: Segmentation fault": expected
    assert Helper.start(lambda told: os.kill(os.getpid(), signal.SIGSEGV)).take(here) == "computed here"


def test_a_child_out_of_memory_stops_the_command():
    """Computing it here would only run out too: MemoryError, which the command turns into exit 5;
    the kernel's out-of-memory killer ends a process with SIGKILL."""

    def hungry(told):
        raise MemoryError

    with pytest.raises(MemoryError):
        Helper.start(hungry).take(here)
    with pytest.raises(MemoryError):
        Helper.start(lambda told: os.kill(os.getpid(), signal.SIGKILL)).take(here)


def test_close_stops_the_child_and_reaps_it():
    helper = Helper.start(lambda told: time.sleep(60))
    child = helper._child
    start = time.monotonic()
    helper.close()
    assert time.monotonic() - start < 5
    with pytest.raises(ChildProcessError):
        os.waitpid(child._pid, os.WNOHANG)  # already reaped: no zombie left
    assert helper.take(here) == "computed here"
    helper.close()  # twice is harmless


def test_the_time_limit_stops_the_wait(monkeypatch):
    from modelaudit.cli.deadline import time_limit

    helper = Helper.start(lambda told: time.sleep(60))
    start = time.monotonic()
    with pytest.raises(ResourceLimitError), time_limit(0.5):
        helper.take(here)
    helper.close()
    assert time.monotonic() - start < 5


def test_switched_off_by_the_environment(monkeypatch):
    monkeypatch.setenv(DISABLE_ENV, "1")
    assert not can_fork() and not Helper.start(lambda told: 1).forked


def test_not_while_other_threads_run():
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert not Helper.start(lambda told: 1).forked  # a lock another thread holds would stay held in the child
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
    monkeypatch.setattr(graph_model, "worth_forking", lambda loading: not loading.model.functions)
    taken = []
    real = forked._Child.next

    def recorded(self):  # the child's value is the one used, not a serial recomputation
        got = real(self)
        taken.append(got[0])
        return got

    monkeypatch.setattr(forked._Child, "next", recorded)
    path = saved(build())
    forked_load = load(path, fork=True)
    _same(forked_load, load(path))
    if build is _rejected:
        assert forked_load.checker["valid"] is False and "num_outputs" in forked_load.checker["error"]
    if build is _accepted:
        assert forked_load.checker == {"valid": True, "full_check": True, "error": None}
    _same(load(path, dims={"batch": 2}, strict=False, fork=True), load(path, dims={"batch": 2}, strict=False))
    assert taken == [True] * 4  # per load: the first inference round, then the verdict


def test_a_failed_load_stops_its_child(monkeypatch):
    monkeypatch.setattr(graph_model, "worth_forking", lambda loading: True)
    helpers = []
    real = Helper.start

    def sleeping(work, worth=True):
        helpers.append(real(lambda told: time.sleep(60), worth))
        return helpers[-1]

    monkeypatch.setattr(graph_model.Helper, "start", staticmethod(sleeping))

    def broken(loading):
        raise RuntimeError("the load failed after the fork")

    monkeypatch.setattr(graph_model, "link_nodes", broken)
    path = saved(attention_block())
    start = time.monotonic()
    with pytest.raises(RuntimeError):
        load(path, fork=True)
    assert time.monotonic() - start < 5 and helpers and helpers[0].forked is False


def test_a_child_that_fails_leaves_the_serial_result(monkeypatch):
    monkeypatch.setattr(graph_model, "worth_forking", lambda loading: True)

    def failing(loading, told):
        raise RuntimeError("the helper fails")
        yield  # a generator, as the real one

    monkeypatch.setattr(graph_model, "ahead", failing)
    path = saved(attention_block())
    _same(load(path, fork=True), load(path))


def test_a_generator_hands_back_each_value_as_it_is_made():
    def stages(told):
        yield "first"
        time.sleep(1.0)  # wide apart: a loaded machine's fork and pickling take a good part of 0.2 s
        yield list(range(100_000))  # larger than a pipe's buffer
        raise RuntimeError("the third stage fails")

    helper = Helper.start(stages)
    child = helper._child
    start = time.monotonic()
    assert helper.take(here) == "first" and time.monotonic() - start < 0.9  # not held back by the later stages
    assert helper.take(here) == list(range(100_000))
    assert helper.take(here) == "computed here" and not helper.forked  # the failure, then nothing
    with pytest.raises(ChildProcessError):
        os.waitpid(child._pid, os.WNOHANG)  # reaped when it failed


def test_close_between_values_stops_the_child():
    def stages(told):
        yield 1
        time.sleep(60)
        yield 2

    helper = Helper.start(stages)
    assert helper.take(here) == 1
    start = time.monotonic()
    helper.close()
    assert time.monotonic() - start < 5 and helper.take(here) == "computed here"
