"""--profile: kernel times traced back to the model's nodes under onnxruntime's graph optimizations
(runtime/attribution.py), their spread (p50, p90) and the provider that ran them."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import SAMPLES, make_model, tensor, vi
from onnx import helper, numpy_helper, save

import modelaudit
from modelaudit.cli.main import main
from modelaudit.runtime.attribution import attribute
from modelaudit.runtime.fence import installed
from modelaudit.runtime.profile import p90
from modelaudit.runtime.verify import RuntimeOptions, check


def test_p90_is_the_nearest_rank():
    assert p90([float(v) for v in range(1, 11)]) == 9.0  # ceil(0.9·10) = 9th of ten
    assert p90([3.0, 1.0, 2.0]) == 3.0  # ceil(2.7) = 3rd of three
    assert p90([5.0]) == 5.0


def _resnet_block():
    """A ResNet stem and basic block as TorchScript names them, BatchNorms not folded (onnxruntime
    folds them), 16 channels so that its NCHWc transformer takes the convs."""
    rng = np.random.default_rng(0)

    def bn(name, c):
        stats = [rng.standard_normal(c).astype(np.float32) * 0.1 + v for v in (1.0, 0.0, 0.0)]
        stats.append(rng.random(c).astype(np.float32) + 0.5)
        return [numpy_helper.from_array(a, f"{name}.{k}") for a, k in zip(stats, ("weight", "bias", "mean", "var"))]

    def conv_bn(x, scope, c_in, conv, norm):
        weight, stats = (f"{scope[1:].replace('/', '.')}.{m}".lstrip(".") for m in (conv, norm))
        return [
            helper.make_node(
                "Conv",
                [x, f"{weight}.weight"],
                [f"{scope}/{conv}/Conv_output_0"],
                name=f"{scope}/{conv}/Conv",
                pads=[1] * 4,
            ),
            helper.make_node(
                "BatchNormalization",
                [f"{scope}/{conv}/Conv_output_0", *(f"{stats}.{k}" for k in ("weight", "bias", "mean", "var"))],
                [f"{scope}/{norm}/BatchNormalization_output_0"],
                name=f"{scope}/{norm}/BatchNormalization",
            ),
        ], [tensor(f"{weight}.weight", (16, c_in, 3, 3)), *bn(stats, 16)]

    nodes, inits = [], []
    for x, scope, c_in, conv, norm in (
        ("x", "", 3, "conv1", "bn1"),
        ("/relu/Relu_output_0", "/layer1", 16, "conv1", "bn2"),
    ):
        more, weights = conv_bn(x, scope, c_in, conv, norm)
        nodes += more
        inits += weights
        relu = f"{scope}/relu" if scope else "/relu"
        nodes.append(helper.make_node("Relu", [more[-1].output[0]], [f"{relu}/Relu_output_0"], name=f"{relu}/Relu"))
    nodes += [
        helper.make_node(
            "Add", ["/layer1/relu/Relu_output_0", "/relu/Relu_output_0"], ["/layer1/Add_output_0"], name="/layer1/Add"
        ),
        helper.make_node(
            "GlobalAveragePool",
            ["/layer1/Add_output_0"],
            ["/avgpool/GlobalAveragePool_output_0"],
            name="/avgpool/GlobalAveragePool",
        ),
        helper.make_node("Flatten", ["/avgpool/GlobalAveragePool_output_0"], ["/Flatten_output_0"], name="/Flatten"),
        helper.make_node("Gemm", ["/Flatten_output_0", "fc.weight", "fc.bias"], ["logits"], name="/fc/Gemm", transB=1),
    ]
    inits += [tensor("fc.weight", (10, 16)), tensor("fc.bias", (10,))]
    return make_model(nodes, [vi("x", [1, 3, 32, 32])], [vi("logits", [1, 10])], inits)


def test_kernels_onnxruntime_renamed_are_traced_to_the_models_nodes():
    """The names onnxruntime 1.32 gave ResNet-18's kernels under ORT_ENABLE_ALL (its saved
    optimized graph), traced through the model's names and tensors."""
    mg = modelaudit.load(_resnet_block())
    names = {v.name: i for i, v in enumerate(mg.nodes)}
    index = names.__getitem__
    optimized = [
        ("ReorderInput", "ReorderInput", ("x",), ("reorder_token_0",)),
        ("/relu/Relu_output_0_nchwc", "Conv", ("reorder_token_0", "reorder"), ("reorder_token_1",)),
        ("/layer1/conv1/Conv_output_0_nchwc", "Conv", ("reorder_token_1", "reorder_1"), ("reorder_token_2",)),
        ("ReorderOutput", "ReorderOutput", ("reorder_token_2",), ("/layer1/Add_output_0",)),
        (
            "/avgpool/GlobalAveragePool",
            "GlobalAveragePool",
            ("/layer1/Add_output_0",),
            ("/avgpool/GlobalAveragePool_output_0",),
        ),
        ("/fc/Gemm/GemmActivationFusion", "FusedGemm", ("/Flatten_output_0",), ("logits",)),
        ("MemcpyToHost", "MemcpyToHost", ("elsewhere",), ("nowhere",)),
    ]
    traced = attribute([n[0] for n in optimized] + ["/Flatten", "stray_kernel"], names, mg, optimized)
    assert traced.nodes == {
        "ReorderInput": index("/conv1/Conv"),  # a layout change: the conv it feeds
        "/relu/Relu_output_0_nchwc": index(
            "/conv1/Conv"
        ),  # named after the Relu's output; its arithmetic is the Conv's
        "/layer1/conv1/Conv_output_0_nchwc": index("/layer1/conv1/Conv"),
        "ReorderOutput": index("/layer1/Add"),  # writes the Add's output: Add and Relu ran inside the conv
        "/avgpool/GlobalAveragePool": index("/avgpool/GlobalAveragePool"),
        "/fc/Gemm/GemmActivationFusion": index("/fc/Gemm"),
        "/Flatten": index("/Flatten"),
    }
    assert set(traced.why) == {"MemcpyToHost", "stray_kernel"}
    assert "nothing of the model near it" in traced.why["MemcpyToHost"]


