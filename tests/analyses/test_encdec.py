"""--generate on an encoder–decoder's optimum folder (encoder_model.onnx, decoder_model.onnx,
decoder_with_past_model.onnx): the encoder once, the decoder per step, the cross-attention cache
written by the first step and read by every later one; closed forms on tests/decoders.py's folder."""

from __future__ import annotations

import json

import pytest
from decoders import seq2seq_folder

from modelaudit.analyses.encdec import encdec_generate
from modelaudit.analyses.hardware import HardwareSpec
from modelaudit.cli.main import main

H, D, V = 2, 4, 20  # seq2seq_folder's defaults
W = H * D
F32 = 4
SELF_KV = 2 * H * D * F32  # a token's key and value in the self-attention cache


def _cross_kv(source: int) -> int:
    return 2 * H * source * D * F32


def _encoder_macs(source: int) -> int:
    return 4 * W * W * source + 2 * H * D * source * source  # Q, K, V, O; Q·Kᵀ and P·V


def _first_step_macs(source: int) -> int:
    # self Q, K, V, O and attention over itself; cross Q, O; cross K, V over the encoder's states;
    # cross attention over them; lm_head
    return 4 * W * W + 2 * H * D + 2 * W * W + 2 * W * W * source + 2 * H * D * source + W * V


def _later_step_macs(cached: int, source: int) -> int:
    return 4 * W * W + 2 * H * D * (cached + 1) + 2 * W * W + 2 * H * D * source + W * V


@pytest.mark.parametrize("source, new", [(6, 1), (6, 4), (9, 12)])
def test_encoder_decoder_generation_closed_forms(tmp_path, source, new):
    seq2seq_folder(tmp_path)
    g = encdec_generate(str(tmp_path), source, new, None, None)
    assert g["encoder"]["totals"]["macs"] == _encoder_macs(source)
    assert g["prefill"]["totals"]["macs"] == _first_step_macs(source)
    # the first step writes the first token's self-attention keys and values and the whole cross cache
    assert g["prefill"]["totals"]["kv_written_bytes"] == SELF_KV + _cross_kv(source)
    later = range(1, new)  # k tokens in the self-attention cache at the k-th later step
    if new > 1:
        assert g["decode_totals"]["macs"] == sum(_later_step_macs(k, source) for k in later)
        # every later step reads its self-attention cache and the whole cross-attention cache
        assert g["decode_totals"]["kv_read_bytes"] == sum(SELF_KV * k + _cross_kv(source) for k in later)
        assert g["decode_totals"]["kv_written_bytes"] == SELF_KV * (new - 1)
        assert g["cross_kv_cache_bytes"] == _cross_kv(source)
    whole = _encoder_macs(source) + _first_step_macs(source) + sum(_later_step_macs(k, source) for k in later)
    assert g["totals"]["macs"] == whole and g["totals"]["macs"].complete


def test_encoder_decoder_times_and_memory(tmp_path):
    seq2seq_folder(tmp_path)
    chip = HardwareSpec("chip", "made up", {"fp32": 1.0}, 10.0, overhead_us=0.0, memory_gib=1.0)
    g = encdec_generate(str(tmp_path), 6, 4, None, None, chip)
    for acc in ("as_written", "fused"):
        r = g["roofline"][acc]
        first = g["prefill"]["roofline"][acc]["time_ms"].value
        assert r["ttft_ms"].value == pytest.approx(r["encoder_ms"].value + first)  # the encoder, then step one
        assert r["e2e_ms"].value == pytest.approx(r["ttft_ms"].value + r["decode_ms"].value)
    m = g["memory"]
    assert m["kv_cache_bytes"] == SELF_KV * 4 + _cross_kv(6)  # both caches at the end
    encoder = F32 * (V * W + 4 * W * W) + 8 * (4 + 3)  # embedding, Q, K, V, O; two int64 shape constants
    assert m["weights_bytes"] == encoder + g["decode_last"]["weights_bytes"]
    assert m["fits"] is True


def test_the_folder_is_one_generation_on_the_command_line(tmp_path, capsys):
    seq2seq_folder(tmp_path)
    assert main(["report", str(tmp_path), "--generate", "6:4", "--format", "json"]) == 0
    g = json.loads(capsys.readouterr().out)["generation"]
    assert g["kind"] == "encoder-decoder" and g["layout"]["cross"] == [
        "past_key_values.0.encoder.key",
        "past_key_values.0.encoder.value",
    ]
    assert main(["report", str(tmp_path), "--generate", "6:4"]) == 0
    out = capsys.readouterr().out
    assert "encoder" in out and "first step" in out and "2 of them the cross-attention cache" in out
    assert main(["report", str(tmp_path), "--decode", "8"]) == 2
    assert "--generate SOURCE:NEW" in capsys.readouterr().err
    # the decoder with past alone was refused with no hint
    assert main(["report", str(tmp_path / "decoder_with_past_model.onnx"), "--decode", "8"]) == 2
    err = capsys.readouterr().err
    assert "encoder–decoder" in err and "decoder_model.onnx" in err
