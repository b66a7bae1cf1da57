"""Peak activation memory: each tensor lives from its producer to its last reader."""

from __future__ import annotations

from conftest import make_model, vi
from onnx import helper

import modelaudit


def test_chain_peak_is_two_neighbours():
    # x(4 KiB) -> a -> b -> y, each float32 [1024]: at most an input and an output are alive
    nodes = [
        helper.make_node("Relu", ["x"], ["a"]),
        helper.make_node("Neg", ["a"], ["b"]),
        helper.make_node("Abs", ["b"], ["y"]),
    ]
    report = modelaudit.audit(make_model(nodes, [vi("x", [1024])], [vi("y", None)]))
    assert report.totals.peak_activation_bytes == 2 * 1024 * 4
    assert report.totals.peak_activation_bytes.complete


def test_skip_connection_keeps_its_tensor_alive():
    # x -> a -> b -> c; y = a + c: `a` lives until the Add, so a, b and c coexist
    nodes = [
        helper.make_node("Relu", ["x"], ["a"]),
        helper.make_node("Neg", ["a"], ["b"]),
        helper.make_node("Abs", ["b"], ["c"]),
        helper.make_node("Add", ["a", "c"], ["y"]),
    ]
    report = modelaudit.audit(make_model(nodes, [vi("x", [256])], [vi("y", None)]))
    assert report.totals.peak_activation_bytes == 3 * 256 * 4  # a and c alive while y is written


def test_unknown_sizes_make_the_peak_a_floor():
    nodes = [helper.make_node("Relu", ["x"], ["y"])]
    report = modelaudit.audit(make_model(nodes, [vi("x", ["n", 8])], [vi("y", None)]))
    assert not report.totals.peak_activation_bytes.complete
