"""Shapes flow into If/Loop/Scan bodies: captured tensors carry their shapes in, shape arithmetic inside
a body is folded like the top level's, carried and scanned shapes follow the body."""

from __future__ import annotations

import numpy as np
from conftest import make_model, run_ort, tensor, vi
from onnx import TensorProto, helper, numpy_helper

import modelaudit


def _int64(name, values):
    return helper.make_node(
        "Constant", [], [name], value=helper.make_tensor(name, TensorProto.INT64, [len(values)], values)
    )


def _to_rows(tag, source, width):
    """[1, width] -> [max(d0, 1), 1, width] from Shape arithmetic: Max is one of the ops onnx's data
    propagation does not evaluate, so onnx alone leaves the reshape open (as silero-vad's STFT)."""
    return [
        helper.make_node("Shape", [source], [f"{tag}_s"]),
        _int64(f"{tag}_i0", [0]),
        _int64(f"{tag}_one", [1]),
        _int64(f"{tag}_w", [width]),
        helper.make_node("Gather", [f"{tag}_s", f"{tag}_i0"], [f"{tag}_b"], axis=0),
        helper.make_node("Max", [f"{tag}_b", f"{tag}_one"], [f"{tag}_bm"]),
        helper.make_node("Concat", [f"{tag}_bm", f"{tag}_one", f"{tag}_w"], [f"{tag}_shape"], axis=0),
        helper.make_node("Reshape", [source, f"{tag}_shape"], [f"{tag}_r"]),
    ]


def _stft_branch(tag, samples):
    nodes = _to_rows(tag, "x", samples) + [
        helper.make_node("Conv", [f"{tag}_r", "w"], [f"{tag}_y"], strides=[32], name=f"{tag}_conv")
    ]
    return helper.make_graph(nodes, tag, [], [vi(f"{tag}_y", None)])


def test_shape_arithmetic_on_a_captured_tensor_is_folded_inside_if_branches():
    """silero-vad: an If on the sample rate, each branch reshaping the outer input for a conv STFT."""
    node = helper.make_node(
        "If",
        ["cond"],
        ["y"],
        name="choose",
        then_branch=_stft_branch("then", 512),
        else_branch=_stft_branch("else", 512),
    )
    model = make_model(
        [node],
        [vi("cond", [], TensorProto.BOOL), vi("x", ["batch", "samples"])],
        [vi("y", None)],
        [tensor("w", (16, 1, 64))],
    )
    report = modelaudit.audit(model, inputs={"x": (1, 512)})
    frames = (512 - 64) // 32 + 1  # 15
    convs = [r for r in report.rows if r.op == "Conv"]
    assert [r.outputs for r in convs] == [[f"1x16x{frames}"]] * 2
    assert report.totals.macs == 1 * 16 * frames * (1 * 64)  # one branch counted
    assert report.totals.macs.complete
    assert report.rows[0].outputs == [f"1x16x{frames}"]  # the If's output, from its branches
    y = run_ort(model, {"cond": np.array(True), "x": np.zeros((1, 512), np.float32)})[0]
    assert y.shape == (1, 16, frames)


def _loop(body_nodes, carried_in, carried_out, trips=10):
    body = helper.make_graph(
        body_nodes + [helper.make_node("Identity", ["cond_in"], ["cond_out"])],
        "body",
        [vi("i", [], TensorProto.INT64), vi("cond_in", [], TensorProto.BOOL), vi(carried_in, None)],
        [vi("cond_out", [], TensorProto.BOOL), vi(carried_out, None)],
    )
    node = helper.make_node("Loop", ["M", "", "h0"], ["h"], name="loop", body=body)
    return make_model(
        [node],
        [vi("h0", [1, 8]), vi("x", [1, 8])],
        [vi("h", None)],
        [numpy_helper.from_array(np.array(trips, np.int64), "M"), tensor("w", (8, 8))],
    )


def test_a_loop_carried_shape_reaches_shape_arithmetic_in_the_body():
    nodes = _to_rows("step", "h_in", 8) + [
        helper.make_node("MatMul", ["step_r", "w"], ["mm"], name="step_mm"),
        helper.make_node("Reshape", ["mm", "step_w_flat"], ["h_out"]),
        _int64("step_w_flat", [1, 8]),
    ]
    model = _loop(nodes, "h_in", "h_out")
    report = modelaudit.audit(model)
    mm = next(r for r in report.rows if r.op == "MatMul")
    assert mm.inputs == ["1x1x8"] and mm.macs == 1 * 1 * 8 * 8 and mm.runs == 10
    assert report.totals.macs == 10 * 8 * 8 and report.totals.macs.complete
    assert report.rows[0].outputs == ["1x8"]


