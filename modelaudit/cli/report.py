"""`modelaudit report`: one model (with --verify, --profile, --training, --symbolic, --sweep) or many."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from modelaudit.errors import UsageError
from modelaudit.graph.model import load
from modelaudit.units import parse_bytes

from .common import (
    check_writable,
    collect,
    keep,
    refuse_overwriting,
    say,
    warm,
    write_output,
    write_report,
)
from .specs import check_zero_inputs, collect_dims, parse_input_spec

__all__ = ["run_report", "MAX_TIMEOUT", "MAX_MEMORY", "table_view", "terminal_width"]

MAX_TIMEOUT = 1_000_000  # seconds (11.6 days): beyond, the wait overflows the platform's timers
MAX_MEMORY = 2**50  # 1024 TiB: an address-space limit every 64-bit kernel accepts


def terminal_width(args) -> int | None:
    """The width to fit the text table to: the terminal's, or MODELAUDIT_WIDTH's (for tests and
    scripts; 0 = whole); None (whole) with --wide, with -o FILE, or when stdout is not a terminal."""
    if args.wide or args.output or args.format != "text":
        return None
    forced = os.environ.get("MODELAUDIT_WIDTH")
    if forced is not None:
        if not forced.isdigit():
            raise UsageError(f"MODELAUDIT_WIDTH={forced!r}: expected a number of columns (0 prints tables whole)")
        return int(forced) or None
    if not sys.stdout.isatty():
        return None
    return shutil.get_terminal_size().columns


def table_view(args) -> dict:
    """--columns, --depth and the terminal's width, checked against the format."""
    if args.top is not None and args.top < 1:
        raise UsageError("--top must be at least 1")
    if args.depth is not None and args.depth < 1:
        raise UsageError("--depth must be at least 1")
    columns = [c.strip() for c in args.columns.split(",") if c.strip()] if args.columns is not None else None
    if columns is not None and (not columns or args.format not in ("text", "markdown")):
        raise UsageError(
            "--columns takes KEY,KEY,… and shapes the text and markdown tables"
            + (f" (--format {args.format} has its own fields)" if columns else "")
        )
    if args.depth is not None and args.format == "html":
        raise UsageError("--depth shapes the text, markdown, csv and json tables; the HTML page has its block chart")
    if args.depth is not None and args.by == "op":
        raise UsageError("--depth and --by op are two different tables: choose one")
    return {"columns": columns, "depth": args.depth, "width": terminal_width(args)}


# which runs read each onnxruntime setting: one changed with none of them on would be ignored
_RUNTIME_USERS = {
    "runs": ("profile", "calibrate"),
    "warmup": ("profile",),
    "ort_optimization": ("profile",),
    "seed": ("verify", "profile"),
    "threads": ("verify", "profile", "calibrate"),
    "timeout": ("verify", "profile", "calibrate"),
    "max_memory": ("verify", "profile", "calibrate"),
}


def _unused_runtime_flags(args) -> None:
    from .parser import RUNTIME_DEFAULTS

    on = {"verify": args.verify, "profile": args.profile, "calibrate": args.hardware == "calibrate"}
    for key, users in _RUNTIME_USERS.items():
        if getattr(args, key) != RUNTIME_DEFAULTS[key] and not any(on[u] for u in users):
            flag = "--" + key.replace("_", "-")
            raise UsageError(
                f"{flag} sets how onnxruntime runs, and nothing runs it",
                "add " + ", ".join("--hardware calibrate" if u == "calibrate" else f"--{u}" for u in users),
            )


