"""--time-limit: the static audit stops with exit 5 and one line, like a --verify run past --timeout."""

from __future__ import annotations

import signal
import time

import pytest
from conftest import SAMPLES

import modelaudit.cli.report as report_cli
from modelaudit.cli.deadline import time_limit
from modelaudit.cli.main import main
from modelaudit.errors import ResourceLimitError

V2 = str(SAMPLES / "mobilenet_v2.onnx")


def test_time_limit_stops_a_python_loop():
    start = time.perf_counter()
    with pytest.raises(ResourceLimitError, match="--time-limit 0.2 s"):
        with time_limit(0.2):
            while True:
                pass
    assert time.perf_counter() - start < 2


def test_time_limit_is_lifted_after_the_block():
    before = signal.getsignal(signal.SIGALRM)
    with time_limit(0.2):
        assert signal.getitimer(signal.ITIMER_REAL)[0] > 0  # armed inside the block
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)  # disarmed after it
    assert signal.getsignal(signal.SIGALRM) is before  # and the caller's handler is back
    fired = []
    signal.signal(signal.SIGALRM, lambda *_: fired.append(True))
    try:
        time.sleep(0.3)  # past the 0.2 s: a timer left armed would fire now
    finally:
        signal.signal(signal.SIGALRM, before)
    assert fired == []


def test_audit_past_its_time_limit_exits_5(capsys, monkeypatch):
    def slow_load(*args, **kwargs):
        time.sleep(30)

    monkeypatch.setattr(report_cli, "load", slow_load)
    start = time.perf_counter()
    code = main(["report", V2, "--time-limit", "0.3"])
    err = capsys.readouterr().err
    assert code == 5 and time.perf_counter() - start < 5
    assert err.count("\n") == 1 and "did not finish within --time-limit 0.3 s" in err


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf"])
def test_time_limit_must_be_positive_and_finite(capsys, value):
    assert main(["report", V2, "--time-limit", value]) == 2
    assert ": give seconds above 0 and at most 1,000,000" in capsys.readouterr().err
