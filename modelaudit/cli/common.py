"""What every subcommand shares: the one-line-error parser, --input/--dim flags, writing the output."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from modelaudit.encoding import error_line, guard
from modelaudit.errors import ModelAuditError, UsageError

from .deadline import DEFAULT_MEMORY_LIMIT, DEFAULT_TIME_LIMIT

__all__ = [
    "Parser",
    "check_writable",
    "collect",
    "keep",
    "leaving",
    "naming",
    "refuse_overwriting",
    "say",
    "shape_flags",
    "warm",
    "write_output",
    "write_report",
]

_KEPT: list | None = None  # a list once cli.main.run() has said the process ends with os._exit


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr and exit code 2."""

    def error(self, message: str):
        raise UsageError(f"{message} (see '{self.prog} --help')")


def collect(specs, parse, flag: str) -> dict:
    out: dict = {}
    for spec in specs or []:
        name, value = parse(spec)
        if name in out and out[name] != value:
            raise UsageError(f"{flag} {name} is given twice with different values")
        out[name] = value
    return out


def shape_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--input",
        action="append",
        metavar="NAME=SHAPE",
        default=[],
        help="fix a dynamic input's shape, e.g. x=1x3x224x224 (repeatable)",
    )
    parser.add_argument(
        "--dim",
        action="append",
        metavar="NAME=N",
        default=[],
        help="fix a named symbolic dim everywhere, e.g. batch=1 (repeatable)",
    )
    parser.add_argument(
        "--time-limit",
        type=float,
        default=DEFAULT_TIME_LIMIT,
        metavar="SECONDS",
        help=f"stop the audit after this long, exit 5 (default {DEFAULT_TIME_LIMIT:g})",
    )
    parser.add_argument(
        "--memory-limit",
        default=DEFAULT_MEMORY_LIMIT,
        metavar="SIZE",
        help=f"stop the audit when a process of it needs more memory, exit 5 (default {DEFAULT_MEMORY_LIMIT})",
    )


def write_output(text: str, output: str | None, flag: str = "-o") -> None:
    """A command's output, guarded on its way out (encoding.guard), to FILE or stdout."""
    text = guard(text)
    if output:
        try:
            Path(output).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"{flag} {output}: cannot write ({exc.strerror})") from None
    else:
        sys.stdout.write(text)


@contextmanager
def naming(path, several: bool = True) -> Iterator[None]:
    """With `several` models, the error line says which one failed: a ModelAuditError raised inside
    gets the model's path in front of its message, unless the message starts with it already."""
    try:
        yield
    except ModelAuditError as exc:
        if several and not exc.message.startswith(str(path)):
            exc.message = f"{path}: {exc.message}"
        raise


def say(line: str) -> None:
    """One line on stderr, bounded and with the model text in it made inert (encoding.error_line)."""
    print(error_line(line), file=sys.stderr)


def check_writable(output: str, flag: str) -> None:
    """Refuses, before a long run, a FILE that cannot be written: a folder, or in a missing or read-only folder."""
    path = Path(output)
    if path.is_dir():
        raise UsageError(f"{flag} {output}: cannot write (Is a directory)")
    if not path.parent.is_dir():
        raise UsageError(f"{flag} {output}: cannot write (No such file or directory)")
    if not os.access(path if path.exists() else path.parent, os.W_OK):
        raise UsageError(f"{flag} {output}: cannot write (Permission denied)")


def refuse_overwriting(output: str | None, paths, flag: str = "-o") -> None:
    """-o may name no file the command reads, a model or a file its weights live in (through a hard
    or symbolic link too): the report would replace it. Only an existing FILE can be one."""
    if not output or not os.path.exists(output):
        return
    for path in paths:
        try:
            same = os.path.samefile(output, path)
        except OSError:  # a path that is not there cannot be overwritten
            continue
        if same:
            raise UsageError(
                f"{flag} {output}: is {path}, which this command reads; the report would replace it",
                "name another file",
            )


def write_report(d, fmt: str, output: str | None, **view) -> None:
    """A report (a Report, or its to_dict()) written to FILE or stdout as it is rendered
    (render.write), not built whole first."""
    from modelaudit.render import write

    if not output:
        write(d, sys.stdout, fmt, **view)
        return
    try:
        with open(output, "w", encoding="utf-8") as stream:
            write(d, stream, fmt, **view)
    except OSError as exc:  # not writable, or the disk filled up while writing (ENOSPC at write or close)
        raise UsageError(f"-o {output}: cannot write ({exc.strerror})") from None


def leave_without_teardown() -> None:
    """Said by cli.main.run(), whose process ends with os._exit: from now on keep() holds what it
    is given, and main() leaves the cyclic collector off."""
    global _KEPT
    _KEPT = []


def leaving() -> bool:
    """Whether the process ends with os._exit (the console script), not by returning to a caller."""
    return _KEPT is not None


def keep(*objects) -> None:
    """Hands a command's large objects (the loaded model, the report) to the process's end. Freed
    one by one as the command's frame unwinds, a large model's records take time the user waits
    for (docs/performance.md), and the collector, once back on, would walk them all again; os._exit
    frees nothing.
    Called from main() directly (tests, a program embedding the CLI), nothing is kept."""
    if _KEPT is not None:
        _KEPT.extend(objects)


def warm(fmt: str | None = None):
    """What to pass to graph.model.load as `meanwhile`: imports the audit's modules (costs, findings,
    the renderer of `fmt`) while a forked child infers the shapes and this process would only
    wait. The command imports only what it needs to read the model before forking (modelaudit's
    package imports the audit lazily), so these imports leave the critical path."""

    def imports() -> None:
        import modelaudit.analyses.findings  # noqa: F401
        import modelaudit.analyses.pipeline  # noqa: F401
        from modelaudit.render import FORMATS

        if fmt in FORMATS:
            importlib.import_module(f"modelaudit.render.{'json' if fmt == 'jsonl' else fmt}")

    return imports