def run_report(args) -> int:
    from .batch import expand_models, shard

    _unused_runtime_flags(args)
    models = expand_models(args.model)
    if args.shard:
        return _report_many(args, shard(models, args.shard))
    if len(models) > 1 or args.output_dir:
        return _report_many(args, models)
    args.model = models[0]
    refuse_overwriting(args.output, [args.model])
    view = table_view(args)
    if args.runs < 1 or args.warmup < 0 or args.threads < 0:
        raise UsageError("--runs must be at least 1, --warmup and --threads at least 0")
    if args.seed < 0:  # numpy's generators take no negative seed
        raise UsageError(f"--seed {args.seed}: give a seed of 0 or more")
    if not 0 < args.timeout <= MAX_TIMEOUT:  # also refuses nan and inf, which no clock can wait for
        raise UsageError(f"--timeout {args.timeout:g}: give seconds above 0 and at most {MAX_TIMEOUT:,}")
    max_memory = parse_bytes(args.max_memory, "--max-memory")
    if not 0 < max_memory <= MAX_MEMORY:  # a limit the kernel's address-space limit cannot hold kills the child
        raise UsageError(f"--max-memory {args.max_memory}: give a size above 0 and at most 1024 TiB")
    inputs = collect(args.input, lambda spec: parse_input_spec(spec, allow_zero=True), "--input")
    check_zero_inputs(args.model, inputs)
    dims = collect_dims(args.dim, args.model)
    data = None
    if args.input_data:
        from modelaudit.load.reader import read_model_light
        from modelaudit.runtime.verify import input_shapes_of, load_input_data

        model = read_model_light(args.model).model
        init = {t.name for t in model.graph.initializer}
        data = load_input_data(args.input_data, [vi.name for vi in model.graph.input if vi.name not in init])
        inputs = {**input_shapes_of(data), **inputs}
    spec = _hardware(args)
    if args.decode:
        return _decode_report(args, inputs, dims, spec)
    if args.sweep:
        if spec is not None:
            raise UsageError("--hardware goes with one audit or --decode, not with --sweep")
        if (
            args.symbolic
            or args.training
            or args.verify
            or args.profile
            or args.depth
            or args.columns
            or args.by == "op"
            or args.sort
        ):
            raise UsageError(
                "--sweep prints one column per value and takes none of --symbolic, --training, --verify, "
                "--profile, --depth, --columns, --by op, --sort",
                "--symbolic alone gives the costs as formulas of every size",
            )
        return _sweep_report(args, inputs, dims)
    from .batch import Progress

    progress = Progress(3)
    progress.update("loading and inferring shapes")
    imports, prepared = warm(args.format), []

    def meanwhile(unshaped) -> None:  # while a forked child infers the shapes: imports, the weights
        imports()
        from modelaudit.costs.analyze import prepare

        prepared.append(prepare(unshaped))

    mg = load(args.model, inputs=inputs, dims=dims, fork=True, meanwhile=meanwhile)
    refuse_overwriting(args.output, mg.data_files)
    from modelaudit.analyses.pipeline import Extras, extend
    from modelaudit.costs.analyze import analyze

    progress.update("costing every node", advance=1)
    result = analyze(mg, prepared[0] if prepared else None)
    if args.symbolic:
        progress.update("fitting polynomials", advance=0)
    options = None
    if args.verify or args.profile:
        from modelaudit.runtime.verify import RuntimeOptions

        options = RuntimeOptions(
            verify=args.verify,
            profile=args.profile,
            input_data=data,
            runs=args.runs,
            warmup=args.warmup,
            max_memory=max_memory,
            timeout=args.timeout,
            threads=args.threads,
            seed=args.seed,
            optimization=args.ort_optimization,
        )
    progress.update("writing the report", advance=1)
    progress.close()
    extras = Extras(training=args.training, symbolic=args.symbolic, runtime=options, fork=True)
    result, ok = extend(mg, result, inputs, dims, extras)
    if spec is not None:
        from modelaudit.analyses.roofline import attach_roofline
        from modelaudit.analyses.traffic import row_traffic

        attach_roofline(result, row_traffic(mg, result), spec)
    write_report(result, args.format, args.output, sort=args.sort, top=args.top, by=args.by, **view)
    keep(mg, result)
    if result.runtime and "skipped" in result.runtime:
        say(
            f"modelaudit: {result.runtime['skipped']}; the static report stands"
            + ("; nothing was verified" if args.verify else "")
        )
        return 1 if args.verify else 0
    if not ok:
        count = len(result.verification["mismatches"])
        print(f"modelaudit: {count} tensor shape(s) differ between static inference and onnxruntime", file=sys.stderr)
        return 1
    return 0


