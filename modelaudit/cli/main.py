"""The `modelaudit` command: argparse subcommands; every ModelAuditError becomes one stderr line."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from modelaudit import __version__
from modelaudit.costs.analyze import analyze
from modelaudit.errors import EXIT_CODES, ModelAuditError, UsageError
from modelaudit.graph.model import load
from modelaudit.render import FORMATS, render
from modelaudit.render.common import SORT_KEYS
from modelaudit.units import parse_bytes

from .specs import parse_dim_spec, parse_input_spec

__all__ = ["main", "parse_input_spec", "parse_dim_spec", "build_parser"]



class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr and exit code 2."""

    def error(self, message: str):
        raise UsageError(f"{message} (see '{self.prog} --help')")


def _collect(specs, parse, flag: str) -> dict:
    out: dict = {}
    for spec in specs or []:
        name, value = parse(spec)
        if name in out and out[name] != value:
            raise UsageError(f"{flag} {name} is given twice with different values")
        out[name] = value
    return out


def _shape_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", action="append", metavar="NAME=SHAPE", default=[],
                        help="fix a dynamic input's shape, e.g. x=1x3x224x224 (repeatable)")
    parser.add_argument("--dim", action="append", metavar="NAME=N", default=[],
                        help="fix a named symbolic dim everywhere, e.g. batch=1 (repeatable)")


