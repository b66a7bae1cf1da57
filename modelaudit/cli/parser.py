"""The argparse tree: every subcommand and flag, with its help."""

from __future__ import annotations

import argparse

from modelaudit._version import __version__
from modelaudit.errors import EXIT_CODES
from modelaudit.render import FORMATS
from modelaudit.render.common import SORT_KEYS

from .common import Parser, shape_flags

__all__ = ["build_parser", "RUNTIME_DEFAULTS"]

# onnxruntime's settings and the runs that use them (report refuses one changed with none of them on)
RUNTIME_DEFAULTS = {
    "runs": 10,
    "warmup": 1,
    "max_memory": "4GiB",
    "timeout": 300.0,
    "threads": 0,
    "seed": 0,
    "ort_optimization": "disable",
    "provider": "cpu",
}


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="modelaudit",
        description="Static cost audit of ONNX models: per-layer params, MACs, FLOPs and bytes.",
        epilog="exit codes: " + "; ".join(f"{k} {v}" for k, v in EXIT_CODES.items()),
    )
    parser.add_argument("--version", action="version", version=f"modelaudit {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for add in (_report, _compare, _check, _explain, _calc, _lint, _annotate, _ops):
        add(sub)
    return parser


def _report(sub) -> None:
    """report: the models, then the flag groups of what it shows, what it adds, and what it runs."""
    report = sub.add_parser("report", help="per-layer params, MACs, FLOPs and bytes of a model")
    report.add_argument(
        "model",
        nargs="+",
        metavar="MODEL",
        help="one or more .onnx files (parsed as protobuf whatever their extension) or directories",
    )
    report.add_argument(
        "--jobs", "-j", type=int, default=1, metavar="N", help="audit several models in N worker processes (default 1)"
    )
    report.add_argument("--output-dir", metavar="DIR", help="several models: write one report per model into DIR")
    report.add_argument(
        "--shard",
        metavar="K/N",
        help="audit only slice K of N of the models (stable: by a hash of "
        "each path), for CI matrices and distributed engines",
    )
    shape_flags(report)
    _view_flags(report)
    _analysis_flags(report)
    _runtime_flags(report)
    report.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)


def _view_flags(report) -> None:
    """report: the format, and which rows and columns the table shows."""
    report.add_argument(
        "--format",
        "-f",
        choices=sorted(FORMATS),
        default="text",
        help="text (a table fitted to the terminal; the default), markdown, json (every row: docs/json-schema.md), "
        "jsonl (one report a line), csv (exact numbers, a line per row) or html (a page with charts)",
    )
    report.add_argument(
        "--sort",
        choices=sorted(SORT_KEYS),
        default=None,
        help="order rows by a column (numbers descending); default: topological order",
    )
    report.add_argument(
        "--top",
        type=int,
        metavar="N",
        default=None,
        help="show only the first N rows (sorted by MACs unless --sort says otherwise)",
    )
    report.add_argument("--by", choices=("node", "op"), default="node", help="one row per node, or per op type")
    report.add_argument(
        "--depth",
        type=int,
        metavar="N",
        default=None,
        help="one row per name scope down to depth N, with subtotals (features, features.3…)",
    )
    report.add_argument(
        "--columns",
        metavar="KEY,KEY,…",
        default=None,
        help="the table's columns in this order (text, markdown), from: index, name, op, input, output, "
        "weights, params, params%%, macs, flops, bytes, macs%%, note (--by op: op, count, …; "
        "--depth: block, count, …)",
    )
    report.add_argument(
        "--wide", action="store_true", help="print the table whole, never fitted to the terminal's width"
    )
    report.add_argument("-o", "--output", metavar="FILE", help="write the report to FILE instead of stdout")


def _analysis_flags(report) -> None:
    """report: what is computed beyond the audit itself."""
    report.add_argument(
        "--symbolic", action="store_true", help="costs as exact polynomials of the dims left symbolic (batch, seq…)"
    )
    report.add_argument("--sweep", metavar="DIM=V1,V2,…", help="audit at each value of a dim: one column per value")
    report.add_argument(
        "--training",
        action="store_true",
        help="add backward-pass MACs and FLOPs and the activations saved for backward",
    )
    report.add_argument(
        "--decode",
        metavar="N[,N…]",
        help="decoder with a KV cache: prefill of N tokens and one decode step at context N (one column per N)",
    )
    report.add_argument(
        "--generate",
        metavar="PROMPT:NEW",
        help="decoder with a KV cache: a whole generation, the prefill of PROMPT tokens and every decode step "
        "until NEW tokens are out (summed exactly; with --hardware, time to first token, per output token, tokens/s)",
    )
    for flag, what in (("--weight-dtype", "the weights"), ("--kv-dtype", "the KV cache")):
        report.add_argument(
            flag,
            metavar="DTYPE",
            help=f"with --decode or --generate: price {what} as fp16, bf16, fp8, int8 or int4 (block scales "
            "included) instead of as stored; MACs do not change",
        )
    report.add_argument(
        "--hardware",
        metavar="NAME|FILE|calibrate",
        help="roofline time bounds per layer on a built-in chip (h100-sxm, h200, b200, a100, l40s, l4, a10g, t4, "
        "v100, mi300x, rtx4090, jetson-orin, apple-m2, cpu-avx2, cpu-avx512), a TOML spec file, or this machine "
        "measured",
    )
    report.add_argument(
        "--save-hardware", metavar="FILE", help="with --hardware calibrate: write the measured spec as TOML"
    )


