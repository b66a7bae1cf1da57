"""PaddlePaddle's -1 dims on the command line: --input, --input-data and --verify all accept them."""

from __future__ import annotations

import json

import numpy as np
from conftest import make_model, tensor, vi
from onnx import helper, save

from modelaudit.cli.main import main

CONV_MACS = 1 * 8 * 46 * 190 * (3 * 3 * 3)  # 3x3 conv, 3 -> 8 channels, 48x192 -> 46x190


def _paddle_conv(tmp_path):
    model = make_model(
        [helper.make_node("Conv", ["x", "w"], ["y"], name="conv")],
        [vi("x", [-1, 3, -1, -1])],
        [vi("y", [-1, 8, -1, -1])],
        [tensor("w", (8, 3, 3, 3))],
    )
    path = tmp_path / "paddle.onnx"
    save(model, path)
    return str(path)


def _macs(capsys, *argv):
    code = main([*argv, "--format", "json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


def test_input_fixes_a_minus_one_dim(capsys, tmp_path):
    report = _macs(capsys, "report", _paddle_conv(tmp_path), "--input", "x=1x3x48x192")
    assert report["totals"]["macs"] == {"value": CONV_MACS, "bound": "exact"}


def test_input_data_fixes_a_minus_one_dim(capsys, tmp_path):
    data = tmp_path / "x.npy"
    np.save(data, np.zeros((1, 3, 48, 192), np.float32))
    report = _macs(capsys, "report", _paddle_conv(tmp_path), "--input-data", str(data))
    assert report["totals"]["macs"] == {"value": CONV_MACS, "bound": "exact"}


def test_verify_runs_a_model_with_minus_one_dims(capsys, tmp_path):
    report = _macs(capsys, "report", _paddle_conv(tmp_path), "--input", "x=1x3x48x192", "--verify")
    assert report["verification"]["mismatches"] == []
    assert report["verification"]["verified"] == 1
