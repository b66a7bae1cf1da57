"""The sample models against hand-derived formulas and the papers' tables."""

from __future__ import annotations

import importlib.util

import pytest
from conftest import SAMPLES

import modelaudit


def audit(name):
    return modelaudit.audit(SAMPLES / name)


def test_a_standard_conv():
    t = audit("conv3x3.onnx").totals
    assert t.params == ((3 * 3 * 3) + 1) * 128 == 3584
    assert t.macs == 28 * 28 * (3 * 3 * 3) * 128


def test_b_mobilenet_v1_module():
    report = audit("mobilenet_v1_module.onnx")
    depthwise, _, pointwise, _ = report.rows
    assert depthwise.params == ((3 * 3) + 1) * 3
    assert pointwise.params == ((1 * 1 * 3) + 1) * 128
    assert depthwise.macs == 28 * 28 * (3 * 3 * 1) * 3
    assert pointwise.macs == 28 * 28 * (1 * 1 * 3) * 128
    standard = audit("conv3x3.onnx").totals
    # the V1 module's saving over a standard conv: 1/N + 1/K² of its MACs (Howard et al., eq. 5)
    assert report.totals.macs / standard.macs == pytest.approx(1 / 128 + 1 / 3**2)


def test_c_mobilenet_v2_block():
    report = audit("mobilenet_v2_block.onnx")
    convs = [r for r in report.rows if r.op == "Conv"]
    expand, depthwise, project = convs
    assert expand.outputs == ["1x18x28x28"]  # the expanded tensor is 28×28×18
    assert [c.params for c in convs] == [((1 * 1 * 3) + 1) * 18, ((3 * 3) + 1) * 18, ((1 * 1 * 18) + 1) * 128]
    assert [c.macs for c in convs] == [
        28 * 28 * (1 * 1 * 3) * 18,
        28 * 28 * (3 * 3 * 1) * 18,
        28 * 28 * (1 * 1 * 18) * 128,
    ]


def test_d_kernel_10_from_205_to_66():
    (row,) = audit("conv_k10_s3.onnx").rows
    assert row.outputs == ["1x16x66x66"]
    assert (205 - 10) // 3 + 1 == 66
    assert row.params == ((10 * 10 * 3) + 1) * 16
    assert row.macs == 66 * 66 * (10 * 10 * 3) * 16


def test_e_lstm():
    (row,) = audit("lstm.onnx").rows
    seq, batch, inputs, hidden = 5, 1, 10, 20
    assert row.params == 4 * hidden * inputs + 4 * hidden * hidden + 8 * hidden
    assert row.macs == seq * batch * 1 * 4 * hidden * (inputs + hidden)


def test_mobilenet_v1_matches_the_paper():
    """Howard et al. 2017, Table 8: 569 M Mult-Adds and 4.2 M params for 1.0 MobileNet-224."""
    t = audit("mobilenet_v1.onnx").totals
    assert float(t.macs) == pytest.approx(569e6, rel=0.01)  # float() of an exact total (else it raises)
    assert float(t.params) == pytest.approx(4.2e6, rel=0.01)
    assert t.macs.complete


def test_mobilenet_v2_matches_torchvision():
    """torchvision's mobilenet_v2 has 3,504,872 params; Sandler et al. 2018 give 300 M MACs."""
    report = audit("mobilenet_v2.onnx")
    t = report.totals
    assert t.params == 3_504_872
    assert float(t.macs) == pytest.approx(300e6, rel=0.01)
    # BatchNorm running mean and variance: two per channel of every BatchNorm
    bn_channels = sum(r.params // 2 for r in report.rows if r.op == "BatchNormalization")
    assert t.non_trainable == 2 * bn_channels
    assert t.weight_bytes_by_dtype == {"float32": 4 * (int(t.params) + int(t.non_trainable))}


def test_g_transformer_block_has_symbolic_batch_and_seq():
    d, ffn, heads = 64, 256, 4
    report = modelaudit.audit(SAMPLES / "transformer_block.onnx", symbolic=True)
    assert report.model["inputs"][0]["shape"] == "batchxseqx64"
    # two LayerNorms (scale, bias), four d×d projections and the two FFN layers, with biases
    assert report.totals.params == 2 * (d + d) + 4 * (d * d + d) + (d * ffn + ffn) + (ffn * d + d) == 49_984
    # per token: 4·d² (q, k, v, out) + 2·d·ffn; per head and query: seq·(d/heads) for QKᵀ, again for PV
    assert 4 * d * d + 2 * d * ffn == 49_152 and 2 * heads * (d // heads) == 128
    assert report.symbolic["totals"]["macs"]["text"] == "49,152·batch·seq + 128·batch·seq²"
    fixed = modelaudit.audit(SAMPLES / "transformer_block.onnx", dims={"batch": 2, "seq": 128})
    assert fixed.totals.macs == 49_152 * 2 * 128 + 128 * 2 * 128**2


def test_samples_are_reproducible(tmp_path):
    spec = importlib.util.spec_from_file_location("make_samples", SAMPLES / "make_samples.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for filename, build in module.SAMPLES.items():
        module._USED.clear()
        assert build().SerializeToString() == (SAMPLES / filename).read_bytes(), filename
