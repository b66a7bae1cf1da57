"""Many models at once: directories expanded, a stable --shard slice, a process pool with --jobs, a
progress bar on a terminal, and `report` over them (one output, or one file each with --output-dir)."""

from __future__ import annotations

import hashlib
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import TextIO

from modelaudit.encoding import error_line
from modelaudit.encoding import text as shown
from modelaudit.errors import ModelAuditError, UsageError

from .common import collect, naming, refuse_overwriting, say
from .deadline import TimeLimitExceeded, out_of_memory
from .specs import collect_dims, parse_input_spec

__all__ = ["expand_models", "shard", "Progress", "audit_many", "report_many"]

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
    first, sep, second = spec.partition("/")
    if not (sep and first.isdigit() and second.isdigit() and 1 <= int(first) <= int(second)):
        raise UsageError(f"--shard {spec}: expected K/N with 1 ≤ K ≤ N, e.g. 1/4")
    k, n = int(first), int(second)
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

    try:
        with quiet_gc(), naming(path):
            report = analyze(load(path, inputs=inputs, dims=dims, strict=False, fork=fork)).to_dict()
            return path, report if render is None else render(report), None, 0
    except TimeLimitExceeded:
        raise  # the command's time is up, not this model's
    except ModelAuditError as exc:
        return path, None, exc.one_line(), exc.exit_code
    except MemoryError:  # this model passed --memory-limit; the others go on
        limit = out_of_memory()
        return path, None, error_line(f"{path}: {limit.message} ({limit.hint})"), limit.exit_code


_SUFFIX = {"text": ".txt", "markdown": ".md", "json": ".json", "jsonl": ".jsonl", "csv": ".csv", "html": ".html"}


def report_many(args, models: list[str]) -> int:
    """Several models: one report each (to stdout, or one file each with --output-dir), one
    combined JSON document, or JSON lines written as each model finishes. Reports are rendered in
    the workers and written as they arrive; a model that fails prints its line and the others go on."""
    from functools import partial

    from modelaudit.render import render

    from .report import table_view

    if (
        args.verify
        or args.profile
        or args.training
        or args.input_data
        or args.decode is not None
        or args.generate is not None
        or args.hardware is not None
        or args.symbolic
        or args.sweep
    ):  # never dropped silently from each model's report
        raise UsageError(
            "--verify, --profile, --training, --input-data, --decode, --generate, --hardware, --symbolic and --sweep "
            "take one model at a time"
        )
    if args.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    if args.output_dir and args.output:  # one of them would be silently unused
        raise UsageError("--output-dir writes one file per model and -o one file for all: choose one")
    refuse_overwriting(args.output, models)
    view = table_view(args)
    inputs = collect(args.input, parse_input_spec, "--input")
    dims = collect_dims(args.dim, models)
    out_dir = Path(args.output_dir) if args.output_dir else None
    if out_dir is not None:
        from .outputs import report_names

        names = report_names(models, _SUFFIX[args.format])
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # a file of that name (FileExistsError was exit 70), a read-only parent
            raise UsageError(f"--output-dir {out_dir}: cannot be made a folder ({exc.strerror})") from None
    progress = Progress(len(models))
    failed: dict[str, int] = {}
    written = 0
    draw = partial(render, fmt=args.format, sort=args.sort, top=args.top, by=args.by, **view)
    with _output(args.output if out_dir is None else None) as stream:
        if out_dir is None and args.format == "json":
            from modelaudit.costs.report import SCHEMA_VERSION  # the reports' own: they are the document

            stream.write(f'{{"schema_version": {SCHEMA_VERSION}, "reports": [\n')
        try:
            for path, text, error, code in audit_many(
                models, inputs, dims, args.jobs, progress, render=draw, ordered=args.format != "jsonl"
            ):
                if error is None and out_dir is not None:
                    from .outputs import write_into

                    error, code = write_into(out_dir, names[path], text)
                    if error is None:
                        continue
                if error:
                    progress.close()
                    say(f"modelaudit: error: {error}")
                    failed[path] = code
                    continue
                if written and args.format == "json":
                    stream.write(",\n")
                elif written and args.format not in ("csv", "jsonl"):
                    stream.write("\n")
                stream.write(text.rstrip("\n") if args.format == "json" else text)
                stream.flush()  # a consumer of --format jsonl sees each model as it finishes
                written += 1
        finally:
            progress.close()
        if out_dir is None and args.format == "json":
            stream.write("\n]}\n")
    # the first failure in the models' order, not in the order they finished: the same code every run
    return next((failed[path] for path in models if path in failed), 0)


class _output:
    """-o FILE (opened once, before the first model) or stdout, for report_many's stream."""

    def __init__(self, output: str | None):
        self.output = output
        self.stream: TextIO | None = None

    def __enter__(self):
        if not self.output:
            return sys.stdout
        try:
            self.stream = open(self.output, "w", encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"-o {self.output}: cannot write ({exc.strerror})") from None
        return self.stream

    def __exit__(self, *exc):
        if self.stream is not None:
            try:
                self.stream.close()
            except OSError as error:  # the last buffered bytes did not fit on the disk
                raise UsageError(f"-o {self.output}: cannot write ({error.strerror})") from None
