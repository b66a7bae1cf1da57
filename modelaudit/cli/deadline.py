"""The static audit's time budget (--time-limit): past it, exit 5 with one line, as the runtime path does."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from modelaudit.errors import ResourceLimitError, UsageError

__all__ = ["DEFAULT_TIME_LIMIT", "time_limit", "budget_of"]

DEFAULT_TIME_LIMIT = 600.0  # a 100,000-node graph audits in well under a minute on a slow machine
MAX_SECONDS = 1_000_000  # 11.6 days, as --timeout: beyond, the wait overflows the platform's timers
MAX_TIMER = 2**31 - 1  # what setitimer accepts everywhere, whatever the number of models


def budget_of(args) -> float | None:
    """Seconds the command may take: --time-limit per model named, plus --timeout when onnxruntime
    runs as well."""
    seconds = getattr(args, "time_limit", None)
    if seconds is None:
        return None
    if not 0 < seconds <= MAX_SECONDS:  # also refuses nan and inf
        raise UsageError(f"--time-limit {seconds:g}: give seconds above 0 and at most {MAX_SECONDS:,}")
    paths = getattr(args, "model", None) or getattr(args, "models", None)
    seconds *= len(paths) if isinstance(paths, list) and paths else 1
    if getattr(args, "verify", False) or getattr(args, "profile", False):
        timeout = getattr(args, "timeout", 0.0)
        # an absurd --timeout is refused by its own subcommand with exit 2; it adds nothing here
        seconds += timeout if 0 < timeout <= MAX_SECONDS else 0.0
    return min(seconds, MAX_TIMER)


@contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Raises ResourceLimitError in the main thread once `seconds` have passed. A signal handler
    runs between Python steps: a call into C returns first (the one C step that could run for
    ever, onnx expanding nested local functions, is bounded before it starts: load/inline.py)."""
    usable = seconds and hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    if not usable:
        yield
        return

    def expired(signum, frame):
        raise ResourceLimitError(
            f"the audit did not finish within --time-limit {seconds:g} s; stopped", "a larger --time-limit allows it"
        )

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
