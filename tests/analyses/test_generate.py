"""--generate (a whole generation), the memory fit, --weight-dtype/--kv-dtype and the fused
accounting, against closed forms on the GPT-style and GQA decoders of tests/decoders.py."""

from __future__ import annotations

import json

import onnx
import pytest
from decoders import gpt_decoder, gqa_decoder

from modelaudit.analyses import steps as steps_module
from modelaudit.analyses.generate import generate, parse_generate
from modelaudit.analyses.generation import generation
from modelaudit.analyses.hardware import HardwareSpec
from modelaudit.analyses.pricing import Pricing, priced_bytes
from modelaudit.cli.main import main
from modelaudit.errors import UsageError

L, H, D, V, W = 2, 4, 8, 50, 32  # gpt_decoder's defaults: W = H·D, the MLP 4W wide
F32 = 4
LINEAR = L * (4 * W * W + 2 * W * 4 * W) + W * V  # per token: Q, K, V, O, the MLP; lm_head
ATTN = 2 * L * H * D  # per (query, key) pair: Q·Kᵀ and P·V
KV = 2 * L * H * D * F32  # KV cache bytes per token
NORMS = (2 * L + 1) * 2 * W  # LayerNorm scales and biases
CHIP = HardwareSpec("test-chip", "made up", {"fp32": 10.0, "fp16": 40.0, "int8": 80.0}, 100.0, overhead_us=0.0)


def _decode_macs(past: int) -> int:
    return LINEAR + ATTN * (past + 1)


@pytest.mark.parametrize("prompt, new", [(8, 1), (8, 2), (5, 6), (16, 40)])
def test_generate_sums_every_decode_step_in_closed_form(prompt, new):
    g = generate(gpt_decoder(), prompt, new)
    pasts = range(prompt, prompt + new - 1)  # the prefill yields token 1; step k has prompt + k cached
    assert g["decode_steps"] == new - 1
    prefill, decode, whole = g["prefill"]["totals"], g["decode_totals"], g["totals"]
    assert prefill["macs"] == prompt * LINEAR + ATTN * prompt * prompt
    if new > 1:
        assert decode["macs"] == sum(_decode_macs(p) for p in pasts)
        assert decode["kv_read_bytes"] == KV * sum(pasts)
        assert decode["kv_written_bytes"] == KV * (new - 1)
        # every step reads every matmul weight, the norms and one embedding row
        assert decode["weight_bytes"] == (new - 1) * F32 * (LINEAR + NORMS + W)
    assert whole["macs"] == prefill["macs"] + (decode["macs"] if new > 1 else 0)
    assert g["kv_cache_bytes"] == KV * (prompt + new - 1)
    assert all(v.complete for v in whole.values())


def test_the_closed_form_sum_is_the_sum_of_every_step_audited(monkeypatch):
    """The same generation with each decode step audited on its own (the path a cost that is not
    affine in the cached length takes) gives the same sums and the same time bounds."""
    closed = generate(gpt_decoder(), 6, 9, spec=CHIP)
    monkeypatch.setattr(steps_module.StepSeries, "_affine", lambda self: False)
    every = generate(gpt_decoder(), 6, 9, spec=CHIP)
    assert every["decode_totals"] == closed["decode_totals"]
    for acc in ("as_written", "fused"):
        assert every["roofline"][acc]["e2e_ms"].value == pytest.approx(closed["roofline"][acc]["e2e_ms"].value)


def test_generate_times_are_the_steps_time_bounds():
    """Time to first token is the prefill's bound; end to end adds each decode step's bound, the
    same as --decode gives at each of the cached lengths."""
    prompt, new = 12, 7
    g = generate(gpt_decoder(), prompt, new, spec=CHIP)
    columns = generation(gpt_decoder(), list(range(prompt, prompt + new - 1)), spec=CHIP)["columns"]
    for acc in ("as_written", "fused"):
        r = g["roofline"][acc]
        decode = [c["decode_step"]["roofline"][acc]["time_ms"].value for c in columns]
        assert r["ttft_ms"] == g["prefill"]["roofline"][acc]["time_ms"]
        assert r["decode_ms"].value == pytest.approx(sum(decode))
        assert r["tpot_ms"].value == pytest.approx(sum(decode) / (new - 1))
        assert r["e2e_ms"].value == pytest.approx(r["ttft_ms"].value + sum(decode))
        assert r["tokens_per_s"].value == pytest.approx(1e3 * new / r["e2e_ms"].value)