_SUFFIX = {"text": ".txt", "markdown": ".md", "json": ".json", "jsonl": ".jsonl", "csv": ".csv", "html": ".html"}


def _sweep_report(args, inputs: dict, dims: dict) -> int:
    from modelaudit.analyses.sweep import parse_sweep, sweep
    from modelaudit.render.sweep import render_sweep

    dim, values = parse_sweep(args.sweep)
    result = sweep(args.model, dim, values, inputs, dims, top=args.top or 10)
    write_output(render_sweep(result, args.format), args.output)
    return 0


def _hardware(args):
    """The --hardware spec: a built-in chip, a TOML file, or this machine measured (and saved)."""
    if args.save_hardware and args.hardware != "calibrate":
        raise UsageError("--save-hardware goes with --hardware calibrate")
    if not args.hardware:
        return None
    from modelaudit.analyses.hardware import get_spec, spec_from_dict, spec_to_toml

    if args.hardware != "calibrate":
        return get_spec(args.hardware)
    from modelaudit.runtime.calibrate import calibrate
    from modelaudit.runtime.fence import RuntimeFailure

    if args.save_hardware:  # refused before the measurement, not after it
        check_writable(args.save_hardware, "--save-hardware")
    if sys.stderr.isatty():  # off a terminal, stderr holds errors only: one line, the error's
        print("modelaudit: calibrating this machine with onnxruntime (a few seconds)", file=sys.stderr)
    try:
        table = calibrate(args.threads, max(50, args.runs), parse_bytes(args.max_memory, "--max-memory"), args.timeout)
    except RuntimeFailure as exc:
        raise UsageError(f"--hardware calibrate: onnxruntime could not run the calibration ({exc})") from None
    spec = spec_from_dict(table, "--hardware calibrate")
    if args.save_hardware:
        write_output(spec_to_toml(spec), args.save_hardware, "--save-hardware")
    return spec


def _decode_report(args, inputs: dict, dims: dict, spec) -> int:
    from modelaudit.analyses.generation import generation, parse_contexts
    from modelaudit.render.generation import render_generation

    if args.sweep or args.symbolic or args.training or args.verify or args.profile:
        raise UsageError("--decode goes alone (not with --sweep, --symbolic, --training, --verify or --profile)")
    if args.format == "html":
        raise UsageError("--decode has no HTML view: use text, markdown, json or csv")
    if args.depth is not None or args.columns or args.by == "op" or args.sort:  # its tables are fixed: never ignore
        raise UsageError(
            "--decode prints its own tables (the top layers by decode MACs: --top N) and takes none of "
            "--depth, --by op, --columns, --sort"
        )
    result = generation(args.model, parse_contexts(args.decode), inputs, dims)
    if spec is not None:
        from modelaudit.analyses.roofline import generation_roofline

        generation_roofline(result, spec)
    write_output(render_generation(result, args.format, top=args.top or 10), args.output)
    return 0


def _report_many(args, models: list[str]) -> int:
    """Several models: one report each (to stdout, or one file each with --output-dir), one
    combined JSON document, or JSON lines written as each model finishes. Reports are rendered in
    the workers and written as they arrive; a model that fails prints its line and the others go on."""
    from functools import partial

    from modelaudit.render import render

    from .batch import Progress, audit_many

    if (
        args.verify
        or args.profile
        or args.training
        or args.input_data
        or args.decode
        or args.hardware
        or args.symbolic
        or args.sweep
    ):  # never dropped silently from each model's report
        raise UsageError(
            "--verify, --profile, --training, --input-data, --decode, --hardware, --symbolic and --sweep "
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
            stream.write('{"schema_version": 1, "reports": [\n')
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
    """-o FILE (opened once, before the first model) or stdout, for _report_many's stream."""

    def __init__(self, output: str | None):
        self.output, self.stream = output, None

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
