"""A tiny T5 (transformers' config, random weights) exported with torch into optimum's seq2seq folder
layout: encoder_model.onnx, decoder_model.onnx (the first step: no past, it makes the self and the
cross-attention caches) and decoder_with_past_model.onnx (every later step), with optimum's input,
output and dim names. Built in the test; optimum itself is not needed."""

from __future__ import annotations

import warnings
from pathlib import Path

__all__ = ["T5", "export_t5_folder"]

T5 = {"d_model": 32, "d_ff": 64, "d_kv": 8, "heads": 4, "layers": 2, "vocab": 100}


def _model():
    import torch
    import transformers

    torch.manual_seed(0)
    config = transformers.T5Config(
        d_model=T5["d_model"],
        d_ff=T5["d_ff"],
        d_kv=T5["d_kv"],
        num_heads=T5["heads"],
        num_layers=T5["layers"],
        num_decoder_layers=T5["layers"],
        vocab_size=T5["vocab"],
        decoder_start_token_id=0,
        attn_implementation="eager",
    )
    return transformers.T5ForConditionalGeneration(config).eval()


def _wrappers(model):
    import torch
    import transformers
    from torch import nn

    layers = T5["layers"]

    class Encoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask):
            return self.model.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    def run(ids, mask, hidden, cache):
        out = model(
            encoder_outputs=(hidden,),
            attention_mask=mask,
            decoder_input_ids=ids,
            past_key_values=cache,
            use_cache=True,
        )
        return out.logits, out.past_key_values

    class Decoder(nn.Module):  # the first step: its self-attention cache and the cross-attention one
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, input_ids, encoder_attention_mask, encoder_hidden_states):
            empty = transformers.EncoderDecoderCache(
                transformers.DynamicCache(config=model.config), transformers.DynamicCache(config=model.config)
            )
            logits, cache = run(input_ids, encoder_attention_mask, encoder_hidden_states, empty)
            self_kv, cross_kv = cache.self_attention_cache.layers, cache.cross_attention_cache.layers
            flat = []
            for i in range(layers):
                flat += [self_kv[i].keys, self_kv[i].values, cross_kv[i].keys, cross_kv[i].values]
            return (logits, *flat)

    class DecoderWithPast(nn.Module):  # every later step: the cross-attention cache is only read
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, input_ids, encoder_attention_mask, *past):
            self_cache = transformers.DynamicCache(
                ddp_cache_data=[(past[4 * i], past[4 * i + 1]) for i in range(layers)], config=model.config
            )
            cross_cache = transformers.DynamicCache(
                ddp_cache_data=[(past[4 * i + 2], past[4 * i + 3]) for i in range(layers)], config=model.config
            )
            cache = transformers.EncoderDecoderCache(self_cache, cross_cache)
            hidden = torch.zeros(input_ids.shape[0], past[2].shape[2], T5["d_model"])  # unused: the cross KV is cached
            logits, cache = run(input_ids, encoder_attention_mask, hidden, cache)
            out = cache.self_attention_cache.layers
            return (logits, *[t for i in range(layers) for t in (out[i].keys, out[i].values)])

    return Encoder().eval(), Decoder().eval(), DecoderWithPast().eval()


def export_t5_folder(folder: Path, source: int = 7, past: int = 3) -> Path:
    """The three files of optimum's layout in `folder`, traced at `source` encoder tokens."""
    import torch

    folder.mkdir(parents=True, exist_ok=True)
    encoder, decoder, with_past = _wrappers(_model())
    layers, heads, d_kv, d_model = T5["layers"], T5["heads"], T5["d_kv"], T5["d_model"]
    ids = torch.randint(0, T5["vocab"], (1, source))
    mask = torch.ones(1, source, dtype=torch.long)
    hidden = torch.randn(1, source, d_model)
    kv_names = [f"{i}.{part}.{kv}" for i in range(layers) for part in ("decoder", "encoder") for kv in ("key", "value")]
    self_names = [f"{i}.decoder.{kv}" for i in range(layers) for kv in ("key", "value")]
    batch = {0: "batch_size"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            encoder, (ids, mask), folder / "encoder_model.onnx", dynamo=False, opset_version=17,
            input_names=["input_ids", "attention_mask"], output_names=["last_hidden_state"],
            dynamic_axes={n: {0: "batch_size", 1: "encoder_sequence_length"}
                          for n in ("input_ids", "attention_mask", "last_hidden_state")},
        )  # fmt: skip
        first_outputs = ["logits", *[f"present.{n}" for n in kv_names]]
        torch.onnx.export(
            decoder, (torch.zeros(1, 1, dtype=torch.long), mask, hidden), folder / "decoder_model.onnx",
            dynamo=False, opset_version=17,
            input_names=["input_ids", "encoder_attention_mask", "encoder_hidden_states"], output_names=first_outputs,
            dynamic_axes={
                "input_ids": {0: "batch_size", 1: "decoder_sequence_length"},
                "encoder_attention_mask": {0: "batch_size", 1: "encoder_sequence_length"},
                "encoder_hidden_states": {0: "batch_size", 1: "encoder_sequence_length"},
                "logits": {0: "batch_size", 1: "decoder_sequence_length"},
                **{f"present.{n}": {**batch, 2: "decoder_sequence_length"} for n in self_names},
                **{f"present.{n}": {**batch, 2: "encoder_sequence_length_out"} for n in kv_names if "encoder" in n},
            },
        )  # fmt: skip
        cache = [torch.randn(1, heads, past if ".decoder." in n else source, d_kv) for n in kv_names]
        torch.onnx.export(
            with_past, (torch.zeros(1, 1, dtype=torch.long), mask, *cache), folder / "decoder_with_past_model.onnx",
            dynamo=False, opset_version=17,
            input_names=["input_ids", "encoder_attention_mask", *[f"past_key_values.{n}" for n in kv_names]],
            output_names=["logits", *[f"present.{n}" for n in self_names]],
            dynamic_axes={
                "input_ids": batch,
                "encoder_attention_mask": {0: "batch_size", 1: "encoder_sequence_length"},
                "logits": batch,
                **{f"past_key_values.{n}": {**batch, 2: "past_decoder_sequence_length"} for n in self_names},
                **{f"past_key_values.{n}": {**batch, 2: "encoder_sequence_length_out"}
                   for n in kv_names if "encoder" in n},
                **{f"present.{n}": {**batch, 2: "past_decoder_sequence_length + 1"} for n in self_names},
            },
        )  # fmt: skip
    return folder
