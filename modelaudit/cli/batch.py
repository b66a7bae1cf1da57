"""Many models at once: directories expanded, a process pool with --jobs, a progress bar on a terminal."""

from __future__ import annotations

import os

import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from modelaudit.errors import ModelAuditError, UsageError

__all__ = ["expand_models", "Progress", "audit_many"]

MODEL_SUFFIXES = (".onnx",)


def expand_models(paths: list[str]) -> list[str]:
    """Files as given; directories replaced by the .onnx files below them, sorted."""
    out: list[str] = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            found = sorted(str(f) for f in path.rglob("*") if f.suffix in MODEL_SUFFIXES and f.is_file())
            if not found:
                raise UsageError(f"{p}: a directory with no .onnx file in it")
            out += found
        else:
            out.append(p)
    return out


class Progress:
    """A one-line progress bar on stderr, only on a terminal, only once a run passes a second."""

    def __init__(self, total: int, stream=None, delay: float = 1.0):
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        self.total, self.done, self.delay = total, 0, delay
        self.start = time.monotonic()
        self.shown = False

    def update(self, label: str, advance: int = 0) -> None:
        self.done += advance
        if not self.enabled or time.monotonic() - self.start < self.delay:
            return
        width = 24
        filled = width * self.done // max(self.total, 1)
        bar = "#" * filled + "-" * (width - filled)
        text = f"\r[{bar}] {self.done}/{self.total} {label}"[:120]
        self.stream.write(text.ljust(100))
        self.stream.flush()
        self.shown = True

    def close(self) -> None:
        if self.shown:
            self.stream.write("\r" + " " * 110 + "\r")
            self.stream.flush()


def audit_many(paths: list[str], inputs: dict, dims: dict, jobs: int = 1, progress: Progress | None = None):
    """Yields (path, report dict or None, error line or None, exit code) in the order of `paths`.
    With several models, --input and --dim apply to the models that have that input or dim."""
    work = [(p, inputs, dims) for p in paths]
    jobs = min(jobs, len(work), os.cpu_count() or 1)  # a worker beyond these would only wait, holding memory
    if jobs <= 1:
        for job in work:
            if progress:
                progress.update(Path(job[0]).name)
            result = _audit_lenient(job)
            if progress:
                progress.update(Path(job[0]).name, advance=1)
            yield result
        return
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        for result in pool.map(_audit_lenient, work):
            if progress:
                progress.update(Path(result[0]).name, advance=1)
            yield result


def _audit_lenient(job: tuple):
    """Several models share the flags: a name one model lacks is not an error for it."""
    path, inputs, dims = job
    from modelaudit.costs.analyze import analyze, quiet_gc
    from modelaudit.graph.model import load

    try:
        with quiet_gc():
            return path, analyze(load(path, inputs=inputs, dims=dims, strict=False)).to_dict(), None, 0
    except ModelAuditError as exc:
        return path, None, exc.one_line(), exc.exit_code
