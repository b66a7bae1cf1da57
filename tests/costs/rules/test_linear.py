"""Gemm and MatMul against M·K·N written out, with broadcasting checked by onnxruntime."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import make_model, run_ort, tensor, vi
from onnx import helper

import modelaudit


@pytest.mark.parametrize("trans_a,trans_b", [(0, 0), (1, 0), (0, 1), (1, 1)])
def test_gemm_transposes(trans_a, trans_b):
    m, k, n = 7, 11, 5
    a_shape = (k, m) if trans_a else (m, k)
    b_shape = (n, k) if trans_b else (k, n)
    node = helper.make_node("Gemm", ["a", "b", "c"], ["y"], transA=trans_a, transB=trans_b)
    model = make_model([node], [vi("a", list(a_shape))], [vi("y", None)], [tensor("b", b_shape), tensor("c", (n,))])
    report = modelaudit.audit(model)
    (row,) = report.rows
    assert row.macs == m * k * n
    assert row.flops == 2 * m * k * n + m * n  # the bias add, one per output
    assert report.totals.params == k * n + n


def test_gemm_alpha_beta_add_scaling_flops():
    node = helper.make_node("Gemm", ["a", "b", "c"], ["y"], alpha=0.5, beta=2.0)
    model = make_model([node], [vi("a", [3, 4])], [vi("y", None)], [tensor("b", (4, 6)), tensor("c", (3, 6))])
    (row,) = modelaudit.audit(model).rows
    assert row.flops == 2 * 3 * 4 * 6 + 3 * 6 + 3 * 6 + 3 * 6  # bias add, beta·C, alpha·AB


MATMUL_CASES = {
    "2-D": ((8, 16), (16, 4)),
    "batched weight": ((2, 12, 64, 32), (32, 48)),
    "heads": ((2, 12, 64, 32), (2, 12, 32, 64)),
    "broadcast batch": ((3, 1, 5, 6), (1, 4, 6, 2)),
    "1-D left": ((6,), (3, 6, 2)),
    "1-D right": ((3, 5, 6), (6,)),
    "1-D both": ((6,), (6,)),
}


@pytest.mark.parametrize("case", MATMUL_CASES)
def test_matmul_broadcasting(case):
    a_shape, b_shape = MATMUL_CASES[case]
    node = helper.make_node("MatMul", ["a", "b"], ["y"])
    model = make_model([node], [vi("a", list(a_shape)), vi("b", list(b_shape))], [vi("y", None)])
    (row,) = modelaudit.audit(model).rows
    a = np.ones(a_shape, np.float32)
    b = np.ones(b_shape, np.float32)
    y = run_ort(model, {"a": a, "b": b})[0]
    k = a_shape[-1]
    # each output element is one inner product of length K
    assert row.macs == max(math.prod(y.shape), 1) * k
    assert row.flops == 2 * row.macs


def test_matmul_symbolic_batch_is_unresolved_with_its_flag():
    node = helper.make_node("MatMul", ["a", "w"], ["y"], name="proj")
    model = make_model([node], [vi("a", ["batch", 10, 32])], [vi("y", None)], [tensor("w", (32, 8))])
    report = modelaudit.audit(model)
    (row,) = report.rows
    assert row.macs is None and row.status == "unresolved" and row.unresolved == ["batch"]
    assert report.totals.params == 32 * 8  # params never depend on shapes
    assert report.unresolved == [{"dim": "batch", "nodes": 1, "flag": "--dim batch=N"}]
    fixed = modelaudit.audit(model, dims={"batch": 3})
    assert fixed.rows[0].macs == 3 * 10 * 32 * 8
