"""The forked helper: the one door to a second process. onnx's C++ (shape inference, the checker)
holds the GIL, so a second core helps only through a second process.

`Helper.start(work)` forks a child that runs `work` on its copy-on-write image of this process
and hands back each value it yields, pickled through a pipe, while this process goes on;
`take(here)` gives the next one, or computes it here with `here()` where there is no child (one
CPU, another thread running, `MODELAUDIT_NO_FORK=1`, not worth it) or the child failed (an
exception, a crash, a result that does not pickle). Forking changes when work happens, never what
it gives, with one exception: a child that ran out of memory (MemoryError, or killed outright by
the kernel) raises MemoryError here, since computing the same thing here would only run out too.
The child inherits the process's limits (the command line's --memory-limit); the parent's wait is
a Python step, so --time-limit stops it, and a closed helper's child is killed and reaped.
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
from typing import Any, TypeVar

from modelaudit.errors import ModelAuditError

__all__ = ["Helper", "can_fork", "DISABLE_ENV", "WORTH_NODES"]

DISABLE_ENV = "MODELAUDIT_NO_FORK"  # set to 1: everything runs in the one process (docs/cli.md)
WORTH_NODES = 2_000  # a smaller graph is audited in milliseconds: not worth a process

T = TypeVar("T")
Told = Callable[[], "bool | None"]  # what the parent told its child since the fork; None until told


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


class Helper:
    """Values computed beside this process by a forked child, taken in the order it yields them."""

    def __init__(self, child: _Child | None = None, told: _Told | None = None):
        self._child, self._told = child, told

    @classmethod
    def start(cls, work: Callable[[Told], Any], worth: bool = True) -> Helper:
        """A helper whose child runs `work(told)`, a function or a generator (each value it yields
        is handed back as it is made: this process can go on with the first while the child
        computes the next). Without a child where `worth` or can_fork() says no."""
        if not worth or not can_fork():
            return cls()
        told = _Told()
        child = _Child.fork(lambda: work(told.read))
        return cls(child, told) if child is not None else cls()

    @property
    def forked(self) -> bool:
        """A child is computing (or has values to hand back)."""
        return self._child is not None

    def tell(self, answer: bool) -> None:
        """A yes or no this process learned since the fork, for the child to read when it gets there
        (`told()` in `work`), with no pipe and no wait."""
        if self._told is not None:
            self._told.tell(answer)

    def take(self, here: Callable[[], T]) -> T:
        """The child's next value; `here()` where there is no child or it failed (it is then ended,
        and every later take computes here)."""
        if self._child is not None:
            ok, value = self._child.next()
            if ok:
                return value
            self._child = None
        return here()

    def last(self, here: Callable[[], T]) -> T:
        """take(), and the child ended: it has nothing more to hand back."""
        try:
            return self.take(here)
        finally:
            self.close()

    def close(self) -> None:
        """Ends the child (whatever it still computes is not wanted) and reaps it; idempotent."""
        if self._child is not None:
            self._child.cancel()
            self._child = None


class _Told:
    """A byte of an anonymous shared mapping (MAP_SHARED | MAP_ANONYMOUS): the parent and its fork
    see one page."""

    def __init__(self):
        self._byte = mmap.mmap(-1, 1)

    def tell(self, value: bool) -> None:
        self._byte[0] = 2 if value else 1

    def read(self) -> bool | None:
        value = self._byte[0]
        return None if value == 0 else value == 2


class _Child:
    """A forked process and the read end of its pipe."""

    def __init__(self, pid: int, fd: int):
        self._pid = pid
        self._pipe = os.fdopen(fd, "rb")
        self._reaped = False

    @classmethod
    def fork(cls, fn: Callable[[], Any]) -> _Child | None:
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
        return cls(pid, read_end)

    def next(self) -> tuple[bool, Any]:
        """(True, the next value), or (False, None) once the child failed, died or has nothing more
        (it is then reaped). MemoryError where it ran out of memory."""
        if self._reaped:
            return False, None
        try:
            head = self._pipe.read(8)
            size = int.from_bytes(head, "little") if len(head) == 8 else -1
            payload = self._pipe.read(size) if size >= 0 else b""
            frame = pickle.loads(payload) if size >= 0 and len(payload) == size else (False, "died")
        except ModelAuditError:
            raise  # --time-limit ran out while waiting: the caller closes the helper
        except Exception:  # OSError, or a frame cut short by a child that died mid-write
            frame = (False, "died")
        if frame[0]:
            return True, frame[1]
        killed = self._reap(kill=frame[1] != "died")
        if frame[1] == "memory" or killed == signal.SIGKILL:  # the kernel's out-of-memory killer sends SIGKILL
            raise MemoryError("the forked helper ran out of memory")
        return False, None

    def _reap(self, kill: bool) -> int | None:
        """Reaps the child (killing it first where it may still run): the signal that ended it, if any."""
        self._reaped = True
        if kill:
            try:
                os.kill(self._pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self._pipe.close()
        _, status = os.waitpid(self._pid, 0)
        return None if kill or not os.WIFSIGNALED(status) else os.WTERMSIG(status)

    def cancel(self) -> None:
        if not self._reaped:
            self._reap(kill=True)


def _hand_back(fn: Callable[[], Any], fd: int) -> None:
    """Each value as a frame: 8 bytes of length, then (True, value) pickled; (False, "memory" or
    "failed") ends it."""
    try:
        values = fn()
        for value in values if isinstance(values, types.GeneratorType) else (values,):
            _frame(fd, pickle.dumps((True, value), protocol=pickle.HIGHEST_PROTOCOL))
    except MemoryError:
        _frame(fd, pickle.dumps((False, "memory")))
    except BaseException:  # noqa: BLE001 - the parent computes it itself and meets the error there
        _frame(fd, pickle.dumps((False, "failed")))


def _frame(fd: int, payload: bytes) -> None:
    view = memoryview(len(payload).to_bytes(8, "little") + payload)
    while view:
        view = view[os.write(fd, view) :]