def _write(text: str, output: str | None) -> None:
    if output:
        try:
            Path(output).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"-o {output}: cannot write ({exc.strerror})") from None
    else:
        sys.stdout.write(text)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="modelaudit", description="Static cost audit of ONNX models: per-layer params, "
                     "MACs, FLOPs and bytes.", epilog="exit codes: " + "; ".join(f"{k} {v}" for k, v in EXIT_CODES.items()))
    parser.add_argument("--version", action="version", version=f"modelaudit {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    report = sub.add_parser("report", help="per-layer params, MACs, FLOPs and bytes of a model")
    report.add_argument("model", nargs="+", metavar="MODEL",
                        help="one or more .onnx files (parsed as protobuf whatever their extension) or directories")
    report.add_argument("--jobs", "-j", type=int, default=1, metavar="N",
                        help="audit several models in N worker processes (default 1)")
    report.add_argument("--output-dir", metavar="DIR", help="several models: write one report per model into DIR")
    _shape_flags(report)
    report.add_argument("--format", "-f", choices=sorted(FORMATS), default="text")
    report.add_argument("--sort", choices=sorted(SORT_KEYS), default=None,
                        help="order rows by a column (numbers descending); default: topological order")
    report.add_argument("--top", type=int, metavar="N", default=None,
                        help="show only the first N rows (sorted by MACs unless --sort says otherwise)")
    report.add_argument("--by", choices=("node", "op"), default="node", help="one row per node, or per op type")
    report.add_argument("-o", "--output", metavar="FILE", help="write the report to FILE instead of stdout")
    report.add_argument("--symbolic", action="store_true",
                        help="costs as exact polynomials of the dims left symbolic (batch, seq…)")
    report.add_argument("--sweep", metavar="DIM=V1,V2,…", help="audit at each value of a dim: one column per value")
    report.add_argument("--training", action="store_true",
                        help="add backward-pass MACs and FLOPs and the activations saved for backward")
    runtime = report.add_argument_group("runtime (onnxruntime, in a fenced child process)")
    runtime.add_argument("--verify", action="store_true",
                         help="run the model once and check every tensor shape against the static one")
    runtime.add_argument("--input-data", metavar="FILE", help="input values: .npz keyed by input name, or .npy")
    runtime.add_argument("--profile", action="store_true", help="measure each layer's time over --runs runs")
    runtime.add_argument("--runs", type=int, default=10, metavar="N", help="profiled runs (default 10)")
    runtime.add_argument("--warmup", type=int, default=1, metavar="N", help="unmeasured runs first (default 1)")
    runtime.add_argument("--max-memory", default="4GiB", metavar="SIZE",
                         help="refuse a run needing more (default 4GiB; 512MiB, 8GB…)")
    runtime.add_argument("--timeout", type=float, default=300.0, metavar="SECONDS", help="stop a longer run (default 300)")
    runtime.add_argument("--threads", type=int, default=0, metavar="N", help="onnxruntime threads (default: all cores)")
    runtime.add_argument("--seed", type=int, default=0, help="seed of the generated float inputs (default 0)")
    runtime.add_argument("--ort-optimization", choices=("disable", "basic", "extended", "all"), default="disable",
                         help="onnxruntime graph optimizations for --profile (default disable: every node timed as written)")
    report.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    cmp = sub.add_parser("compare", help="totals, op families and blocks of two or more models side by side")
    cmp.add_argument("models", nargs="+", metavar="MODEL", help="two or more .onnx files; the first is the reference")
    _shape_flags(cmp)
    cmp.add_argument("--format", "-f", choices=("text", "markdown", "json", "html"), default="text")
    cmp.add_argument("--by", choices=("op", "block", "all"), default="op",
                     help="breakdown after the totals: per op family (default), per block, or both")
    cmp.add_argument("--depth", type=int, default=2, metavar="N",
                     help="block depth in the exporter's name scopes, as torchinfo counts it (default 2)")
    cmp.add_argument("--sweep", metavar="DIM=V1,V2,…", help="MACs and activations of each model at each value of a dim")
    cmp.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    cmp.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    chk = sub.add_parser("check", help="budgets on totals, growth over a baseline report, or a config's budgets")
    chk.add_argument("models", nargs="*", metavar="MODEL", help="models to check (with --config: those of its entries)")
    chk.add_argument("--config", metavar="FILE", help="pyproject.toml ([tool.modelaudit]) or modelaudit.toml")
    from modelaudit.analyses.budget import METRICS as BUDGET_METRICS

    for metric, (flag, is_bytes) in BUDGET_METRICS.items():
        chk.add_argument(flag, metavar="SIZE" if is_bytes else "N", dest=f"max_{metric}",
                         help=f"limit on {metric.replace('_', ' ')} ({'16MiB, 500MB' if is_bytes else '4M, 600M, 1.5G'})")
    chk.add_argument("--baseline", metavar="REPORT.json", help="a previous `report --format json`: no metric may grow "
                     "(params, weight bytes, MACs, FLOPs) beyond what --max-increase allows")
    chk.add_argument("--max-increase", action="append", default=[], metavar="METRIC=AMOUNT",
                     help="allowed growth over the baseline: macs=2%%, params=0, weight_bytes=1MiB (repeatable)")
    _shape_flags(chk)
    chk.add_argument("--format", "-f", choices=("text", "json"), default="text")
    chk.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    exp = sub.add_parser("explain", help="derive a node's params, MACs and FLOPs by hand")
    exp.add_argument("model")
    exp.add_argument("node", nargs="?", help="the node's name as the report shows it, or #INDEX")
    exp.add_argument("--op", help="every node of this op type instead")
    _shape_flags(exp)
    exp.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    calc = sub.add_parser("calc", help="solve a layer design for its one unknown; params and MACs")
    calc.add_argument("layer", choices=("conv", "pool", "convtranspose"))
    for flag in ("in", "kernel", "stride", "pad", "dilation", "out"):
        calc.add_argument(f"--{flag}", dest=f"calc_{flag}", metavar="N|?", help=f"{flag} size ('?' marks the unknown)")
    calc.add_argument("--output-padding", type=int, default=0, metavar="N", help="convtranspose only")
    calc.add_argument("--cin", type=int, metavar="N", help="input channels (with --cout: params and MACs)")
    calc.add_argument("--cout", type=int, metavar="N", help="output channels")
    calc.add_argument("--groups", type=int, default=1, metavar="G")
    calc.add_argument("--no-bias", action="store_true")
    calc.add_argument("--rank", type=int, default=2, choices=(1, 2, 3), help="spatial axes, all of the same size (default 2)")
    calc.add_argument("--ceil", action="store_true", help="pool with ceil_mode")
    calc.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    lint = sub.add_parser("lint", help="findings: dead nodes, unused or duplicate weights, foldable BatchNorm…")
    lint.add_argument("model")
    lint.add_argument("--format", "-f", choices=("text", "json", "sarif"), default="text")
    lint.add_argument("--fail-on", choices=("warning", "error", "never"), default="error",
                      help="exit 1 when a finding of this severity or worse is reported (default error)")
    lint.add_argument("--min-severity", choices=("note", "warning", "error"), default="warning",
                      help="report findings of this severity and worse (default warning)")
    lint.add_argument("--ignore", action="append", default=[], metavar="CODE", help="silence a code, e.g. MA005 (repeatable)")
    lint.add_argument("-o", "--output", metavar="FILE")
    _shape_flags(lint)
    lint.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    ops = sub.add_parser("ops", help="the op coverage table: category, MAC and FLOP formulas, since opset")
    ops.add_argument("--format", "-f", choices=("text", "markdown", "json", "csv"), default="text")
    ops.add_argument("--domain", help="only this domain (ai.onnx, com.microsoft…)")
    ops.add_argument("--missing", action="store_true",
                     help="list the ops onnx.defs knows (up to the installed opset) that have no classification")
    ops.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    return parser


def _report(args) -> int:
    from .batch import expand_models

    models = expand_models(args.model)
    if len(models) > 1 or args.output_dir:
        return _report_many(args, models)
    args.model = models[0]
    if args.top is not None and args.top < 1:
        raise UsageError("--top must be at least 1")
    if args.runs < 1 or args.warmup < 0 or args.timeout <= 0 or args.threads < 0:
        raise UsageError("--runs must be at least 1, --warmup and --threads at least 0, --timeout positive")
    inputs = _collect(args.input, parse_input_spec, "--input")
    dims = _collect(args.dim, parse_dim_spec, "--dim")
    data = None
    if args.input_data:
        from modelaudit.graph.model import read_model_light
        from modelaudit.runtime.verify import input_shapes_of, load_input_data

        model = read_model_light(args.model).model
        init = {t.name for t in model.graph.initializer}
        data = load_input_data(args.input_data, [vi.name for vi in model.graph.input if vi.name not in init])
        inputs = {**input_shapes_of(data), **inputs}
    if args.sweep:
        return _sweep_report(args, inputs, dims)
    from .batch import Progress

    progress = Progress(3)
    progress.update("loading and inferring shapes")
    mg = load(args.model, inputs=inputs, dims=dims)
    progress.update("costing every node", advance=1)
    result = analyze(mg)
    if args.training:
        result = _with_training(mg, result)
    if args.symbolic:
        from modelaudit.analyses.symbolic import analyse, to_dict

        progress.update("fitting polynomials", advance=0)
        result.symbolic = to_dict(analyse(mg.model if mg.path is None else args.model, inputs, dims))
    from modelaudit.analyses.findings import find

    result.findings = find(mg, result)
    progress.update("writing the report", advance=1)
    progress.close()
    ok = True
    if args.verify or args.profile:
        from modelaudit.runtime.verify import RuntimeOptions, check

        options = RuntimeOptions(verify=args.verify, profile=args.profile, input_data=data, runs=args.runs,
                                 warmup=args.warmup, max_memory=parse_bytes(args.max_memory, "--max-memory"),
                                 timeout=args.timeout, threads=args.threads, seed=args.seed,
                                 optimization=args.ort_optimization)
        result, ok = check(mg, result, options)
    _write(render(result.to_dict(), args.format, sort=args.sort, top=args.top, by=args.by), args.output)
    if result.runtime and "skipped" in result.runtime:
        print(f"modelaudit: {result.runtime['skipped']}; the static report stands", file=sys.stderr)
    if not ok:
        count = len(result.verification["mismatches"])
        print(f"modelaudit: {count} tensor shape(s) differ between static inference and onnxruntime", file=sys.stderr)
        return 1
    return 0


_SUFFIX = {"text": ".txt", "markdown": ".md", "json": ".json", "csv": ".csv", "html": ".html"}


def _sweep_report(args, inputs: dict, dims: dict) -> int:
    from modelaudit.analyses.sweep import parse_sweep, sweep
    from modelaudit.render.sweep import render_sweep

    dim, values = parse_sweep(args.sweep)
    result = sweep(args.model, dim, values, inputs, dims, top=args.top or 10)
    _write(render_sweep(result, args.format), args.output)
    return 0


def _report_many(args, models: list[str]) -> int:
    """Several models: one report each (to stdout, or one file each with --output-dir), or one
    combined JSON document. A model that fails prints its line and the others go on."""
    import json

    from .batch import Progress, audit_many

    if args.verify or args.profile or args.training or args.input_data:
        raise UsageError("--verify, --profile, --training and --input-data take one model at a time")
    if args.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    inputs = _collect(args.input, parse_input_spec, "--input")
    dims = _collect(args.dim, parse_dim_spec, "--dim")
    out_dir = Path(args.output_dir) if args.output_dir else None
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
    progress = Progress(len(models))
    combined, texts, first_error = [], [], 0
    try:
        for path, report, error, code in audit_many(models, inputs, dims, args.jobs, progress):
            if error:
                progress.close()
                print(f"modelaudit: error: {error}", file=sys.stderr)
                first_error = first_error or code
                continue
            if out_dir is not None:
                target = out_dir / (Path(path).stem + _SUFFIX[args.format])
                target.write_text(render(report, args.format, sort=args.sort, top=args.top, by=args.by), encoding="utf-8")
            elif args.format == "json":
                combined.append(json.loads(render(report, "json", sort=args.sort, top=args.top, by=args.by)))
            else:
                texts.append(render(report, args.format, sort=args.sort, top=args.top, by=args.by))
    finally:
        progress.close()
    if out_dir is None:
        if args.format == "json":
            _write(json.dumps({"schema_version": 1, "reports": combined}, indent=2) + "\n", args.output)
        else:
            _write(("\n" if args.format != "csv" else "").join(texts), args.output)
    return first_error


def _with_training(mg, report):
    from modelaudit.analyses.training import add_training
    from modelaudit.costs.weights import find_weights
    from modelaudit.graph.walk import walk

    weights = find_weights(mg, walk(mg))
    params = {leaf.name for leaf in weights.leaves.values() if leaf.role == "param"}
    return add_training(mg, report, weights.constant_tensors, params)


def _compare(args) -> int:
    from modelaudit.analyses.compare import compare, labels_for
    from modelaudit.render.compare import render_compare

    if len(args.models) < 2:
        raise UsageError("compare needs two or more models")
    if args.depth < 1:
        raise UsageError("--depth must be at least 1")
    inputs = _collect(args.input, parse_input_spec, "--input")
    dims = _collect(args.dim, parse_dim_spec, "--dim")
    if args.sweep:
        from modelaudit.analyses.sweep import parse_sweep, sweep
        from modelaudit.render.sweep import render_compare_sweep

        dim, values = parse_sweep(args.sweep)
        sweeps = [sweep(m, dim, values, inputs, dims, top=0) for m in args.models]
        _write(render_compare_sweep(sweeps, labels_for(args.models), args.format), args.output)
        return 0
    # with several models, an --input or --dim applies to the models that have it
    reports = [analyze(load(m, inputs=inputs, dims=dims, strict=False)).to_dict() for m in args.models]
    result = compare(reports, labels_for(args.models), depth=args.depth)
    if args.format == "html":
        from modelaudit.render.html import render_compare_html

        _write(render_compare_html(result, by=args.by), args.output)
    else:
        _write(render_compare(result, args.format, by=args.by), args.output)
    return 0


def _flag_budget(args):
    from modelaudit.analyses.budget import METRICS as BUDGET_METRICS
    from modelaudit.analyses.budget import (
        Budget,
        load_baseline,
        parse_increase,
        parse_limit,
    )

    budget = Budget()
    for metric, (flag, _) in BUDGET_METRICS.items():
        written = getattr(args, f"max_{metric}")
        if written is not None:
            budget.limits[metric] = (parse_limit(metric, written, flag), written)
    for spec in args.max_increase:
        metric, kind, value = parse_increase(spec)
        budget.increases[metric] = (kind, value)
    if args.max_increase and not args.baseline:
        raise UsageError("--max-increase needs --baseline")
    if args.baseline:
        budget.baseline, budget.baseline_source = load_baseline(args.baseline), args.baseline
    return budget


def _check(args) -> int:
    import json

    from modelaudit.analyses.budget import evaluate

    from .config import ModelCheck, budget_from, load_config

    flags = _flag_budget(args)
    inputs = _collect(args.input, parse_input_spec, "--input")
    dims = _collect(args.dim, parse_dim_spec, "--dim")
    if args.config:
        checks, defaults = load_config(args.config)
        if args.models:  # e.g. from pre-commit: the changed files; unconfigured ones get the defaults
            wanted = {Path(m).resolve(): m for m in args.models}
            chosen = [c for c in checks if c.path.resolve() in wanted]
            known = {c.path.resolve() for c in chosen}
            folder = Path(args.config).resolve().parent
            chosen += [ModelCheck(Path(m), budget=budget_from({}, defaults, folder, f"--config {args.config}"))
                       for p, m in wanted.items() if p not in known]
            checks = chosen
    elif args.models:
        checks = [ModelCheck(Path(m)) for m in args.models]
    else:
        raise UsageError("check needs MODEL paths or --config")
    results, breaches = [], []
    for c in checks:
        for metric, limit in flags.limits.items():  # flags override the config's limits
            c.budget.limits[metric] = limit
        if flags.baseline is not None:
            c.budget.baseline, c.budget.baseline_source = flags.baseline, flags.baseline_source
        c.budget.increases.update(flags.increases)
        if not c.budget.limits and c.budget.baseline is None:
            raise UsageError(f"no budget for {c.path}: give --max-… flags, --baseline, or a config")
        totals = analyze(load(c.path, inputs={**c.inputs, **inputs}, dims={**c.dims, **dims},
                              strict=not args.config)).totals
        found = evaluate(str(c.path), totals.__dict__, c.budget)
        breaches += found
        results.append({"model": str(c.path), "ok": not found, "totals": totals.__dict__,
                        "breaches": [b.__dict__ | {"line": b.line()} for b in found]})
    if args.format == "json":
        sys.stdout.write(json.dumps({"schema_version": 1, "ok": not breaches, "models": results}, indent=2) + "\n")
    else:
        for r in results:
            if r["ok"]:
                print(f"within budget: {r['model']}")
        for b in breaches:
            print(b.line())
        if breaches:
            print(f"{len(breaches)} budget breach(es) in {sum(1 for r in results if not r['ok'])} of "
                  f"{len(results)} model(s)")
    return 1 if breaches else 0


def _explain(args) -> int:
    from modelaudit.analyses.explain import explain, select_rows

    mg = load(args.model, inputs=_collect(args.input, parse_input_spec, "--input"),
              dims=_collect(args.dim, parse_dim_spec, "--dim"))
    report = analyze(mg)
    sys.stdout.write(explain(mg, report, select_rows(report, args.node, args.op)))
    return 0


def _calc(args) -> int:
    from modelaudit.analyses.calc import Design, render_calc

    values = {}
    for name in ("in", "kernel", "stride", "pad", "dilation", "out"):
        raw = getattr(args, f"calc_{name}")
        if raw is None or raw == "?":
            values[name] = None if raw == "?" or name in ("in", "kernel", "out") else raw
            continue
        if not raw.isdigit() or (int(raw) < 1 and name != "pad"):
            raise UsageError(f"--{name} {raw!r}: expected a positive integer (or ? for the unknown)")
        values[name] = int(raw)
    values = {k: v for k, v in values.items() if v is not None or k in ("in", "kernel", "out")
              or getattr(args, f"calc_{k}") == "?"}
    values["output_padding"] = args.output_padding
    for flag, value in (("--cin", args.cin), ("--cout", args.cout), ("--groups", args.groups)):
        if value is not None and value < 1:
            raise UsageError(f"{flag} must be at least 1")
    design = Design(args.layer, values, rank=args.rank, cin=args.cin, cout=args.cout, groups=args.groups,
                    bias=not args.no_bias, ceil_mode=args.ceil)
    sys.stdout.write(render_calc(design))
    return 0


def _lint(args) -> int:
    import json

    from modelaudit.analyses.findings import CODES, SEVERITIES, find, sarif, select

    unknown = [c for c in args.ignore if c not in CODES]
    if unknown:
        raise UsageError(f"--ignore {', '.join(unknown)}: unknown code", f"codes: {', '.join(CODES)}")
    mg = load(args.model, inputs=_collect(args.input, parse_input_spec, "--input"),
              dims=_collect(args.dim, parse_dim_spec, "--dim"))
    findings = select(find(mg, analyze(mg)), args.min_severity, set(args.ignore))
    if args.format == "sarif":
        text = json.dumps(sarif(findings, str(args.model)), indent=2) + "\n"
    elif args.format == "json":
        text = json.dumps({"schema_version": 1, "findings": [f.as_dict() for f in findings]}, indent=2) + "\n"
    else:
        from modelaudit.render.common import safe

        text = "".join(f"{f.code} {f.severity}: {safe(f.target)}: {safe(f.message, 400)}\n" for f in findings)
        text += f"{len(findings)} finding(s)\n"
    _write(text, args.output)
    if args.fail_on != "never" and any(SEVERITIES.index(f.severity) >= SEVERITIES.index(args.fail_on) for f in findings):
        return 1
    return 0


def _ops(args) -> int:
    from modelaudit.analyses.coverage import render_ops

    sys.stdout.write(render_ops(args.format, domain=args.domain, missing=args.missing))
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, format="modelaudit: %(message)s")
    try:
        args = build_parser().parse_args(argv)
        if args.command is None:
            build_parser().print_help(sys.stderr)
            return 2
        from modelaudit.costs.analyze import quiet_gc

        commands = {"report": _report, "ops": _ops, "compare": _compare, "check": _check, "explain": _explain,
                    "calc": _calc, "lint": _lint}
        with quiet_gc():
            return commands[args.command](args)
    except ModelAuditError as exc:
        if debug:
            raise
        print(f"modelaudit: error: {exc.one_line()}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("modelaudit: interrupted", file=sys.stderr)
        return 130
    except (RecursionError, MemoryError) as exc:
        if debug:
            raise
        print(f"modelaudit: error: the model exhausted the auditor's {'stack' if isinstance(exc, RecursionError) else 'memory'}",
              file=sys.stderr)
        return 5
    except Exception as exc:  # a bug of ours on a malformed model: still one line, never a traceback
        if debug:
            raise
        text = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
        print(f"modelaudit: error: internal error while auditing ({text}); the model may be malformed "
              "(--debug shows the traceback; please report it)", file=sys.stderr)
        return 3
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
