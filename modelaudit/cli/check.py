"""`modelaudit check`: budgets from flags, a baseline report or a config file; exit 1 on a breach."""

from __future__ import annotations

from pathlib import Path

from modelaudit.costs.report import SCHEMA_VERSION
from modelaudit.encoding import MAX_FIELD, text
from modelaudit.errors import UsageError
from modelaudit.graph.model import load

from .common import collect, naming, say, write_output
from .specs import collect_dims, parse_input_spec

__all__ = ["run_check"]


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


def run_check(args) -> int:
    import json

    from modelaudit.analyses.budget import evaluate
    from modelaudit.costs.analyze import analyze

    from .config import ModelCheck, budget_from, load_config

    flags = _flag_budget(args)
    inputs = collect(args.input, parse_input_spec, "--input")
    dims = collect_dims(args.dim, [m for m in args.models if Path(m).is_file()])
    if args.config:
        checks, defaults = load_config(args.config)
        if args.models:  # e.g. from pre-commit: the changed files; unconfigured ones get the defaults
            wanted = {Path(m).resolve(): m for m in args.models}
            chosen = [c for c in checks if c.path.resolve() in wanted]
            known = {c.path.resolve() for c in chosen}
            folder = Path(args.config).resolve().parent
            chosen += [
                ModelCheck(Path(m), budget=budget_from({}, defaults, folder, f"--config {args.config}"))
                for p, m in wanted.items()
                if p not in known
            ]
            checks = chosen
    elif args.models:
        checks = [ModelCheck(Path(m)) for m in args.models]
    else:
        raise UsageError("check needs MODEL paths or --config")
    if not checks:  # a config without [[tool.modelaudit.models]]: passing would check nothing
        raise UsageError(
            f"--config {args.config}: lists no models to check",
            "add [[tool.modelaudit.models]] entries with a path, or name MODEL paths",
        )
    results, breaches, mismatched = [], [], []
    for c in checks:
        for metric, limit in flags.limits.items():  # flags override the config's limits
            c.budget.limits[metric] = limit
        if flags.baseline is not None:
            c.budget.baseline, c.budget.baseline_source = flags.baseline, flags.baseline_source
        c.budget.increases.update(flags.increases)
        if not c.budget.limits and c.budget.baseline is None:
            raise UsageError(f"no budget for {c.path}: give --max-… flags, --baseline, or a config")
        with naming(c.path, several=len(checks) > 1):
            mg = load(c.path, inputs={**c.inputs, **inputs}, dims={**c.dims, **dims}, strict=not args.config, fork=True)
            report, verification = analyze(mg), None
        if args.verify:
            report, verification = _verified(mg, report, args)
            if verification.get("mismatches"):
                mismatched.append((str(c.path), len(verification["mismatches"])))
        found = evaluate(str(c.path), vars(report.totals), c.budget, _flags_that_resolve(report))
        breaches += found
        results.append(
            {
                "model": str(c.path),
                "ok": not found and not (verification or {}).get("mismatches"),
                "totals": report.totals.as_dict(),
                "breaches": [b.as_dict() for b in found],
            }
            | ({"verification": verification} if verification is not None else {})
        )
    if args.format == "json":
        document = {"schema_version": SCHEMA_VERSION, "ok": not breaches, "models": results}
        write_output(json.dumps(document, indent=2) + "\n", None)
    else:
        lines = [f"within budget: {text(r['model'], MAX_FIELD)}" for r in results if r["ok"]]
        lines += [b.line() for b in breaches]
        lines += [
            f"shape mismatch: {text(model, MAX_FIELD)}: {count} tensor shape(s) differ between static inference "
            "and onnxruntime"
            for model, count in mismatched
        ]
        if breaches:
            lines.append(
                f"{len(breaches)} budget breach(es) in {sum(1 for r in results if r['breaches'])} of "
                f"{len(results)} model(s)"
            )
        write_output("".join(f"{line}\n" for line in lines), None)
    return 1 if breaches or mismatched else 0


def _flags_that_resolve(report) -> str:
    """What would resolve the report's unknown sizes or uncounted ops (`resolve with --dim batch=N`)."""
    from modelaudit.render.common import resolve_hint

    return resolve_hint({"unresolved": report.unresolved, "uncounted": report.head()["uncounted"]})


def _verified(mg, report, args):
    """--verify: the report with runtime shapes filled in, and what the run found."""
    from modelaudit.runtime.verify import RuntimeOptions, check
    from modelaudit.units import parse_bytes

    if args.timeout <= 0:
        raise UsageError("--timeout must be positive")
    options = RuntimeOptions(verify=True, max_memory=parse_bytes(args.max_memory, "--max-memory"), timeout=args.timeout)
    report, _ = check(mg, report, options)
    if report.runtime and "skipped" in report.runtime:
        say(f"modelaudit: {mg.path}: {report.runtime['skipped']}; the static totals stand")
        return report, {"skipped": report.runtime["skipped"]}
    v = report.verification
    return report, {"verified": v["verified"], "runtime_shaped": v["runtime_shaped"], "mismatches": v["mismatches"]}
