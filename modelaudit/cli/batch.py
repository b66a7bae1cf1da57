"""Many models at once: directories expanded, a stable --shard slice, a process pool with --jobs, a
progress bar on a terminal."""

from __future__ import annotations

import hashlib
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from modelaudit.encoding import text as shown
from modelaudit.errors import ModelAuditError, UsageError

__all__ = ["expand_models", "shard", "Progress", "audit_many"]

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


def shard(paths: list[str], spec: str) -> list[str]:
    """The models of slice K of N (`--shard K/N`, 1 ≤ K ≤ N): a model belongs to the slice its
    path's SHA-256 picks, so every machine given the same paths cuts the same slices, the N slices
    cover every model exactly once, and a model never changes slice when others are added."""
    k, sep, n = spec.partition("/")
    if not (sep and k.isdigit() and n.isdigit() and 1 <= int(k) <= int(n)):
        raise UsageError(f"--shard {spec}: expected K/N with 1 ≤ K ≤ N, e.g. 1/4")
    k, n = int(k), int(n)
    return [p for p in paths if _slice_of(p, n) == k - 1]


def _slice_of(path: str, n: int) -> int:
    key = Path(path).as_posix().encode("utf-8", "surrogateescape")
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "big") % n


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
        text = f"\r[{bar}] {self.done}/{self.total} {shown(label, 80)}"  # a file name: model text
        self.stream.write(text.ljust(100))
        self.stream.flush()
        self.shown = True

    def close(self) -> None:
        if self.shown:
            self.stream.write("\r" + " " * 110 + "\r")
            self.stream.flush()


def audit_many(
    paths: list[str],
    inputs: dict,
    dims: dict,
    jobs: int = 1,
    progress: Progress | None = None,
    render=None,
    ordered: bool = True,
):
    """Yields (path, report, error line or None, exit code): in the order of `paths`, or as each
    model finishes when not `ordered`. The report is its dict, or `render(dict)` computed in the
    worker (a worker hands back text, not 50,000 pickled rows). With several models, --input and
    --dim apply to the models that have that input or dim."""
    work = [(p, inputs, dims, render) for p in paths]
    jobs = min(jobs, len(work), os.cpu_count() or 1)  # a worker beyond these would only wait, holding memory
    if jobs <= 1:
        for job in work:
            if progress:
                progress.update(Path(job[0]).name)
            result = _audit_lenient(job, fork=True)  # no pool holds the CPUs: a child may infer beside it
            if progress:
                progress.update(Path(job[0]).name, advance=1)
            yield result
        return
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        if ordered:
            results = pool.map(_audit_lenient, work)
        else:
            results = (f.result() for f in as_completed([pool.submit(_audit_lenient, job) for job in work]))
        for result in results:
            if progress:
                progress.update(Path(result[0]).name, advance=1)
            yield result


def _audit_lenient(job: tuple, fork: bool = False):
    """Several models share the flags: a name one model lacks is not an error for it. `fork` as
    graph.model.load's (not in a pool's workers: they already hold the CPUs)."""
    path, inputs, dims, render = job
    from modelaudit.costs.analyze import analyze, quiet_gc
    from modelaudit.graph.model import load

    from .common import naming

    try:
        with quiet_gc(), naming(path):
            report = analyze(load(path, inputs=inputs, dims=dims, strict=False, fork=fork)).to_dict()
            return path, report if render is None else render(report), None, 0
    except ModelAuditError as exc:
        return path, None, exc.one_line(), exc.exit_code