def test_every_kernel_lands_on_a_row_under_all_optimizations(tmp_path):
    """onnxruntime folds the BatchNorms, fuses each Relu into its conv and runs the convs in NCHWc,
    under names of its own: the kernels' time still lands on the model's rows, the convs'."""
    mg = modelaudit.load(_resnet_block())
    options = RuntimeOptions(verify=False, profile=True, runs=5, threads=1, optimization="all")
    report, _ = check(mg, modelaudit.analyze(mg), options)
    p = report.profile
    assert p["optimization"] == "all" and p["nodes_ms"] > 0
    assert p["unmatched_ms"] == 0 and p["unmatched"] == []
    timed = {r.name for r, ms in zip(report.rows, report.tables["profile"]["ms"]) if ms is not None}
    assert {"/conv1/Conv", "/layer1/conv1/Conv", "/fc/Gemm"} <= timed
    assert not {"/bn1/BatchNormalization", "/relu/Relu"} & timed  # folded and fused: no kernel of their own
    # a row's time is the median of its kernels' summed per run (a conv and its layout change): near
    # the sum of the kernels' medians
    assert sum(ms for ms in report.tables["profile"]["ms"] if ms is not None) == pytest.approx(p["nodes_ms"], rel=0.05)


def test_the_spread_and_the_provider_are_reported(capsys):
    code = main(
        ["report", str(SAMPLES / "conv3x3.onnx"), "--profile", "--runs", "5", "--threads", "1", "--format", "json"]
    )
    d = json.loads(capsys.readouterr().out)
    p = d["profile"]
    assert code == 0 and p["provider"] == "CPUExecutionProvider"
    assert p["kernels_by_provider"] == {"CPUExecutionProvider": len(d["rows"])}
    assert p["total_p90_ms"] >= p["total_ms"] > 0
    assert all(s["p90_ms"] >= s["ms"] for s in p["slowest"])
    high = {int(i): v for i, v in p["p90_ms_by_index"].items()}  # each row's p90, by its index
    assert {r["index"] for r in d["rows"]} == set(high) and all(high[r["index"]] >= r["ms"] for r in d["rows"])
    assert main(["report", str(SAMPLES / "conv3x3.onnx"), "--profile", "--runs", "3"]) == 0
    out = capsys.readouterr().out
    assert "ms per run (p50)" in out and "(p90)" in out and "on CPUExecutionProvider" in out
    assert "ms     p90 ms    % time" in out  # the node table's p90 beside each row's median
    assert "kernel time on no row: 0.000 ms (0.0% of the kernels')" in out


def test_cuda_without_onnxruntime_gpu_is_one_line(capsys):
    if installed("cuda"):
        pytest.skip("onnxruntime-gpu is installed here: test_cuda_provider_times_the_model runs instead")
    code = main(["report", str(SAMPLES / "conv3x3.onnx"), "--profile", "--provider", "cuda"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err == [
        "modelaudit: error: --provider cuda: this onnxruntime has no CUDAExecutionProvider "
        "(install onnxruntime-gpu (in place of onnxruntime) on a machine with a CUDA GPU)"
    ]


@pytest.mark.skipif(not installed("cuda"), reason="needs onnxruntime-gpu (CUDAExecutionProvider) and a GPU")
def test_cuda_provider_times_the_model(capsys):
    code = main(["report", str(SAMPLES / "mobilenet_v2.onnx"), "--profile", "--provider", "cuda", "--format", "json"])
    p = json.loads(capsys.readouterr().out)["profile"]
    assert code == 0 and p["provider"] == "CUDAExecutionProvider"
    assert p["kernels_by_provider"].get("CUDAExecutionProvider", 0) > 0
    assert p["unmatched_ms"] <= 0.05 * p["nodes_ms"]


def test_provider_needs_profile(capsys, tmp_path):
    path = tmp_path / "m.onnx"
    save(make_model([helper.make_node("Relu", ["x"], ["y"])], [vi("x", [2])], [vi("y", None)]), path)
    assert main(["report", str(path), "--provider", "cuda"]) == 2
    assert "--provider sets how onnxruntime runs, and nothing runs it" in capsys.readouterr().err