def test_generate_cli_states_its_convention(tmp_path, capsys):
    path = tmp_path / "gpt.onnx"
    onnx.save(gpt_decoder(), path)
    assert main(["report", str(path), "--generate", "8:4", "--hardware", "a100", "--format", "json"]) == 0
    g = json.loads(capsys.readouterr().out)["generation"]
    assert (
        g["macs"]
        if False
        else g["totals"]["macs"]
        == {"value": 8 * LINEAR + ATTN * 64 + sum(_decode_macs(p) for p in (8, 9, 10)), "bound": "exact"}
    )
    assert "prefill yields the first output token" in g["convention"] and "8…10 tokens cached" in g["convention"]
    assert main(["report", str(path), "--generate", "8:4", "--hardware", "a100"]) == 0
    out = capsys.readouterr().out
    assert "time to first token" in out and "time per output token" in out and "decode (3 steps)" in out
    for bad in ("8", "8:0", "0:4", "a:b", "8:4:2"):
        assert main(["report", str(path), "--generate", bad]) == 2
        assert "--generate" in capsys.readouterr().err
    assert main(["report", str(path), "--generate", "8:4", "--decode", "8"]) == 2


def test_parse_generate():
    assert parse_generate("512:128") == (512, 128)
    with pytest.raises(UsageError):
        parse_generate(f"{2**62}:{2**62}")


def test_a_decode_only_export_cannot_generate():
    model = gpt_decoder()
    model.graph.input[0].type.tensor_type.shape.dim[1].dim_value = 1
    with pytest.raises(UsageError, match="cannot run the prefill"):
        generate(model, 8, 4)


# --- the memory fit -----------------------------------------------------------------------------


def _gqa_weights(layers=2, heads=8, kv_heads=2, d=8, vocab=50) -> int:
    w, kv = heads * d, kv_heads * d
    per_layer = 2 * w * w + 2 * w * kv + 2 * w * 4 * w + 2 * 2 * w  # q, o, k, v, the MLP, two LayerNorms
    return F32 * (layers * per_layer + vocab * w + w * vocab + 2 * w)  # embedding, lm_head, the final norm


@pytest.mark.parametrize("batch", [1, 3])
def test_memory_fit_adds_weights_cache_and_activations(tmp_path, capsys, batch):
    path = tmp_path / "gqa.onnx"
    onnx.save(gqa_decoder(), path)
    spec = tmp_path / "chip.toml"
    spec.write_text("bandwidth_gbs = 100\nmemory_gib = 0.000512\n[peak_tflops]\nfp32 = 10\n")  # 549,755 bytes
    argv = ["report", str(path), "--decode", "64", "--hardware", str(spec), "--dim", f"batch_size={batch}"]
    assert main([*argv, "--format", "json"]) == 0
    m = json.loads(capsys.readouterr().out)["generation"]["memory"]
    assert m["weights_bytes"] == _gqa_weights()
    per_token = 2 * 2 * 2 * 8 * F32 * batch  # 2·layers·kv_heads·D
    tokens = 64 if m["step"] == "prefill" else 64 + 1  # the cache once the step appended its tokens
    assert m["kv_cache_bytes"] == per_token * tokens
    act = m["activation_peak_bytes"]
    assert act["bound"] == "exact" and act["value"] > 0
    need = m["weights_bytes"] + m["kv_cache_bytes"] + act["value"]
    assert m["need_bytes"] == {"value": need, "bound": "exact"}
    steps = m["step_need_bytes"]
    assert set(steps) == {"prefill", "decode"} and m["need_bytes"] == max(steps.values(), key=lambda f: f["value"])
    assert m["capacity_bytes"] == int(0.000512 * 2**30)
    assert m["fits"] is (need <= m["capacity_bytes"])
    largest, longest = m["largest_batch"], m["longest_context"]
    for b, fits in ((largest, True), (largest + 1, False)):  # audited again at that batch, on its own
        again = generation(str(path), [64], dims={"batch_size": b}, spec=_spec(spec))["memory"]
        assert again["fits"] is fits, (b, again["need_bytes"])
    for c, fits in ((longest, True), (longest + 1, False)):
        again = generation(str(path), [c], dims={"batch_size": batch}, spec=_spec(spec))["memory"]
        assert again["fits"] is fits, (c, again["need_bytes"])


def _spec(path):
    from modelaudit.analyses.hardware import get_spec

    return get_spec(str(path))


def test_a_model_that_does_not_fit_is_said_plainly(tmp_path, capsys):
    path = tmp_path / "gqa.onnx"
    onnx.save(gqa_decoder(), path)
    spec = tmp_path / "tiny.toml"
    spec.write_text("bandwidth_gbs = 100\nmemory_gib = 0.0001\n[peak_tflops]\nfp32 = 10\n")  # 107 KB < the weights
    assert main(["report", str(path), "--decode", "64", "--hardware", str(spec)]) == 0
    out = capsys.readouterr().out
    assert "DOES NOT FIT" in out
    nomem = tmp_path / "nomem.toml"
    nomem.write_text("bandwidth_gbs = 100\n[peak_tflops]\nfp32 = 10\n")
    assert main(["report", str(path), "--decode", "64", "--hardware", str(nomem)]) == 0
    assert "no memory capacity" in capsys.readouterr().out


