"""The smaller subcommands: compare, explain, calc, lint and ops."""

from __future__ import annotations

from pathlib import Path

from modelaudit.errors import UsageError
from modelaudit.graph.model import load

from .common import collect, keep, naming, refuse_overwriting, write_output
from .specs import collect_dims, parse_input_spec

__all__ = ["run_compare", "run_explain", "run_calc", "run_lint", "run_ops"]


def run_compare(args) -> int:
    from modelaudit.analyses.compare import compare, labels_for
    from modelaudit.costs.analyze import analyze
    from modelaudit.render.compare import render_compare

    from .batch import expand_models

    args.models = expand_models(args.models)  # a folder stands for the models below it, as in report
    if len(args.models) < 2:
        raise UsageError("compare needs two or more models")
    refuse_overwriting(args.output, args.models)
    if args.depth < 1:
        raise UsageError("--depth must be at least 1")
    inputs = collect(args.input, parse_input_spec, "--input")
    dims = collect_dims(args.dim, [m for m in args.models if Path(m).is_file()])
    if args.sweep:
        from modelaudit.analyses.sweep import check_sweep_dims, parse_sweep, sweep
        from modelaudit.render.sweep import render_compare_sweep

        dim, values = parse_sweep(args.sweep)
        check_sweep_dims(dim, dims)  # the flags' fault, not any one model's
        need = "compare --sweep needs the swept dim and each --dim in every model"
        sweeps = []
        for m in args.models:
            try:
                sweeps.append(sweep(m, dim, values, inputs, dims, top=0))
            except UsageError as exc:  # which of the models lacks the dim is what the reader needs
                raise UsageError(f"{m}: {exc.message}", f"{exc.hint}; {need}" if exc.hint else need) from None
        write_output(render_compare_sweep(sweeps, labels_for(args.models), args.format), args.output)
        return 0
    # with several models, an --input or --dim applies to the models that have it
    # each report's document(): the grouping reads its rows column by column, no dict per row
    reports = []
    for m in args.models:
        with naming(m):
            mg = load(m, inputs=inputs, dims=dims, strict=False, fork=True)
            refuse_overwriting(args.output, mg.data_files)
            report = analyze(mg)
        reports.append(report.document())
        keep(mg, report)  # the console script frees neither, as report does
        del mg, report
    result = compare(reports, labels_for(args.models), depth=args.depth)
    if args.format == "html":
        from modelaudit.render.html_compare import render_compare_html

        write_output(render_compare_html(result, by=args.by or "all"), args.output)  # a page has room for both
    else:
        from .report import terminal_width

        write_output(render_compare(result, args.format, by=args.by or "op", width=terminal_width(args)), args.output)
    keep(result)
    return 0


def run_explain(args) -> int:
    from modelaudit.analyses.explain import explain, select_rows
    from modelaudit.costs.analyze import analyze

    mg = load(
        args.model, inputs=collect(args.input, parse_input_spec, "--input"), dims=collect_dims(args.dim, args.model)
    )
    report = analyze(mg)
    write_output(explain(mg, report, select_rows(report, args.node, args.op)), None)
    return 0


def run_calc(args) -> int:
    from modelaudit.analyses.calc import Design, design_holds, render_calc

    values = {}
    for name in ("in", "kernel", "stride", "pad", "dilation", "out"):
        raw = getattr(args, f"calc_{name}")
        if raw is None or raw == "?":
            values[name] = None if raw == "?" or name in ("in", "kernel", "out") else raw
            continue
        if not raw.isdigit() or (int(raw) < 1 and name != "pad"):
            raise UsageError(f"--{name} {raw!r}: expected a positive integer (or ? for the unknown)")
        values[name] = int(raw)
    values = {
        k: v
        for k, v in values.items()
        if v is not None or k in ("in", "kernel", "out") or getattr(args, f"calc_{k}") == "?"
    }
    values["output_padding"] = args.output_padding
    for flag, value in (("--cin", args.cin), ("--cout", args.cout), ("--groups", args.groups)):
        if value is not None and value < 1:
            raise UsageError(f"{flag} must be at least 1")
    design = Design(
        args.layer,
        values,
        rank=args.rank,
        cin=args.cin,
        cout=args.cout,
        groups=args.groups,
        bias=not args.no_bias,
        ceil_mode=args.ceil,
    )
    write_output(render_calc(design), None)
    return 0 if design_holds(design) else 1  # a wrong --out, or no solution: a failed check


def run_lint(args) -> int:
    import json

    from modelaudit.analyses.findings import CODES, SEVERITIES, find, sarif, select
    from modelaudit.costs.analyze import analyze

    unknown = [c for c in args.ignore if c not in CODES]
    if unknown:
        raise UsageError(f"--ignore {', '.join(unknown)}: unknown code", f"codes: {', '.join(CODES)}")
    refuse_overwriting(args.output, [args.model])
    mg = load(
        args.model, inputs=collect(args.input, parse_input_spec, "--input"), dims=collect_dims(args.dim, args.model)
    )
    refuse_overwriting(args.output, mg.data_files)
    findings = select(find(mg, analyze(mg)), args.min_severity, set(args.ignore))
    if args.format == "sarif":
        text = json.dumps(sarif(findings, str(args.model)), indent=2) + "\n"
    elif args.format == "json":
        text = json.dumps({"schema_version": 1, "findings": [f.as_dict() for f in findings]}, indent=2) + "\n"
    else:
        from modelaudit.render.common import finding_texts

        text = "".join(line + "\n" for line in finding_texts([f.as_dict() for f in findings]))
        text += f"{len(findings)} finding(s)\n"
    write_output(text, args.output)
    if args.fail_on != "never" and any(
        SEVERITIES.index(f.severity) >= SEVERITIES.index(args.fail_on) for f in findings
    ):
        return 1
    return 0


def run_ops(args) -> int:
    from modelaudit.analyses.coverage import render_ops

    from .report import terminal_width

    write_output(render_ops(args.format, domain=args.domain, missing=args.missing, width=terminal_width(args)), None)
    return 0
