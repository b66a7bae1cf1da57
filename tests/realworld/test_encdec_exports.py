"""--generate on transformers' T5 (2 layers a side, d_model 32, 4 heads of 8, d_ff 64, vocabulary
100; random weights) exported with torch into optimum's seq2seq folder (tests/encdec_exports.py):
the encoder once, the first decoder step, every later step, against T5's closed forms."""

from __future__ import annotations

import pytest

pytest.importorskip("torch", reason="the exports need torch (CI installs it, CPU)")
pytest.importorskip("transformers", reason="T5 comes from transformers' config")

from encdec_exports import T5, export_t5_folder  # noqa: E402

from modelaudit.analyses.encdec import encdec_generate  # noqa: E402

LAYERS, DM, DFF, DKV, HEADS, VOCAB = T5["layers"], T5["d_model"], T5["d_ff"], T5["d_kv"], T5["heads"], T5["vocab"]
INNER = HEADS * DKV
F32 = 4


def _encoder(source: int) -> int:  # Q, K, V, O and the ReLU MLP per token; Q·Kᵀ and P·V
    return LAYERS * (source * (4 * DM * INNER + 2 * DM * DFF) + 2 * HEADS * DKV * source * source)


def _decoder_step(cached: int, source: int, first: bool) -> int:
    """One new token; the cross attention's K and V over the encoder's states are made by the first
    step only (later steps read them from the cache); lm_head DM × VOCAB."""
    per_layer = 4 * DM * INNER + 2 * HEADS * DKV * (cached + 1)  # self-attention
    per_layer += 2 * DM * INNER + 2 * HEADS * DKV * source  # cross Q, O and attention
    per_layer += (2 * DM * INNER * source if first else 0) + 2 * DM * DFF  # cross K, V; the MLP
    return LAYERS * per_layer + DM * VOCAB


@pytest.mark.parametrize("source, new", [(7, 5), (16, 9)])
def test_t5_folder_generation(tmp_path, source, new):
    folder = export_t5_folder(tmp_path / "t5")
    g = encdec_generate(str(folder), source, new, None, None)
    assert g["encoder"]["totals"]["macs"] == _encoder(source)
    assert g["prefill"]["totals"]["macs"] == _decoder_step(0, source, first=True)
    assert g["decode_totals"]["macs"] == sum(_decoder_step(k, source, first=False) for k in range(1, new))
    cross = 2 * LAYERS * HEADS * source * DKV * F32
    assert g["cross_kv_cache_bytes"] == cross
    assert g["prefill"]["totals"]["kv_written_bytes"] == 2 * LAYERS * HEADS * DKV * F32 + cross
    assert g["totals"]["macs"].complete
