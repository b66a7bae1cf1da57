"""--hardware: built-in and TOML specs, per-row roofline bounds against closed forms, the overhead verdict."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from conftest import SAMPLES, make_model, tensor, vi
from decoders import gpt_decoder
from onnx import helper

from modelaudit.analyses.chips import RATE_KEYS
from modelaudit.analyses.hardware import BUILTIN, HardwareSpec, get_spec, spec_to_toml
from modelaudit.analyses.roofline import roofline
from modelaudit.cli.main import main
from modelaudit.errors import UsageError

SPEC = HardwareSpec("test", "made up for the test", {"fp32": 10.0, "fp16": 40.0}, 100.0, overhead_us=0.0)


def _matmul_model(m, k, n):
    return make_model(
        [helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")],
        [vi("x", [m, k])],
        [vi("y", [m, n])],
        [tensor("w", [k, n])],
    )


def _json(capsys, *argv) -> dict:
    assert main(["report", *map(str, argv), "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("m,k,n", [(1, 4096, 4096), (4096, 4096, 4096), (64, 256, 512)])
def test_matmul_bound_closed_form(tmp_path, capsys, m, k, n):
    path = tmp_path / "mm.toml"
    path.write_text(spec_to_toml(SPEC))
    onnx.save(_matmul_model(m, k, n), tmp_path / "mm.onnx")
    d = _json(capsys, tmp_path / "mm.onnx", "--hardware", path)
    row = d["rows"][0]
    flops, moved = 2 * m * k * n, 4 * (m * k + k * n + m * n)  # x and w read, y written, float32
    compute_ms, memory_ms = 1e3 * flops / 10e12, 1e3 * moved / 100e9
    assert row["intensity"] == pytest.approx(flops / moved)
    assert row["roofline_ms"] == pytest.approx(max(compute_ms, memory_ms))
    assert row["bound"] == ("compute" if compute_ms > memory_ms else "memory")
    totals = d["roofline"]["totals"]
    assert totals["ridge_flops_per_byte"] == pytest.approx(10e12 / 100e9)  # 100 FLOP/byte
    assert (
        totals["roofline_ms"]["value"] == pytest.approx(row["roofline_ms"])
        and totals["roofline_ms"]["bound"] == "exact"
    )


def test_gemv_is_memory_bound_and_big_gemm_compute_bound_on_h100():
    rows = [
        {
            "flops": 2 * 4096 * 4096,
            "weight_bytes": 2 * 4096 * 4096,
            "input_bytes": 2 * 4096,
            "output_bytes": 2 * 4096,
            "dtype": "float16",
            "runs": 1,
            "status": "counted",
        },
        {
            "flops": 2 * 8192**3,
            "weight_bytes": 2 * 8192**2,
            "input_bytes": 2 * 8192**2,
            "output_bytes": 2 * 8192**2,
            "dtype": "float16",
            "runs": 1,
            "status": "counted",
        },
    ]
    bounds, totals = roofline(rows, BUILTIN["h100-sxm"])
    assert [b["bound"] for b in bounds] == ["memory", "compute"]
    # the attainable figures the issue measured: 758 TFLOP/s fp16, 2,995 GB/s
    assert bounds[0]["roofline_ms"] == pytest.approx(1e3 * (2 * 4096 * 4096 + 4 * 4096) / 2995e9)
    assert bounds[1]["roofline_ms"] == pytest.approx(1e3 * 2 * 8192**3 / 758e12)
    assert totals["ridge_flops_per_byte"] == pytest.approx(758e12 / 2995e9)


def test_every_builtin_names_its_source_and_notes_sparsity():
    assert {"h100-sxm", "a100", "l4", "t4", "rtx4090", "jetson-orin", "apple-m2", "cpu-avx2", "cpu-avx512"} <= set(
        BUILTIN
    )
    assert {"h200", "b200", "l40s", "a10g", "mi300x", "v100"} <= set(BUILTIN)
    for spec in BUILTIN.values():
        assert spec.source and spec.bandwidth_gbs > 0 and spec.peak_tflops.get("fp32", 0) > 0
        assert "sparse" in spec.notes or "dense" in spec.notes or "dense" in spec.source
        assert spec.overhead_us > 0
        assert spec.memory_gib and spec.memory_bytes == spec.memory_gib * 2**30
        assert set(spec.peak_tflops) <= set(RATE_KEYS) and set(spec.attainable_tflops) <= set(spec.peak_tflops)
    assert get_spec("H100") is BUILTIN["h100-sxm"]


@pytest.mark.parametrize(
    "name, memory_gib, bandwidth_gbs, fp16",
    [  # the datasheets' figures: memory, bandwidth and dense fp16 tensor rate (sparse ÷ 2)
        ("h100-sxm", 80, 3350, 1979 / 2),
        ("h200", 141, 4800, 1979 / 2),
        ("b200", 180, 7700, 4500 / 2),
        ("a100", 80, 2039, 312),
        ("l40s", 48, 864, 362.05),  # the datasheet gives dense and sparse: 362.05 | 733
        ("a10g", 24, 600, 70),
        ("mi300x", 192, 5300, 2614.9 / 2),
        ("v100", 32, 900, 125),
    ],
)
def test_builtin_datasheet_figures(name, memory_gib, bandwidth_gbs, fp16):
    spec = get_spec(name)
    assert (spec.memory_gib, spec.bandwidth_gbs) == (memory_gib, bandwidth_gbs)
    assert spec.peak_tflops["fp16"] == pytest.approx(fp16, rel=1e-3)


def test_a_dtype_without_its_own_rate_runs_at_the_next_wider_one():
    a100, h100 = get_spec("a100"), get_spec("h100-sxm")
    assert a100.flops_per_s("int4") == (1248e12, "int4")  # A100 has int4 tensor cores
    assert h100.flops_per_s("int4") == (1979e12, "int8")  # Hopper has none: int8's
    assert get_spec("b200").flops_per_s("float4e2m1") == (9000e12, "fp4")
    assert a100.flops_per_s("float8e4m3fn") == (312e12, "fp16")  # Ampere has no fp8
    assert get_spec("t4").flops_per_s("bfloat16") == (8.1e12, "fp32")  # nor Turing bf16


@pytest.mark.parametrize(
    "table, named",
    [
        ("fp32 = 1\nFP16 = 100\n", "'FP16'"),  # was taken for the fp32 peak
        ("fp32 = 1\nfloat16 = 100\n", "'float16'"),
        ("fp16 = 100\n", "no fp32"),  # was a 0 TFLOP/s fp32 peak
    ],
)
def test_a_spec_rate_key_that_is_no_dtype_is_refused(tmp_path, capsys, table, named):
    path = tmp_path / "chip.toml"
    path.write_text("bandwidth_gbs = 100\n[peak_tflops]\n" + table)
    assert main(["report", str(SAMPLES / "conv3x3.onnx"), "--hardware", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and named in err[0], err


def test_int4_and_int8_rates_are_kept_apart(tmp_path):
    path = tmp_path / "chip.toml"
    path.write_text("bandwidth_gbs = 100\nmemory_gib = 16\n[peak_tflops]\nfp32 = 1\nint8 = 10\nint4 = 20\n")
    spec = get_spec(str(path))
    assert spec.peak_tflops == {"fp32": 1.0, "int8": 10.0, "int4": 20.0} and spec.memory_bytes == 16 * 2**30
    assert spec.flops_per_s("int8")[0] == 10e12 and spec.flops_per_s("uint4")[0] == 20e12


@pytest.mark.parametrize("flag", [["--hardware", ""], ["--hardware", " "], ["--decode", ""]])
def test_an_empty_hardware_or_decode_is_refused_not_ignored(capsys, flag):
    assert main(["report", str(SAMPLES / "conv3x3.onnx"), *flag]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and flag[0] in err[0], err


def test_a_small_model_at_batch_one_is_overhead_bound(capsys):
    d = _json(capsys, SAMPLES / "mobilenet_v2.onnx", "--hardware", "h100-sxm")
    t = d["roofline"]["totals"]
    assert t["bound"] == "overhead" and t["overhead_ms"]["value"] > t["roofline_ms"]["value"]
    assert t["overhead_ms"]["value"] == pytest.approx(t["kernels"] * 5e-3)  # 5 µs a kernel
    assert t["time_ms"] == t["overhead_ms"]  # the time bound is the largest of its bounds
    assert main(["report", str(SAMPLES / "mobilenet_v2.onnx"), "--hardware", "h100-sxm"]) == 0
    assert "bound by per-kernel overhead" in capsys.readouterr().out


def test_toml_round_trip_and_bad_specs(tmp_path, capsys):
    path = tmp_path / "chip.toml"
    spec = BUILTIN["l4"]
    path.write_text(spec_to_toml(spec))
    again = get_spec(str(path))
    assert (again.peak_tflops, again.bandwidth_gbs, again.overhead_us, again.memory_gib) == (
        spec.peak_tflops,
        spec.bandwidth_gbs,
        spec.overhead_us,
        spec.memory_gib,
    )
    for text in (
        "bandwidth_gbs = 10\n",
        "peak_tflops = {fp32 = 1}\n",
        "bandwidth_gbs = -1\npeak_tflops = {fp32 = 1}\n",
        "bandwidth_gbs = 1\npeak_tflops = {fp32 = 'fast'}\n",
        "bandwidth_gbs = 1\npeak_tflop = {}\n",
        "bandwidth_gbs = 1\nmemory_gib = 0\npeak_tflops = {fp32 = 1}\n",
        "[[[",
    ):
        path.write_text(text)
        with pytest.raises(UsageError):
            get_spec(str(path))
    assert main(["report", str(SAMPLES / "mobilenet_v2.onnx"), "--hardware", "no-such-chip"]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_decode_gives_a_tokens_per_second_bound(tmp_path, capsys):
    path = tmp_path / "gpt.onnx"
    onnx.save(gpt_decoder(), path)
    g = _json(capsys, path, "--decode", "64", "--hardware", "a100")["generation"]
    step = g["decode_step"]
    for acc in ("as_written", "fused"):
        t = step["roofline"][acc]
        # the time is the largest of its bounds (here the 5 µs launches of a tiny model), tokens/s the smallest
        assert t["time_ms"]["value"] == pytest.approx(max(t["roofline_ms"]["value"], t["overhead_ms"]["value"]))
        assert t["bound"] == "overhead" and t["overhead_ms"]["value"] > t["roofline_ms"]["value"]
        assert g["tokens_per_s"][acc]["value"] == pytest.approx(1e3 / t["time_ms"]["value"])
    # a decode step reads every weight and the whole cache: at least those bytes over the bandwidth
    totals = step["totals"]
    floor_ms = 1e3 * (totals["weight_bytes"]["value"] + totals["kv_read_bytes"]["value"]) / 2039e9
    assert step["roofline"]["as_written"]["roofline_ms"]["value"] >= floor_ms
    assert step["roofline"]["fused"]["roofline_ms"]["value"] >= floor_ms


def test_fp16_rows_use_the_fp16_peak():
    row = {"flops": 2e12, "weight_bytes": 1, "input_bytes": 0, "output_bytes": 0, "runs": 1, "status": "counted"}
    fast, _ = roofline([dict(row, dtype="float16")], SPEC)
    slow, _ = roofline([dict(row, dtype="float32")], SPEC)
    assert slow[0]["roofline_ms"] == pytest.approx(4 * fast[0]["roofline_ms"]) == pytest.approx(200.0)
    bf16, _ = roofline([dict(row, dtype="bfloat16")], SPEC)  # no bf16 rate: the fp32 one
    assert bf16[0]["roofline_ms"] == pytest.approx(200.0)
    assert np.isclose(bf16[0]["intensity"], 2e12)


def test_json_schema_doc_names_the_new_fields(tmp_path, capsys):
    import re

    from conftest import ROOT

    text = (ROOT / "docs" / "json-schema.md").read_text(encoding="utf-8")
    documented = set(re.findall(r'"([a-z_0-9]+)"', text))
    d = _json(capsys, SAMPLES / "mobilenet_v2.onnx", "--hardware", "t4")
    assert (
        set(d["rows"][0]) | set(d["roofline"]) | set(d["roofline"]["totals"]) | set(d["roofline"]["hardware"])
        <= documented
    )
    path = tmp_path / "gpt.onnx"
    onnx.save(gpt_decoder(), path)
    g = _json(capsys, path, "--decode", "8,16", "--hardware", "t4")["generation"]
    step = g["decode_step"]
    keys = set(g) | set(g["columns"][0]) | set(step) | set(step["totals"]) | set(step["rows"][0]) | set(g["layout"])
    assert keys <= documented, keys - documented


def test_html_roofline_chart_has_a_point_per_layer_under_the_ceilings(tmp_path):
    import re

    out = tmp_path / "r.html"
    assert (
        main(
            ["report", str(SAMPLES / "mobilenet_v2.onnx"), "--hardware", "cpu-avx2", "--format", "html", "-o", str(out)]
        )
        == 0
    )
    page = out.read_text(encoding="utf-8")
    circles = [(float(x), float(y)) for x, y in re.findall(r'<circle class="layer" cx="([\d.]+)" cy="([\d.]+)"', page)]
    assert len(circles) == 151  # every costed layer of MobileNetV2 that moves bytes and does FLOPs
    ceiling = re.search(r'<polyline class="ceiling"[^>]*points="([^"]+)"', page).group(1).split()
    (x0, y0), (ridge_x, peak_y), _ = [tuple(map(float, p.split(","))) for p in ceiling]
    for x, y in circles:  # without --profile each layer sits on its ceiling: on the slope or the flat roof
        roof = peak_y if x >= ridge_x else y0 + (x - x0) * (peak_y - y0) / (ridge_x - x0)
        assert y == pytest.approx(roof, abs=1.0)


def test_weights_are_read_as_stored(capsys, tmp_path):
    """An int8 weight behind a DequantizeLinear is read as K·N int8 bytes plus its scale and zero point
    (the folded float copy is never in memory in a fused runtime); a transposed weight as itself."""
    k, n = 64, 32
    nodes = [
        helper.make_node("DequantizeLinear", ["wq", "scale", "zp"], ["w"], name="dq"),
        helper.make_node("MatMul", ["x", "w"], ["y"], name="mm"),
        helper.make_node("Transpose", ["wt"], ["w2"], perm=[1, 0], name="t"),
        helper.make_node("MatMul", ["y", "w2"], ["z"], name="mm2"),
    ]
    inits = [
        tensor("wq", [k, n], np.int8),
        helper.make_tensor("scale", onnx.TensorProto.FLOAT, [], [0.1]),
        helper.make_tensor("zp", onnx.TensorProto.INT8, [], [0]),
        tensor("wt", [k, n]),
    ]
    path = tmp_path / "q.onnx"
    onnx.save(make_model(nodes, [vi("x", [1, k])], [vi("z", [1, k])], inits), path)
    d = _json(capsys, path, "--hardware", "a100")
    rows = {r["name"]: r for r in d["rows"]}
    assert rows["mm"]["weight_bytes_read"] == k * n * 1 + 4 + 1
    assert rows["mm2"]["weight_bytes_read"] == k * n * 4
    assert rows["dq"]["weight_bytes_read"] == 0 and rows["dq"]["roofline_ms"] is None  # folded at load


def test_a_node_whose_bytes_fit_the_cache_streams_at_the_cache_rate():
    """--hardware calibrate's second tier: a node moving at most cache_kib runs at the cache's rate (a
    CPU's L2, warm), one moving more at the memory's; with no cache tier, every node at the memory's."""
    spec = HardwareSpec("cpu", "made up", {"fp32": 1.0}, 10.0, cache_bandwidth_gbs=50.0, cache_kib=1024)
    row = {"flops": 0, "weight_bytes": 0, "input_bytes": 512 * 1024, "output_bytes": 512 * 1024, "runs": 1}
    small, _ = roofline([dict(row, dtype="float32", status="counted")], spec)
    big, _ = roofline([dict(row, input_bytes=4 << 20, dtype="float32", status="counted")], spec)
    assert small[0]["roofline_ms"] == pytest.approx(1e3 * (1 << 20) / 50e9)
    assert big[0]["roofline_ms"] == pytest.approx(1e3 * ((4 << 20) + (512 << 10)) / 10e9)
    plain, _ = roofline([dict(row, dtype="float32", status="counted")], SPEC)
    assert plain[0]["roofline_ms"] == pytest.approx(1e3 * (1 << 20) / 100e9)