def _runtime_flags(report) -> None:
    """report: onnxruntime's run, --verify and --profile."""
    runtime = report.add_argument_group("runtime (onnxruntime, in a fenced child process)")
    runtime.add_argument(
        "--verify", action="store_true", help="run the model once and check every tensor shape against the static one"
    )
    runtime.add_argument("--input-data", metavar="FILE", help="input values: .npz keyed by input name, or .npy")
    runtime.add_argument("--profile", action="store_true", help="measure each layer's time over --runs runs")
    runtime.add_argument(
        "--runs", type=int, default=RUNTIME_DEFAULTS["runs"], metavar="N", help="profiled runs (default 10)"
    )
    runtime.add_argument(
        "--warmup", type=int, default=RUNTIME_DEFAULTS["warmup"], metavar="N", help="unmeasured runs first (default 1)"
    )
    runtime.add_argument(
        "--max-memory",
        default=RUNTIME_DEFAULTS["max_memory"],
        metavar="SIZE",
        help="refuse a run needing more (default 4GiB; 512MiB, 8GB…)",
    )
    runtime.add_argument(
        "--timeout",
        type=float,
        default=RUNTIME_DEFAULTS["timeout"],
        metavar="SECONDS",
        help="stop a longer run (default 300)",
    )
    runtime.add_argument(
        "--threads",
        type=int,
        default=RUNTIME_DEFAULTS["threads"],
        metavar="N",
        help="onnxruntime threads (default: all cores)",
    )
    runtime.add_argument(
        "--seed", type=int, default=RUNTIME_DEFAULTS["seed"], help="seed of the generated float inputs (default 0)"
    )
    runtime.add_argument(
        "--ort-optimization",
        choices=("disable", "basic", "extended", "all"),
        default=RUNTIME_DEFAULTS["ort_optimization"],
        help="onnxruntime graph optimizations for --profile (default disable: every node timed as written)",
    )
    runtime.add_argument(
        "--provider",
        choices=("cpu", "cuda"),
        default=RUNTIME_DEFAULTS["provider"],
        help="onnxruntime's execution provider for --profile (default cpu; cuda needs onnxruntime-gpu)",
    )


def _compare(sub) -> None:
    cmp = sub.add_parser("compare", help="totals, op families and blocks of two or more models side by side")
    cmp.add_argument(
        "models",
        nargs="+",
        metavar="MODEL",
        help="two or more .onnx files or folders of them; the first is the reference",
    )
    shape_flags(cmp)
    cmp.add_argument(
        "--wide", action="store_true", help="print the tables whole, however wide (not fitted to the terminal)"
    )
    cmp.add_argument(
        "--format",
        "-f",
        choices=("text", "markdown", "json", "html"),
        default="text",
        help="text (the default), markdown, json or html (charts on one scale)",
    )
    cmp.add_argument(
        "--by",
        choices=("op", "block", "all"),
        default=None,
        help="breakdown after the totals: per op family (the default), per block, or both (the html page's default)",
    )
    cmp.add_argument(
        "--depth",
        type=int,
        default=2,
        metavar="N",
        help="block depth in the exporter's name scopes, as torchinfo counts it (default 2)",
    )
    cmp.add_argument("--sweep", metavar="DIM=V1,V2,…", help="MACs and activations of each model at each value of a dim")
    cmp.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    cmp.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)


