"""`modelaudit report`: one model (with --verify, --profile, --training, --symbolic, --sweep) or many."""

from __future__ import annotations

import os
import shutil
import sys

from modelaudit.errors import UsageError
from modelaudit.graph.model import load
from modelaudit.units import parse_bytes

from .common import (
    collect,
    keep,
    refuse_overwriting,
    say,
    warm,
    write_output,
    write_report,
)
from .generation import decode_report, generation_folder, hardware_spec
from .specs import check_zero_inputs, collect_dims, parse_input_spec

__all__ = ["run_report", "MAX_TIMEOUT", "MAX_MEMORY", "table_view", "terminal_width"]

MAX_TIMEOUT = 1_000_000  # seconds (11.6 days): beyond, the wait overflows the platform's timers
MAX_MEMORY = 2**50  # 1024 TiB: an address-space limit every 64-bit kernel accepts


def terminal_width(args) -> int | None:
    """The width to fit the text table to: the terminal's, or MODELAUDIT_WIDTH's (for tests and
    scripts; 0 = whole); None (whole) with --wide, with -o FILE, or when stdout is not a terminal."""
    if getattr(args, "wide", False) or getattr(args, "output", None) or args.format != "text":
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
    "provider": ("profile",),
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
    from modelaudit.analyses.pipeline import Extras, extend

    from .batch import Progress, expand_models, report_many, shard

    _unused_runtime_flags(args)
    routed = generation_folder(args, terminal_width(args))
    if routed is not None:
        return routed
    models = expand_models(args.model)
    if args.shard:
        return report_many(args, shard(models, args.shard))
    if len(models) > 1 or args.output_dir:
        return report_many(args, models)
    args.model = models[0]
    refuse_overwriting(args.output, [args.model])
    view = table_view(args)
    max_memory = _runtime_limits(args)
    inputs, dims, data = _shape_flags(args)
    spec = hardware_spec(args)
    if args.decode is not None or args.generate is not None:  # `--decode ""` is refused, not ignored
        return decode_report(args, inputs, dims, spec, terminal_width(args))
    if args.sweep:
        _sweep_alone(args, spec)
        return _sweep_report(args, inputs, dims)
    progress = Progress(3)
    mg, result = _audit(args, inputs, dims, progress)
    if args.symbolic:
        progress.update("fitting polynomials", advance=0)
    options = _runtime_options(args, data, max_memory)
    progress.update("writing the report", advance=1)
    progress.close()
    extras = Extras(training=args.training, symbolic=args.symbolic, runtime=options, fork=True)
    result, ok = extend(mg, result, inputs, dims, extras)
    if spec is not None:
        from modelaudit.analyses.roofline import attach_hardware

        attach_hardware(mg, result, spec)
    write_report(result, args.format, args.output, sort=args.sort, top=args.top, by=args.by, **view)
    keep(mg, result)
    return _runtime_exit(args, result, ok)


def _runtime_limits(args) -> int:
    """onnxruntime's settings checked (also when nothing runs it: a bad flag is never ignored);
    returns --max-memory in bytes."""
    if args.runs < 1 or args.warmup < 0 or args.threads < 0:
        raise UsageError("--runs must be at least 1, --warmup and --threads at least 0")
    if args.seed < 0:  # numpy's generators take no negative seed
        raise UsageError(f"--seed {args.seed}: give a seed of 0 or more")
    if not 0 < args.timeout <= MAX_TIMEOUT:  # also refuses nan and inf, which no clock can wait for
        raise UsageError(f"--timeout {args.timeout:g}: give seconds above 0 and at most {MAX_TIMEOUT:,}")
    max_memory = parse_bytes(args.max_memory, "--max-memory")
    if not 0 < max_memory <= MAX_MEMORY:  # a limit the kernel's address-space limit cannot hold kills the child
        raise UsageError(f"--max-memory {args.max_memory}: give a size above 0 and at most 1024 TiB")
    return max_memory


def _shape_flags(args) -> tuple[dict, dict, dict | None]:
    """--input and --dim, and --input-data's arrays (whose shapes fix the inputs they name)."""
    inputs = collect(args.input, lambda spec: parse_input_spec(spec, allow_zero=True), "--input")
    check_zero_inputs(args.model, inputs)
    dims = collect_dims(args.dim, args.model)
    if not args.input_data:
        return inputs, dims, None
    from modelaudit.load.reader import read_model_light
    from modelaudit.runtime.verify import input_shapes_of, load_input_data

    model = read_model_light(args.model).model
    init = {t.name for t in model.graph.initializer}
    data = load_input_data(args.input_data, [vi.name for vi in model.graph.input if vi.name not in init])
    return {**input_shapes_of(data), **inputs}, dims, data


def _sweep_alone(args, spec) -> None:
    """--sweep prints one column per value: what shapes one audit's table is refused, not ignored."""
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


def _audit(args, inputs: dict, dims: dict, progress):
    """The model loaded and audited: (ModelGraph, Report). While the forked helper infers the
    shapes, this process imports the audit's modules and walks the weights (`meanwhile`)."""
    from modelaudit.costs.analyze import analyze, prepare

    progress.update("loading and inferring shapes")
    imports, prepared = warm(args.format), []

    def meanwhile(unshaped) -> None:
        imports()
        prepared.append(prepare(unshaped))

    mg = load(args.model, inputs=inputs, dims=dims, fork=True, meanwhile=meanwhile)
    refuse_overwriting(args.output, mg.data_files)
    progress.update("costing every node", advance=1)
    return mg, analyze(mg, prepared[0] if prepared else None)


def _runtime_options(args, data, max_memory: int):
    """How onnxruntime runs for --verify and --profile; None when neither is asked."""
    if not (args.verify or args.profile):
        return None
    from modelaudit.runtime.verify import RuntimeOptions

    return RuntimeOptions(
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
        provider=args.provider,
    )


def _runtime_exit(args, result, ok: bool) -> int:
    """1 where --verify could not run or found a mismatch, with one line saying which; else 0."""
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


def _sweep_report(args, inputs: dict, dims: dict) -> int:
    from modelaudit.analyses.sweep import parse_sweep, sweep
    from modelaudit.render.sweep import render_sweep

    dim, values = parse_sweep(args.sweep)
    result = sweep(args.model, dim, values, inputs, dims, top=args.top or 10)
    write_output(render_sweep(result, args.format), args.output)
    return 0