def test_a_carried_value_that_grows_is_not_given_its_first_step_shape():
    nodes = [helper.make_node("Concat", ["acc_in", "x"], ["acc_out"], axis=1, name="grow")]
    model = _loop(nodes, "acc_in", "acc_out", trips=3)
    rows = {r.name: r for r in modelaudit.audit(model).rows}
    assert rows["loop/body/grow"].outputs == ["1x?"]  # 1x16, 1x24, 1x32 over the steps: only dim 0 holds
    assert rows["loop"].outputs == ["1x?"]
    h = run_ort(model, {"h0": np.zeros((1, 8), np.float32), "x": np.zeros((1, 8), np.float32)})[0]
    assert h.shape == (1, 8 + 3 * 8)


def test_scan_slices_and_stacks_along_its_axis():
    """A scanned input [steps, 1, 8] reaches the body as [1, 8] slices, whose rows fold through Max;
    the scan output stacks the body's [1, 8] outputs into [steps, 1, 8]."""
    nodes = _to_rows("t", "x_t", 8) + [
        helper.make_node("MatMul", ["t_r", "w"], ["mm"], name="scan_mm"),
        _int64("flat", [1, 8]),
        helper.make_node("Reshape", ["mm", "flat"], ["y_t"]),
        helper.make_node("Add", ["acc_in", "y_t"], ["acc_out"]),
    ]
    body = helper.make_graph(
        nodes, "scan_body", [vi("acc_in", None), vi("x_t", None)], [vi("acc_out", None), vi("y_t", None)]
    )
    node = helper.make_node("Scan", ["acc0", "xs"], ["acc", "ys"], name="scan", body=body, num_scan_inputs=1)
    model = make_model(
        [node], [vi("acc0", [1, 8]), vi("xs", [5, 1, 8])], [vi("acc", None), vi("ys", None)], [tensor("w", (8, 8))]
    )
    report = modelaudit.audit(model)
    mm = next(r for r in report.rows if r.op == "MatMul")
    assert mm.inputs == ["1x1x8"] and mm.macs == 8 * 8 and mm.runs == 5
    assert report.rows[0].outputs == ["1x8", "5x1x8"]
    acc, ys = run_ort(model, {"acc0": np.zeros((1, 8), np.float32), "xs": np.zeros((5, 1, 8), np.float32)})
    assert acc.shape == (1, 8) and ys.shape == (5, 1, 8)


def test_an_if_whose_condition_folds_gives_the_taken_branch_s_shape():
    """torch's `x.squeeze(1) if x.shape[1] == 1 else x`: the branches differ in rank, so only the
    folded condition tells the If's output shape (silero-vad's decoder, before its LSTM)."""
    squeeze = helper.make_graph(
        [_int64("axis1", [1]), helper.make_node("Squeeze", ["x", "axis1"], ["sq"])], "then", [], [vi("sq", None)]
    )
    keep = helper.make_graph([helper.make_node("Identity", ["x"], ["same"])], "else", [], [vi("same", None)])
    nodes = [
        helper.make_node("Shape", ["x"], ["s"]),
        _int64("i1", [1]),
        _int64("one", [1]),
        helper.make_node("Gather", ["s", "i1"], ["d1"], axis=0),
        helper.make_node("Equal", ["d1", "one"], ["is_one"]),
        helper.make_node("Squeeze", ["is_one"], ["cond"]),
        helper.make_node("If", ["cond"], ["h"], name="squeeze_if", then_branch=squeeze, else_branch=keep),
        helper.make_node("MatMul", ["h", "w"], ["y"], name="proj"),
    ]
    model = make_model(nodes, [vi("x", [2, 1, 8])], [vi("y", None)], [tensor("w", (8, 4))])
    rows = {r.name: r for r in modelaudit.audit(model).rows}
    assert rows["squeeze_if"].outputs == ["2x8"]
    assert rows["proj"].macs == 2 * 8 * 4
    y = run_ort(model, {"x": np.zeros((2, 1, 8), np.float32)})[0]
    assert y.shape == (2, 4)
