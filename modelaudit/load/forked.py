"""A function run beside the audit in a forked child: onnx's C++ (shape inference, the checker) holds
the GIL, so a second core helps only through a second process.

The child computes `fn()` on its copy-on-write image of the parent, pickles the result back through
a pipe and exits without cleaning up. Whatever goes wrong there (an exception, a crash, a kill, a
result that does not pickle), the parent gets None and computes the same thing itself: forking
changes when work happens, never what it gives.
"""

from __future__ import annotations

import os
import pickle
import signal
import sys
import threading
import warnings
from typing import Any, Callable

__all__ = ["Forked", "fork_call", "can_fork", "DISABLE_ENV", "WORTH_NODES"]

DISABLE_ENV = "MODELAUDIT_NO_FORK"  # set to 1: everything runs in the one process (docs/cli.md)
WORTH_NODES = 2_000  # a smaller graph is audited in milliseconds: not worth a process


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))  # the CPUs this process may use (a container's, a taskset's)
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def can_fork() -> bool:
    """Forking helps and is safe: POSIX fork with a second CPU, no other thread that could hold a
    lock the child would need, and not switched off."""
    return (hasattr(os, "fork") and sys.platform != "darwin"  # macOS: system libraries are not fork-safe
            and os.environ.get(DISABLE_ENV, "") in ("", "0")
            and threading.active_count() == 1 and _cpus() >= 2)


class Forked:
    """A child computing a value; `result()` waits for it (None: compute it yourself)."""

    def __init__(self, pid: int, fd: int):
        self._pid, self._fd = pid, fd
        self._done = False

    def result(self) -> Any | None:
        if self._done:
            return None
        self._done = True
        chunks = []
        try:
            with os.fdopen(self._fd, "rb", closefd=True) as pipe:
                while chunk := pipe.read(1 << 20):
                    chunks.append(chunk)
        except OSError:
            chunks = []
        _, status = os.waitpid(self._pid, 0)
        if status != 0 or not chunks:
            return None
        try:
            ok, value = pickle.loads(b"".join(chunks))
        except Exception:  # a truncated pipe: the child died mid-write
            return None
        return value if ok else None

    def cancel(self) -> None:
        """Stops the child (the parent gave up on the load); a no-op after result()."""
        if self._done:
            return
        self._done = True
        try:
            os.kill(self._pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.close(self._fd)
        os.waitpid(self._pid, 0)


def fork_call(fn: Callable[[], Any]) -> Forked | None:
    """fn() in a forked child, or None where can_fork() says no (or fork itself fails)."""
    if not can_fork():
        return None
    read_end, write_end = os.pipe()
    for stream in (sys.stdout, sys.stderr):  # nothing buffered is written twice (the child never flushes)
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    try:
        with warnings.catch_warnings():  # 3.12+ warns of the BLAS pool's idle threads: the child never calls BLAS
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
    except OSError:
        os.close(read_end)
        os.close(write_end)
        return None
    if pid == 0:  # the child: compute, hand back, and leave without running the parent's exit code
        status = 1
        try:
            os.close(read_end)
            signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C ends it at once; the parent decides
            try:
                payload = pickle.dumps((True, fn()), protocol=pickle.HIGHEST_PROTOCOL)
            except BaseException as exc:  # noqa: BLE001 - the parent recomputes and sees the error itself
                payload = pickle.dumps((False, f"{type(exc).__name__}: {exc}"))
            view = memoryview(payload)
            while view:
                view = view[os.write(write_end, view):]
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    return Forked(pid, read_end)
