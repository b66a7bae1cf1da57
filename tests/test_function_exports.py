"""The forked child that the real-world suite's function exports run in (tests/function_exports.py):
a crash is run again, a failure is raised with its traceback, a result is the child's side effect."""

from __future__ import annotations

import os
import signal

import pytest
from function_exports import ATTEMPTS, in_forked_child


def test_the_work_runs_in_the_child(tmp_path):
    target = tmp_path / "written"
    in_forked_child(lambda: target.write_text(str(os.getpid())))
    assert target.read_text() != str(os.getpid())


def test_a_child_killed_by_a_signal_runs_again(tmp_path):
    tries = tmp_path / "tries"

    def crash_once():
        with tries.open("a") as f:
            f.write("x")
        if tries.read_text() == "x":
            os.kill(os.getpid(), signal.SIGSEGV)

    in_forked_child(crash_once)
    assert tries.read_text() == "xx"


def test_a_child_that_always_dies_fails_after_its_attempts(tmp_path):
    tries = tmp_path / "tries"

    def crash():
        with tries.open("a") as f:
            f.write("x")
        os.kill(os.getpid(), signal.SIGSEGV)

    with pytest.raises(AssertionError, match=f"died {ATTEMPTS} times: .*SIGSEGV"):
        in_forked_child(crash)
    assert tries.read_text() == "x" * ATTEMPTS


def test_an_exception_in_the_child_is_raised_with_its_traceback():
    def fail():
        raise ValueError("the exporter refused")

    with pytest.raises(AssertionError, match="(?s)failed in its child process.*ValueError: the exporter refused"):
        in_forked_child(fail)
