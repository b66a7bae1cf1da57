"""A function run beside the audit in a forked child: onnx's C++ (shape inference, the checker) holds
the GIL, so a second core helps only through a second process.

The child computes `fn()` on its copy-on-write image of the parent, pickles the result back through
a pipe and exits without cleaning up. Whatever goes wrong there (an exception, a crash, a kill, a
result that does not pickle), the parent gets None and computes the same thing itself: forking
changes when work happens, never what it gives.
"""

from __future__ import annotations

import mmap
import os
import pickle
import signal
import sys
import threading
import types
import warnings
from collections.abc import Callable
from typing import Any

__all__ = ["Forked", "Note", "fork_call", "can_fork", "DISABLE_ENV", "WORTH_NODES"]

DISABLE_ENV = "MODELAUDIT_NO_FORK"  # set to 1: everything runs in the one process (docs/cli.md)
WORTH_NODES = 2_000  # a smaller graph is audited in milliseconds: not worth a process


class Note:
    """A yes or no the parent learns after forking, for the child to read when it gets there: a
    byte of an anonymous shared mapping, so no pipe and no wait. A child that finds it unwritten
    works the answer out itself."""

    def __init__(self):
        self._byte = mmap.mmap(-1, 1)  # MAP_SHARED | MAP_ANONYMOUS: the parent and its forks see one page

    def tell(self, value: bool) -> None:
        self._byte[0] = 2 if value else 1

    def read(self) -> bool | None:
        value = self._byte[0]
        return None if value == 0 else value == 2


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))  # the CPUs this process may use (a container's, a taskset's)
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def can_fork() -> bool:
    """Forking helps and is safe: POSIX fork with a second CPU, no other thread that could hold a
    lock the child would need, and not switched off."""
    return (
        hasattr(os, "fork")
        and sys.platform != "darwin"  # macOS: system libraries are not fork-safe
        and os.environ.get(DISABLE_ENV, "") in ("", "0")
        and threading.active_count() == 1
        and _cpus() >= 2
    )


class Forked:
    """A child computing values; each `result()` waits for the next one (None: compute it yourself)."""

    def __init__(self, pid: int, fd: int):
        self._pid = pid
        self._pipe = os.fdopen(fd, "rb")
        self._broken = self._reaped = False

    def result(self) -> Any | None:
        """The child's next value, in the order it produced them; None once it failed, died or has
        nothing more (and from then on)."""
        if self._broken:
            return None
        try:
            head = self._pipe.read(8)
            size = int.from_bytes(head, "little") if len(head) == 8 else -1
            payload = self._pipe.read(size) if size >= 0 else b""
            ok, value = pickle.loads(payload) if size >= 0 and len(payload) == size else (False, None)
        except Exception:  # OSError, or a frame cut short by a child that died mid-write
            ok, value = False, None
        if not ok:
            self._broken = True
            self.cancel()
            return None
        return value

    def cancel(self) -> None:
        """Ends the child (whatever it still computes is not wanted) and reaps it; idempotent."""
        self._broken = True
        if self._reaped:
            return
        self._reaped = True
        try:
            os.kill(self._pid, signal.SIGKILL)  # a child that has exited is a zombie: the signal is harmless
        except ProcessLookupError:
            pass
        self._pipe.close()
        os.waitpid(self._pid, 0)


def fork_call(fn: Callable[[], Any]) -> Forked | None:
    """fn() in a forked child, or None where can_fork() says no (or fork itself fails). When fn
    returns a generator, each value it yields is handed back as it is made (one result() each):
    the parent can go on with the first while the child computes the next."""
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
        try:
            os.close(read_end)
            signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C ends it at once; the parent decides
            _hand_back(fn, write_end)
        finally:
            os._exit(0)
    os.close(write_end)
    return Forked(pid, read_end)


def _hand_back(fn: Callable[[], Any], fd: int) -> None:
    """Each value as a frame: 8 bytes of length, then (True, value) pickled; (False, why) ends it."""
    try:
        values = fn()
        for value in values if isinstance(values, types.GeneratorType) else (values,):
            _frame(fd, pickle.dumps((True, value), protocol=pickle.HIGHEST_PROTOCOL))
    except BaseException as exc:  # noqa: BLE001 - the parent computes it itself and meets the error there
        _frame(fd, pickle.dumps((False, f"{type(exc).__name__}: {exc}")))


def _frame(fd: int, payload: bytes) -> None:
    view = memoryview(len(payload).to_bytes(8, "little") + payload)
    while view:
        view = view[os.write(fd, view) :]