def _check(sub) -> None:
    chk = sub.add_parser("check", help="budgets on totals, growth over a baseline report, or a config's budgets")
    chk.add_argument("models", nargs="*", metavar="MODEL", help="models to check (with --config: those of its entries)")
    chk.add_argument("--config", metavar="FILE", help="pyproject.toml ([tool.modelaudit]) or modelaudit.toml")
    from modelaudit.analyses.budget import METRICS as BUDGET_METRICS

    for metric, (flag, is_bytes) in BUDGET_METRICS.items():
        chk.add_argument(
            flag,
            metavar="SIZE" if is_bytes else "N",
            dest=f"max_{metric}",
            help=f"limit on {metric.replace('_', ' ')} ({'16MiB, 500MB' if is_bytes else '4M, 600M, 1.5G'})",
        )
    chk.add_argument(
        "--baseline",
        metavar="REPORT.json",
        help="a previous `report --format json`: no metric may grow "
        "(params, weight bytes, MACs, FLOPs) beyond what --max-increase allows",
    )
    chk.add_argument(
        "--max-increase",
        action="append",
        default=[],
        metavar="METRIC=AMOUNT",
        help="allowed growth over the baseline: macs=2%%, params=0, weight_bytes=1MiB (repeatable)",
    )
    shape_flags(chk)
    chk.add_argument(
        "--verify",
        action="store_true",
        help="run each model once in onnxruntime: shapes only a run can tell (NonZero, data-dependent "
        "Reshape) fill in before the budgets are checked; a static shape the run contradicts fails",
    )
    chk.add_argument(
        "--max-memory", default="4GiB", metavar="SIZE", help="--verify: refuse a run needing more (default 4GiB)"
    )
    chk.add_argument(
        "--timeout", type=float, default=300.0, metavar="SECONDS", help="--verify: stop a longer run (default 300)"
    )
    chk.add_argument(
        "--format", "-f", choices=("text", "json"), default="text", help="text (a line per breach) or json"
    )
    chk.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)


def _explain(sub) -> None:
    exp = sub.add_parser("explain", help="derive a node's params, MACs and FLOPs by hand")
    exp.add_argument("model")
    exp.add_argument("node", nargs="?", help="the node's name as the report shows it, or #INDEX")
    exp.add_argument("--op", help="every node of this op type instead")
    shape_flags(exp)
    exp.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)


def _calc(sub) -> None:
    calc = sub.add_parser("calc", help="solve a layer design for its one unknown; params and MACs")
    calc.add_argument("layer", choices=("conv", "pool", "convtranspose"))
    for flag in ("in", "kernel", "stride", "pad", "dilation", "out"):
        calc.add_argument(f"--{flag}", dest=f"calc_{flag}", metavar="N|?", help=f"{flag} size ('?' marks the unknown)")
    calc.add_argument("--output-padding", type=int, default=0, metavar="N", help="convtranspose only")
    calc.add_argument("--cin", type=int, metavar="N", help="input channels (with --cout: params and MACs)")
    calc.add_argument("--cout", type=int, metavar="N", help="output channels")
    calc.add_argument("--groups", type=int, default=1, metavar="G")
    calc.add_argument("--no-bias", action="store_true")
    calc.add_argument(
        "--rank", type=int, default=2, choices=(1, 2, 3), help="spatial axes, all of the same size (default 2)"
    )
    calc.add_argument("--ceil", action="store_true", help="pool with ceil_mode")
    calc.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)


def _lint(sub) -> None:
    lint = sub.add_parser("lint", help="findings: dead nodes, unused or duplicate weights, foldable BatchNorm…")
    lint.add_argument("model")
    lint.add_argument(
        "--format",
        "-f",
        choices=("text", "json", "sarif"),
        default="text",
        help="text (a line per finding), json or sarif (for code scanning)",
    )
    lint.add_argument(
        "--fail-on",
        choices=("warning", "error", "never"),
        default="error",
        help="exit 1 when a finding of this severity or worse is reported (default error)",
    )
    lint.add_argument(
        "--min-severity",
        choices=("note", "warning", "error"),
        default="warning",
        help="report findings of this severity and worse (default warning)",
    )
    lint.add_argument(
        "--ignore", action="append", default=[], metavar="CODE", help="silence a code, e.g. MA005 (repeatable)"
    )
    lint.add_argument("-o", "--output", metavar="FILE")
    shape_flags(lint)
    lint.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)


def _annotate(sub) -> None:
    ann = sub.add_parser("annotate", help="a copy of the model with inferred shapes and each node's costs, for Netron")
    ann.add_argument("model")
    ann.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="FILE",
        help="the annotated copy (beside the model when it has external data)",
    )
    shape_flags(ann)
    ann.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)


def _ops(sub) -> None:
    ops = sub.add_parser("ops", help="the op coverage table: category, MAC and FLOP formulas, since opset")
    ops.add_argument(
        "--wide", action="store_true", help="print the table whole, however wide (not fitted to the terminal)"
    )
    ops.add_argument(
        "--format",
        "-f",
        choices=("text", "markdown", "json", "csv"),
        default="text",
        help="text, markdown, json or csv",
    )
    ops.add_argument("--domain", help="only this domain (ai.onnx, com.microsoft…)")
    ops.add_argument(
        "--missing",
        action="store_true",
        help="list the ops onnx.defs knows (up to the installed opset) that have no classification",
    )
    ops.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
