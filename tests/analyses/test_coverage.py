"""Every ai.onnx op is classified; the onnx package's own conformance cases audit cleanly."""

from __future__ import annotations

import time
import warnings

import numpy as np
import pytest
from conftest import SUMMARY

import modelaudit
from modelaudit.analyses.coverage import onnx_ops, unclassified
from modelaudit.costs.rules import UNMODELLED, find_rule, is_zero_cost


def test_every_default_domain_op_is_classified():
    """Fails when a new onnx release adds an op modelaudit does not classify."""
    assert len(onnx_ops("")) > 150
    assert unclassified("") == []


def test_ops_command_prints_full_coverage(capsys):
    from modelaudit.cli.main import main

    assert main(["ops"]) == 0
    out = capsys.readouterr().out
    total = len(onnx_ops(""))
    assert f"ai.onnx coverage: {total} of the {total} ops" in out
    assert main(["ops", "--missing"]) == 0
    assert "every ai.onnx op in onnx.defs is classified" in capsys.readouterr().out


def _sweep():
    from onnx.backend.test.case.node import collect_testcases

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cases = collect_testcases()
    stats = {
        "cases": len(cases),
        "raised": [],
        "shapes_checked": 0,
        "shapes_agree": 0,
        "mismatches": [],
        "unlisted_uncounted": [],
    }
    for case in cases:
        try:
            mg = modelaudit.load(case.model)
            report = modelaudit.analyze(mg)
        except Exception as exc:  # the sweep's point: nothing may raise
            stats["raised"].append(f"{case.name}: {type(exc).__name__}: {exc}")
            continue
        for row in report.rows:
            if row.status == "uncounted" and row.op_label not in report.uncounted:
                stats["unlisted_uncounted"].append(case.name)
        if not case.data_sets:
            continue
        _, outputs = case.data_sets[0]
        for vi, expected in zip(case.model.graph.output, outputs):
            info = mg.info(vi.name)
            if info is None or not info.known or not isinstance(expected, np.ndarray):
                continue
            stats["shapes_checked"] += 1
            if tuple(info.shape) == tuple(expected.shape):
                stats["shapes_agree"] += 1
            else:
                stats["mismatches"].append(f"{case.name}/{vi.name}: {info.shape} != {expected.shape}")
    return stats


@pytest.mark.conformance
def test_onnx_conformance_cases():
    start = time.perf_counter()
    stats = _sweep()
    seconds = time.perf_counter() - start
    agree = stats["shapes_agree"] / max(stats["shapes_checked"], 1)
    SUMMARY.append(
        f"onnx conformance sweep: {stats['cases']} cases audited in {seconds:.1f} s, "
        f"{len(stats['raised'])} raised; static output shapes {stats['shapes_agree']}/"
        f"{stats['shapes_checked']} agree with the expected outputs ({agree:.2%})"
    )
    assert stats["raised"] == []
    assert stats["unlisted_uncounted"] == []
    assert stats["cases"] > 1500
    assert agree >= 0.99, stats["mismatches"][:20]


def test_classifications_do_not_overlap():
    for op in onnx_ops(""):
        kinds = [find_rule(op, "", 99) is not None, is_zero_cost(op, ""), op in UNMODELLED.get("", {})]
        assert sum(kinds) <= 1, op
