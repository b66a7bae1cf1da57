"""The static audit's budgets, time (--time-limit) and memory (--memory-limit): past either, exit 5
with one line, as the runtime path does."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from modelaudit.errors import ResourceLimitError, UsageError
from modelaudit.units import parse_bytes

__all__ = [
    "DEFAULT_TIME_LIMIT",
    "DEFAULT_MEMORY_LIMIT",
    "TimeLimitExceeded",
    "time_limit",
    "budget_of",
    "memory_limit",
    "memory_of",
    "out_of_memory",
]

DEFAULT_TIME_LIMIT = 600.0  # a 100,000-node graph audits in well under a minute on a slow machine
MAX_SECONDS = 1_000_000  # 11.6 days, as --timeout: beyond, the wait overflows the platform's timers
MAX_TIMER = 2**31 - 1  # what setitimer accepts everywhere, whatever the number of models
DEFAULT_MEMORY_LIMIT = "8GiB"  # many times what the largest graph we know takes (docs/performance.md)
MAX_MEMORY = 2**50  # 1024 TiB: an address-space limit every 64-bit kernel accepts

_LIMIT: list[str] = []  # the --memory-limit in force, for the line that says it was reached


class TimeLimitExceeded(ResourceLimitError):
    """--time-limit ran out: the whole command stops (several models too), not one model."""


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
    usable = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    if not seconds or not usable:
        yield
        return

    def expired(signum, frame):
        raise TimeLimitExceeded(
            f"the audit did not finish within --time-limit {seconds:g} s; stopped", "a larger --time-limit allows it"
        )

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def memory_of(args) -> int | None:
    """--memory-limit in bytes; None for a command that reads no model."""
    text = getattr(args, "memory_limit", None)
    if text is None:
        return None
    limit = parse_bytes(text, "--memory-limit")
    if not 0 < limit <= MAX_MEMORY:
        raise UsageError(f"--memory-limit {text}: give a size above 0 and at most 1024 TiB")
    _LIMIT[:] = [text]
    return limit


@contextmanager
def memory_limit(limit: int | None) -> Iterator[None]:
    """Each process of the command (the forked helper, --jobs workers) may take `limit` bytes of
    address space beyond what this one holds now (the interpreter and what it imported): past it an
    allocation fails, in Python or in onnx's C++ (std::bad_alloc), and MemoryError ends the command
    with exit 5. Only the soft limit is set, so onnxruntime's fenced child sets its own
    (--max-memory); a lower limit set before is kept. Where there is no RLIMIT_AS, nothing is set."""
    try:
        import resource
    except ImportError:  # not POSIX
        limit = None
    if not limit or not hasattr(resource, "RLIMIT_AS"):
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    wanted = _address_space() + limit
    for bound in (soft, hard):
        if bound != resource.RLIM_INFINITY:
            wanted = min(wanted, bound)
    resource.setrlimit(resource.RLIMIT_AS, (wanted, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def _address_space() -> int:
    """This process's address space in bytes (Linux's /proc; 0 elsewhere: the limit is then absolute)."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def out_of_memory() -> ResourceLimitError:
    """The line a MemoryError becomes (exit 5)."""
    limit = f" --memory-limit {_LIMIT[0]}" if _LIMIT else ""
    return ResourceLimitError(
        f"the audit needed more memory than{limit or ' it may take'} allows; stopped",
        "a larger --memory-limit allows it",
    )
