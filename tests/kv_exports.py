"""transformers' GPT-2 (2 layers, 4 heads of 16, vocabulary 1,000; random weights) exported with its
KV cache in optimum's layout by torch's exporters: the models --decode and --generate are checked on.
Built in the test, never downloaded; torch and transformers are in the test environment."""

from __future__ import annotations

import warnings
from pathlib import Path

from function_exports import export_with_functions

__all__ = ["EXPORTERS", "export_gpt2_kv", "GPT2", "with_cache"]

EXPORTERS = ("classic", "classic_fn", "dynamo", "dynamo17")
GPT2 = {"layers": 2, "heads": 4, "head_dim": 16, "vocab": 1000}


def with_cache(model, layers: int):
    """`model` (a transformers causal LM) in optimum's layout: input_ids, attention_mask,
    past_key_values.{i}.key/value → logits, present.{i}.key/value."""
    import torch
    import transformers
    from torch import nn

    class WithCache(nn.Module):
        def __init__(self, model, layers):
            super().__init__()
            self.model, self.layers = model, layers

        def forward(self, input_ids, attention_mask, *past):
            cache = transformers.DynamicCache(
                ddp_cache_data=[(past[2 * i], past[2 * i + 1]) for i in range(self.layers)], config=self.model.config
            )
            start = past[0].shape[2]
            positions = torch.arange(start, start + input_ids.shape[1], dtype=torch.long).unsqueeze(0)
            out = self.model(
                input_ids=input_ids,
                attention_mask=attention_mask,
                position_ids=positions,
                past_key_values=cache,
                use_cache=True,
            )
            return (out.logits, *[t for layer in out.past_key_values.layers for t in (layer.keys, layer.values)])

    return WithCache(model, layers)


def _module():
    import torch
    import transformers

    torch.manual_seed(0)
    config = transformers.GPT2Config(
        n_layer=GPT2["layers"],
        n_embd=GPT2["heads"] * GPT2["head_dim"],
        n_head=GPT2["heads"],
        vocab_size=GPT2["vocab"],
        n_positions=256,
        bos_token_id=0,
        eos_token_id=0,
        attn_implementation="sdpa",
    )
    return with_cache(transformers.GPT2LMHeadModel(config).eval(), GPT2["layers"]).eval()


def export_gpt2_kv(path: Path, exporter: str, monkeypatch=None, traced_tokens: int = 3, past: int = 5) -> Path:
    """GPT-2 with its cache, traced with `traced_tokens` new tokens after `past` cached ones; the
    batch, the new and the cached lengths dynamic (TorchScript: optimum's dim names; dynamo: its own).
    classic_fn needs pytest's `monkeypatch` (the exporter's attribute filter, patched for the test)."""
    import torch

    module = _module()
    layers = GPT2["layers"]
    names = [f"past_key_values.{i}.{kv}" for i in range(layers) for kv in ("key", "value")]
    outputs = ["logits"] + [f"present.{i}.{kv}" for i in range(layers) for kv in ("key", "value")]
    cache = [torch.randn(1, GPT2["heads"], past, GPT2["head_dim"]) for _ in names]
    args = (
        torch.randint(0, GPT2["vocab"], (1, traced_tokens)),
        torch.ones(1, past + traced_tokens, dtype=torch.long),
        *cache,
    )
    kwargs = dict(input_names=["input_ids", "attention_mask", *names], output_names=outputs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if exporter.startswith("dynamo"):
            batch, seq, cached = (torch.export.Dim(n) for n in ("batch", "seq", "past"))
            shapes = (
                {0: batch, 1: seq},
                {0: batch, 1: torch.export.Dim("total")},
                tuple({0: batch, 2: cached} for _ in names),
            )
            extra = {"opset_version": 17} if exporter == "dynamo17" else {}
            torch.onnx.export(
                module, args, path, dynamo=True, dynamic_shapes=shapes, external_data=False, **kwargs, **extra
            )
            return path
        axes = {
            "input_ids": {0: "batch_size", 1: "sequence_length"},
            "attention_mask": {0: "batch_size", 1: "past_sequence_length + sequence_length"},
            **{n: {0: "batch_size", 2: "past_sequence_length"} for n in names},
        }
        if exporter == "classic_fn":  # one local function per transformer block
            blocks = {type(m) for m in module.modules() if type(m).__name__ == "GPT2Block"}
            export_with_functions(module, args, path, blocks, monkeypatch, dynamic_axes=axes, **kwargs)
        else:
            torch.onnx.export(module, args, path, dynamo=False, opset_version=17, dynamic_axes=axes, **kwargs)
    return path
