"""The `modelaudit` command's entry: dispatch a subcommand; every ModelAuditError becomes one stderr line."""

from __future__ import annotations

import errno
import logging
import os
import sys

from modelaudit.encoding import cut, error_line
from modelaudit.errors import INTERNAL_ERROR, ModelAuditError

from .annotate import run_annotate
from .check import run_check
from .commands import run_calc, run_compare, run_explain, run_lint, run_ops
from .parser import build_parser
from .report import run_report

__all__ = ["main", "run", "build_parser"]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, format="modelaudit: %(message)s")
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        commands = {
            "report": run_report,
            "ops": run_ops,
            "compare": run_compare,
            "check": run_check,
            "explain": run_explain,
            "calc": run_calc,
            "lint": run_lint,
            "annotate": run_annotate,
        }
        if args.command is None:  # a short usage, not the whole help
            names = list(commands)
            sys.stderr.write(
                parser.format_usage() + f"modelaudit: error: name a command: {', '.join(names[:-1])} or {names[-1]} "
                "(`modelaudit -h` says what each does; start with `modelaudit report MODEL.onnx`)\n"
            )
            return 2
        from modelaudit.costs.analyze import quiet_gc

        from .common import leaving
        from .deadline import budget_of, memory_limit, memory_of, time_limit

        with quiet_gc(restore=not leaving()), time_limit(budget_of(args)), memory_limit(memory_of(args)):
            code = commands[args.command](args)
        sys.stdout.flush()  # a closed pipe is found here, inside the handlers, not at interpreter exit
        return code
    except ModelAuditError as exc:
        _traceback(debug)  # --debug shows where it failed but keeps the documented exit code
        print(f"modelaudit: error: {exc.one_line()}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("modelaudit: interrupted", file=sys.stderr)
        return 130
    except MemoryError:  # past --memory-limit: in Python, in onnx's C++, or in the forked helper
        _traceback(debug)
        from .deadline import out_of_memory

        print(f"modelaudit: error: {out_of_memory().one_line()}", file=sys.stderr)
        return 5
    except RecursionError:
        _traceback(debug)
        print("modelaudit: error: the model exhausted the auditor's stack", file=sys.stderr)
        return 5
    except BrokenPipeError:  # `modelaudit report … | head`: the reader left, which is not a failure
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:
        if exc.errno not in _WRITE_ERRORS:
            return _internal(exc, debug)
        _traceback(debug)  # stdout (or a stream behind it) on a full disk, over quota, or failing
        print(f"modelaudit: error: cannot write the output ({exc.strerror})", file=sys.stderr)
        _drop_stdout()
        return 2
    except Exception as exc:  # a bug of ours: still one line, never a traceback, and never exit 3 (a verdict)
        return _internal(exc, debug)


_WRITE_ERRORS = frozenset(
    code for code in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO, errno.EROFS) if code is not None
)


def _internal(exc: Exception, debug: bool) -> int:
    _traceback(debug)
    text = cut(error_line(f"{type(exc).__name__}: {exc}"), 300)
    print(
        f"modelaudit: error: internal error while auditing ({text}) (--debug shows the traceback; please report it)",
        file=sys.stderr,
    )
    return INTERNAL_ERROR


def _drop_stdout() -> None:
    """What stdout still buffers cannot be written either: dropped, so that the exit's flush does
    not fail again."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # a stdout with no descriptor (a test's capture)
        pass


def run() -> None:
    """The console script and `python -m modelaudit`: main(), then the process leaves without
    tearing down. Freeing a large model's objects one by one takes time the user waits for
    (docs/performance.md), and nothing needs it (as mypy's hard exit): every file is closed by then, and
    the streams are flushed here. The commands keep() their models and reports for the same reason:
    what their frames would free as they return is left to the exit too."""
    from .common import leave_without_teardown

    leave_without_teardown()
    code = main()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a reader that left: main() already made that exit 0
            pass
    logging.shutdown()
    os._exit(code)


def _traceback(debug: bool) -> None:
    if debug:
        import traceback

        traceback.print_exc()


if __name__ == "__main__":
    run()
