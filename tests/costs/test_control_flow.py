"""If, Loop and Scan: both branches shown, the dearer counted; bodies times their repetitions."""

from __future__ import annotations

import numpy as np
from builders import loop_model as _loop_model
from conftest import make_model, run_ort, tensor, vi
from onnx import TensorProto, helper, numpy_helper

import modelaudit
from modelaudit.figures import Figure


def _matmul_graph(name, w, k, n, x="x"):
    node = helper.make_node("MatMul", [x, w], [f"{name}_y"], name=f"{name}_mm")
    return helper.make_graph([node], name, [], [vi(f"{name}_y", None)])


def test_if_counts_the_more_expensive_branch_and_names_rows_by_parent():
    then_g = _matmul_graph("then", "w_small", 16, 4)
    else_g = _matmul_graph("else", "w_big", 16, 64)
    node = helper.make_node("If", ["cond"], ["y"], name="choose", then_branch=then_g, else_branch=else_g)
    model = make_model(
        [node],
        [vi("cond", [], TensorProto.BOOL), vi("x", [2, 16])],
        [vi("y", None)],
        [tensor("w_small", (16, 4)), tensor("w_big", (16, 64), seed=1)],
    )
    report = modelaudit.audit(model)
    names = [r.name for r in report.rows]
    assert names == ["choose", "choose/then_branch/then_mm", "choose/else_branch/else_mm"]
    then_row, else_row = report.rows[1:]
    assert then_row.macs == 2 * 16 * 4 and then_row.runs == 0
    assert else_row.macs == 2 * 16 * 64 and else_row.runs == 1
    assert report.totals.macs == 2 * 16 * 64
    assert "the more expensive branch (else_branch) is counted" in report.rows[0].formula
    assert report.totals.params == 16 * 4 + 16 * 64  # both branches' weights are stored
    assert report.totals.macs.complete


def test_loop_multiplies_its_body_by_a_constant_trip_count():
    report = modelaudit.audit(_loop_model(10))
    mm = next(r for r in report.rows if r.op == "MatMul")
    assert mm.name == "loop/body/step_mm" and mm.runs == 10 and mm.macs == 8 * 8
    assert report.totals.macs == 10 * 8 * 8
    assert report.totals.flops == 10 * (2 * 8 * 8 + 8)  # + one tanh per element
    assert report.totals.params == 8 * 8
    assert report.totals.macs.complete
    h = run_ort(_loop_model(10), {"h0": np.zeros((1, 8), np.float32)})[0]
    assert h.shape == (1, 8)


def test_loop_with_unknown_trip_count_reports_per_iteration_and_says_so():
    report = modelaudit.audit(_loop_model(None))
    assert report.totals.macs == Figure.at_least(8 * 8)  # one iteration at least
    assert any("trip count is not constant" in w for w in report.warnings)
    assert "per iteration" in report.rows[0].formula


def test_scan_multiplies_by_sequence_length():
    body = helper.make_graph(
        [
            helper.make_node("MatMul", ["x_t", "w"], ["mm"], name="scan_mm"),
            helper.make_node("Add", ["acc_in", "mm"], ["acc_out"], name="scan_add"),
            helper.make_node("Identity", ["mm"], ["y_t"]),
        ],
        "scan_body",
        [vi("acc_in", [1, 4]), vi("x_t", [1, 6])],
        [vi("acc_out", [1, 4]), vi("y_t", [1, 4])],
    )
    node = helper.make_node("Scan", ["acc0", "xs"], ["acc", "ys"], name="scan", body=body, num_scan_inputs=1)
    model = make_model(
        [node], [vi("acc0", [1, 4]), vi("xs", [7, 1, 6])], [vi("acc", None), vi("ys", None)], [tensor("w", (6, 4))]
    )
    report = modelaudit.audit(model)
    mm = next(r for r in report.rows if r.op == "MatMul")
    assert mm.runs == 7 and mm.macs == 6 * 4
    assert report.totals.macs == 7 * 6 * 4
    acc, ys = run_ort(model, {"acc0": np.zeros((1, 4), np.float32), "xs": np.zeros((7, 1, 6), np.float32)})
    assert ys.shape == (7, 1, 4)


def test_nested_if_inside_loop_sees_outer_scope_tensors():
    inner_then = _matmul_graph("t", "w_outer", 8, 8, x="h_in")
    inner_else = helper.make_graph(
        [helper.make_node("Relu", ["h_in"], ["e_y"], name="e_relu")], "e", [], [vi("e_y", None)]
    )
    body = helper.make_graph(
        [
            helper.make_node("Identity", ["cond_in"], ["cond_out"]),
            helper.make_node(
                "If", ["cond_in"], ["h_out"], name="inner_if", then_branch=inner_then, else_branch=inner_else
            ),
        ],
        "body",
        [vi("i", [], TensorProto.INT64), vi("cond_in", [], TensorProto.BOOL), vi("h_in", [1, 8])],
        [vi("cond_out", [], TensorProto.BOOL), vi("h_out", [1, 8])],
    )
    node = helper.make_node("Loop", ["M", "", "h0"], ["h_final"], name="outer_loop", body=body)
    model = make_model(
        [node],
        [vi("h0", [1, 8])],
        [vi("h_final", None)],
        [tensor("w_outer", (8, 8)), numpy_helper.from_array(np.array(3, np.int64), "M")],
    )
    report = modelaudit.audit(model)
    mm = next(r for r in report.rows if r.op == "MatMul")
    assert mm.name == "outer_loop/body/inner_if/then_branch/t_mm"
    assert mm.runs == 3
    assert report.totals.macs == 3 * 8 * 8
    assert report.totals.params == 8 * 8