# --- --weight-dtype and --kv-dtype --------------------------------------------------------------


@pytest.mark.parametrize("dtype, bits", [("fp16", 16), ("fp8", 8), ("int8", 8), ("int4", 4)])
def test_weight_dtype_reprices_the_matrices_and_keeps_the_macs(dtype, bits):
    plain = generation(gpt_decoder(), [16])["decode_step"]["totals"]
    g = generation(gpt_decoder(), [16], pricing=Pricing(weight_dtype=dtype))["decode_step"]["totals"]
    assert g["macs"] == plain["macs"] and g["flops"] == plain["flops"]

    def priced(numel: int) -> int:  # int4: one float16 scale per 32 values besides
        return numel * bits // 8 + (2 * -(-numel // 32) if dtype == "int4" else 0)

    per_layer = 4 * priced(W * W) + 2 * priced(W * 4 * W)
    row = -(-priced(V * W) // V)  # the embedding row a token gathers: its share of the table
    assert g["weight_bytes"] == L * per_layer + priced(W * V) + F32 * NORMS + row


def test_priced_bytes():
    assert priced_bytes(64, "int4") == 32 + 2 * 2 and priced_bytes(33, "int4") == 17 + 2 * 2
    assert priced_bytes(10, "fp8") == 10 and priced_bytes(10, "bf16") == 20


@pytest.mark.parametrize("dtype, size", [("fp16", 2), ("int8", 1), ("fp8", 1)])
def test_kv_dtype_reprices_the_cache(dtype, size):
    g = generation(gpt_decoder(), [16], pricing=Pricing(kv_dtype=dtype))
    per_token = 2 * L * H * D * size
    assert g["kv_cache_bytes_per_token"] == per_token and g["kv_cache_bytes"] == 16 * per_token
    decode = g["decode_step"]["totals"]
    assert decode["kv_read_bytes"] == 16 * per_token and decode["kv_written_bytes"] == per_token
    assert decode["macs"] == _decode_macs(16)


def test_weight_dtype_picks_the_compute_rate(tmp_path, capsys):
    """fp16 and int8 weights run the matmuls at the chip's fp16 and int8 rates; int4 weights are
    dequantized to the activations' dtype (here fp32), as W4A16 kernels do."""
    path = tmp_path / "gpt.onnx"
    onnx.save(gpt_decoder(), path)
    for flag, rate in (("fp16", "float16"), ("int8", "int8"), ("int4", "float32")):
        g = generation(str(path), [16], pricing=Pricing(weight_dtype=flag), spec=CHIP)
        rows = g["decode_step"]["rows"]
        matmuls = [r for r in rows if r["op"] == "MatMul" and r["weight_bytes"]]
        assert matmuls and all(r["dtype"] == rate for r in matmuls)
    assert main(["report", str(path), "--decode", "16", "--weight-dtype", "int3"]) == 2
    assert "--weight-dtype" in capsys.readouterr().err
    assert main(["report", str(path), "--weight-dtype", "int4"]) == 2  # without --decode/--generate


# --- the fused accounting -----------------------------------------------------------------------


def _fused_decode_bytes(past: int) -> int:
    """What a fused runtime moves in one decode step of gpt_decoder, per kernel, float32:"""
    w = W * F32
    per_layer = (
        (2 * w + w + w)  # LayerNorm 1: scale and bias, x in, n1 out
        + 3 * (W * W * F32 + w + w)  # Q, K, V projections: weight, n1 in, q/k/v out
        + (w + 2 * (past + 1) * w + w)  # attention: q, the K and V caches and the new k, v; context out
        + (W * W * F32 + w + w + w)  # O projection with the residual add: ctx and x in, the sum out
        + (2 * w + w + w)  # LayerNorm 2
        + (W * 4 * W * F32 + w + 4 * w)  # MLP up with Gelu: n2 in, the activation out
        + (4 * W * W * F32 + 4 * w + w + w)  # MLP down with the residual add
    )
    head = (2 * w + w + w) + (W * V * F32 + w + V * F32)  # final LayerNorm; lm_head (logits out)
    embed = w + 8 + w  # the gathered row, input_ids (int64) in, the embeddings out
    return L * per_layer + head + embed


@pytest.mark.parametrize("past", [1, 16, 100])
def test_fused_decode_step_reads_weights_and_cache_once(past):
    g = generation(gpt_decoder(), [past])
    step = g["decode_step"]
    assert step["totals"]["fused_bytes"] == _fused_decode_bytes(past)
    # as written, each Concat copies a cache and the new token's into `present`: read and written whole
    concats = [r for r in step["rows"] if r["op"] == "Concat"]
    assert len(concats) == 2 * L
    assert all(r["output_bytes"] == r["input_bytes"] == (past + 1) * W * F32 for r in concats)
    kernels = {r["kernel"] for r in step["rows"] if r["kernel"] is not None}
    # per layer: 2 LayerNorms, Q, K, V, attention, O, MLP up, MLP down; the final LN, lm_head, the Gather
    assert len(kernels) == L * 9 + 3


def test_fused_gqa_writes_only_the_new_token():
    heads, kv_heads, d = 8, 2, 8
    g = generation(gqa_decoder(2, heads, kv_heads, d), [32])
    gqa = [r for r in g["decode_step"]["rows"] if r["op"].endswith("GroupQueryAttention")]
    new = 2 * kv_heads * d * F32
    cache = 2 * 32 * kv_heads * d * F32
    # q, k, v and the cache read; the output and the new token's key and value written (past and
    # present share one buffer), seqlens_k (int32) and total_sequence_length (int32 scalar) read too
    assert all(
        r["fused_bytes"] == (heads * d + 2 * kv_heads * d) * F32 + cache + heads * d * F32 + new + 4 + 4 for r in gqa
    )


# --- --decode with --sweep and --symbolic -------------------------------------------------------


def test_decode_sweeps_the_batch_one_column_each(tmp_path, capsys):
    path = tmp_path / "gpt.onnx"
    onnx.save(gpt_decoder(), path)
    argv = ["report", str(path), "--decode", "64", "--sweep", "batch_size=1,8,32", "--hardware", "a100"]
    assert main([*argv, "--format", "json"]) == 0
    g = json.loads(capsys.readouterr().out)["generation"]
    assert [c["label"] for c in g["columns"]] == ["batch_size=1", "batch_size=8", "batch_size=32"]
    for col, b in zip(g["columns"], (1, 8, 32)):
        assert col["decode_step"]["totals"]["macs"]["value"] == b * _decode_macs(64)
        assert col["prefill"]["totals"]["macs"]["value"] == b * (64 * LINEAR + ATTN * 64 * 64)
        assert col["kv_cache_bytes"] == b * 64 * KV
        t = col["decode_step"]["roofline"]["as_written"]["time_ms"]["value"]
        assert col["tokens_per_s"]["as_written"]["value"] == pytest.approx(1e3 * b / t)  # batch / step
    assert main([*argv]) == 0
    assert "batch 1, 8, 32, one column each" in capsys.readouterr().out
    assert main(["report", str(path), "--decode", "16,64", "--sweep", "batch_size=1,2"]) == 2  # one context
    assert main(["report", str(path), "--decode", "16", "--sweep", "past_sequence_length=1,2"]) == 2
    assert "--decode N1,N2" in capsys.readouterr().err


def test_decode_sweeps_any_dim(tmp_path):
    """A dim of the model's own (here the width of a fixed-size input the decoder does not use to
    cost, renamed): the sweep sets it like --dim."""
    from modelaudit.analyses.generation import open_run
    from modelaudit.analyses.genvariants import decode_sweep

    model = gqa_decoder()
    for d in model.graph.input[1].type.tensor_type.shape.dim:  # seqlens_k [batch_size]
        d.dim_param = "rows"
    g = decode_sweep(open_run(model, None, None, None, "--decode"), 16, "rows", [1, 2])
    assert [c["label"] for c in g["columns"]] == ["rows=1", "rows=2"]
    assert g["columns"][0]["decode_step"]["totals"]["macs"] == g["columns"][1]["decode_step"]["totals"]["macs"]


def test_decode_symbolic_gives_the_step_as_polynomials(tmp_path, capsys):
    path = tmp_path / "gpt.onnx"
    onnx.save(gpt_decoder(), path)
    assert main(["report", str(path), "--decode", "64", "--symbolic", "--format", "json"]) == 0
    f = json.loads(capsys.readouterr().out)["generation"]["formulas"]
    decode, prefill = f["decode_step"], f["prefill"]
    assert decode["variables"] == ["batch_size", "past_sequence_length"]
    # per step: (LINEAR + ATTN·(past + 1))·batch; KV read per_token·past·batch
    assert decode["formulas"]["macs"]["text"] == (
        f"{LINEAR + ATTN:,}·batch_size + {ATTN}·batch_size·past_sequence_length"
    )
    assert decode["formulas"]["kv_read_bytes"]["text"] == f"{KV}·batch_size·past_sequence_length"
    assert decode["formulas"]["kv_written_bytes"]["text"] == f"{KV}·batch_size"
    assert prefill["formulas"]["macs"]["text"] == (
        f"{LINEAR:,}·batch_size·sequence_length + {ATTN}·batch_size·sequence_length²"
    )
    assert main(["report", str(path), "--decode", "64", "--symbolic"]) == 0
    assert "a decode step as exact polynomials of batch_size, past_sequence_length:" in capsys.readouterr().out
