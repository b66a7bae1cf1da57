"""--decode and --generate on transformers' GPT-2 with its cache, exported by each of torch's
exporters (TorchScript, TorchScript with local functions, dynamo at its default opset and at 17):
one closed form for all (tests/analyses/test_generation.py's check)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("torch", reason="the exports need torch (CI installs it, CPU)")
pytest.importorskip("transformers", reason="GPT-2 comes from transformers' config")

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "analyses"))

from kv_exports import EXPORTERS, export_gpt2_kv  # noqa: E402
from test_generation import check_gpt2_export  # noqa: E402


@pytest.mark.parametrize("exporter", EXPORTERS)
def test_gpt2_with_a_cache_from_every_exporter(exporter, tmp_path, monkeypatch):
    if exporter.startswith("dynamo"):
        pytest.importorskip("onnxscript", reason="torch's dynamo exporter needs onnxscript")
    check_gpt2_export(export_gpt2_kv(tmp_path / f"gpt2_kv.{exporter}.onnx", exporter, monkeypatch))


def test_gpt2_traced_with_one_new_token_still_runs_prefill(tmp_path):
    """A 'with past' trace (one new token): GPT-2's graph keeps the new-token length symbolic, so the
    prefill runs and is costed exactly (where a Reshape fixed it, the prefill is unknown instead:
    tests/analyses/test_generation.py)."""
    check_gpt2_export(export_gpt2_kv(tmp_path / "gpt2_kv.traced1.onnx", "classic", traced_tokens=1))
