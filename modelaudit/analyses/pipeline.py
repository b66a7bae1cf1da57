"""One audit with every option the command line has: training, symbolic, findings, verification."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from onnx import ModelProto

from modelaudit.costs.analyze import analyze, quiet_gc
from modelaudit.costs.report import Report
from modelaudit.graph.model import ModelGraph, load

if TYPE_CHECKING:
    from modelaudit.runtime.verify import RuntimeOptions

__all__ = ["audit", "extend", "Extras"]


@dataclass(frozen=True)
class Extras:
    """What extend() adds to a report, as the command line's flags ask."""

    training: bool = False  # --training
    symbolic: bool = False  # --symbolic
    findings: bool = True  # the lint findings
    runtime: RuntimeOptions | None = None  # an onnxruntime run: --verify, --profile
    fork: bool = False  # --symbolic audits half of its grid in a forked child (the command line's choice)


def extend(
    mg: ModelGraph,
    report: Report,
    inputs: dict[str, tuple[int, ...]] | None = None,
    dims: dict[str, int] | None = None,
    extras: Extras | None = None,
) -> tuple[Report, bool]:
    """Adds to a report what `extras` asks for, in the command line's order; returns it and
    whether every shape onnxruntime saw matched (True without a runtime check)."""
    extras = Extras() if extras is None else extras
    training, symbolic, findings, runtime = extras.training, extras.symbolic, extras.findings, extras.runtime
    if training:
        from .training import with_training

        report = with_training(mg, report)
    if symbolic:
        from .symbolic import analyse, to_dict

        report.symbolic = to_dict(analyse(mg, inputs, dims, fork=extras.fork))
    if findings:
        from .findings import find

        report.findings = find(mg, report)
        if report.symbolic:  # its symbolic dims are the polynomials' variables, not something left unresolved
            variables = report.symbolic["variables"]
            report.findings = [
                f
                for f in report.findings
                if f.code != "MA011" or not any(f"has {v} left symbolic" in f.message for v in variables)
            ]
    if runtime is None:
        return report, True
    from modelaudit.runtime.verify import check

    return check(mg, report, runtime)


def audit(
    model: str | os.PathLike[str] | ModelProto,
    inputs: dict[str, tuple[int, ...]] | None = None,
    dims: dict[str, int] | None = None,
    *,
    verify: bool = False,
    training: bool = False,
    symbolic: bool = False,
    findings: bool = True,
    input_data: dict[str, np.ndarray] | None = None,
) -> Report:
    """Audits a model file (or ModelProto) as `modelaudit report` does: per-node params, MACs,
    FLOPs and bytes with totals, and the lint findings.

    `inputs` fixes dynamic input shapes ({"x": (1, 3, 224, 224)}); `dims` fixes named dims
    ({"batch": 1}). `verify` runs the model once in onnxruntime (in a fenced child process) and
    checks every inferred shape (report.verification; `input_data` gives the input arrays by name);
    `training` adds backward-pass costs (report.training); `symbolic` the costs as polynomials of
    the dims left symbolic (report.symbolic); `findings=False` skips the lint findings.
    """
    with quiet_gc():
        mg = load(model, inputs=inputs, dims=dims)
        report = analyze(mg)
    runtime = None
    if verify:
        from modelaudit.runtime.verify import RuntimeOptions

        runtime = RuntimeOptions(verify=True, input_data=input_data)
    extras = Extras(training=training, symbolic=symbolic, findings=findings, runtime=runtime)
    return extend(mg, report, inputs, dims, extras)[0]
