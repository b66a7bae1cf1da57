"""transformers models built from their configs (random weights, tiny sizes) and exported with
torch: params against torch's numel count, MACs against FlopCounterMode's FLOPs / 2 (SDPA counted)
at the same input shape, and the report complete."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch", reason="the exports need torch (CI installs torch==2.13.0, CPU)")
transformers = pytest.importorskip("transformers", reason="the models come from transformers' configs")

from function_exports import export_with_functions  # noqa: E402
from kv_exports import with_cache  # noqa: E402
from torch import nn  # noqa: E402
from torch.utils import flop_counter  # noqa: E402

import modelaudit  # noqa: E402

SEQ, PAST, IMAGE = 16, 16, 32


def _sdpa_cpu_flops(query, key, value, *args, out_val=None, **kwargs) -> int:
    return flop_counter.sdpa_flop_count(query.shape, key.shape, value.shape)


# FlopCounterMode has formulas for the CUDA SDPA kernels only; without this the CPU kernel's
# Q·Kᵀ and P·V would be missing from the oracle. The same formula torch uses for the others.
_CPU_SDPA = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu
if _CPU_SDPA not in flop_counter.flop_registry:
    flop_counter.register_flop_formula(_CPU_SDPA, get_raw=True)(_sdpa_cpu_flops)


class Logits(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask):
        return self.model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).logits


class Hidden(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, token_type_ids):
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
        return out.last_hidden_state, out.pooler_output


class Classify(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, pixel_values):
        return self.model(pixel_values=pixel_values).logits


def _ids(batch, seq):
    return torch.randint(0, 1000, (batch, seq), generator=torch.Generator().manual_seed(1))


def _text(model, block):
    ids, mask = _ids(1, SEQ), torch.ones(1, SEQ, dtype=torch.long)
    axes = {0: "batch", 1: "sequence"}
    return dict(
        module=Logits(model),
        model=model,
        block=block,
        args=(ids, mask),
        names=["input_ids", "attention_mask"],
        outputs=["logits"],
        axes={"input_ids": axes, "attention_mask": axes, "logits": axes},
        dims=lambda: tuple({0: torch.export.Dim("batch"), 1: torch.export.Dim("sequence")} for _ in range(2)),
    )


def gpt2():
    config = transformers.GPT2Config(
        n_layer=2,
        n_embd=64,
        n_head=4,
        vocab_size=1000,
        n_positions=128,
        bos_token_id=0,
        eos_token_id=0,
        attn_implementation="sdpa",
    )
    return _text(transformers.GPT2LMHeadModel(config), "GPT2Block")


def gpt2_kv():
    model = transformers.GPT2LMHeadModel(
        transformers.GPT2Config(
            n_layer=2,
            n_embd=64,
            n_head=4,
            vocab_size=1000,
            n_positions=128,
            bos_token_id=0,
            eos_token_id=0,
            attn_implementation="sdpa",
        )
    )
    past = [torch.randn(1, 4, PAST, 16, generator=torch.Generator().manual_seed(2)) for _ in range(4)]
    names = [f"past_key_values.{i}.{kv}" for i in range(2) for kv in ("key", "value")]
    axes = {
        "input_ids": {0: "batch_size", 1: "sequence_length"},
        "attention_mask": {0: "batch_size", 1: "past_sequence_length + sequence_length"},
        **{n: {0: "batch_size", 2: "past_sequence_length"} for n in names},
    }
    return dict(
        module=with_cache(model, 2),
        model=model,
        block="GPT2Block",
        args=(_ids(1, 1), torch.ones(1, PAST + 1, dtype=torch.long), *past),
        names=["input_ids", "attention_mask", *names],
        outputs=["logits"],
        axes=axes,
        dims=None,
    )


def llama_gqa():
    config = transformers.LlamaConfig(
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        vocab_size=1000,
        max_position_embeddings=128,
        attn_implementation="sdpa",
    )
    return _text(transformers.LlamaForCausalLM(config), "LlamaDecoderLayer")


def bert():
    config = transformers.BertConfig(
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=128,
        vocab_size=1000,
        max_position_embeddings=128,
        attn_implementation="sdpa",
    )
    model = transformers.BertModel(config)
    axes = {0: "batch", 1: "sequence"}
    names = ["input_ids", "attention_mask", "token_type_ids"]
    return dict(
        module=Hidden(model),
        model=model,
        block="BertLayer",
        args=(_ids(1, SEQ), torch.ones(1, SEQ, dtype=torch.long), torch.zeros(1, SEQ, dtype=torch.long)),
        names=names,
        outputs=["last_hidden_state", "pooler_output"],
        axes={n: axes for n in names},
        dims=lambda: tuple({0: torch.export.Dim("batch"), 1: torch.export.Dim("sequence")} for _ in range(3)),
    )


def vit():
    config = transformers.ViTConfig(
        image_size=IMAGE,
        patch_size=8,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=128,
        num_labels=10,
        attn_implementation="sdpa",
    )
    model = transformers.ViTForImageClassification(config)
    x = torch.randn(1, 3, IMAGE, IMAGE, generator=torch.Generator().manual_seed(3))
    return dict(
        module=Classify(model),
        model=model,
        block="ViTLayer",
        args=(x,),
        names=["pixel_values"],
        outputs=["logits"],
        axes={"pixel_values": {0: "batch"}},
        dims=lambda: ({0: torch.export.Dim("batch")},),
    )


BUILDERS = {"gpt2": gpt2, "gpt2_kv": gpt2_kv, "bert": bert, "llama_gqa": llama_gqa, "vit": vit}


@pytest.fixture(scope="module")
def built():
    cache = {}

    def get(name):
        if name not in cache:
            torch.manual_seed(0)
            spec = BUILDERS[name]()
            spec["module"].eval()
            _distinct(spec["module"])
            cache[name] = spec
        return cache[name]

    return get


def _distinct(module: nn.Module) -> None:
    """Noise on every weight: fresh inits repeat tensors (LayerNorm's ones and zeros), and the
    TorchScript exporter stores identical initializers once, so the file would hold fewer weights
    than the module has."""
    generator = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn(p.shape, generator=generator) * 0.01)


def _export(spec, exporter, path, monkeypatch):
    kwargs = dict(input_names=spec["names"], output_names=spec["outputs"])
    if exporter == "dynamo":
        pytest.importorskip("onnxscript", reason="torch's dynamo exporter needs onnxscript")
        torch.onnx.export(
            spec["module"],
            spec["args"],
            path,
            dynamo=True,
            dynamic_shapes=spec["dims"](),
            external_data=False,
            **kwargs,
        )
        return
    if exporter == "classic_fn":  # one local function per transformer block
        block = {type(m) for m in spec["module"].modules() if type(m).__name__ == spec["block"]}
        export_with_functions(
            spec["module"], spec["args"], path, block, monkeypatch, dynamic_axes=spec["axes"], **kwargs
        )
        return
    torch.onnx.export(
        spec["module"], spec["args"], path, dynamo=False, opset_version=17, dynamic_axes=spec["axes"], **kwargs
    )


def _oracle(spec, exporter) -> tuple[int, int]:
    model = spec["model"]
    params = sum(p.numel() for p in model.parameters())
    # float buffers the graph computes with (Llama's rotary inv_freq) are stored as weights; Llama
    # also keeps original_inv_freq, an unused copy that the graph never reads
    buffers: list = []
    for b in model.buffers():
        if (
            b.is_floating_point()
            and b.numel() > 1
            and not any(b.shape == o.shape and torch.equal(b, o) for o in buffers)
        ):
            buffers.append(b)
    params += sum(b.numel() for b in buffers)
    if exporter != "dynamo":
        # the TorchScript exporter folds the tied LM head's Transpose(wte) into an initializer of
        # its own: the file stores the tied matrix twice (the dynamo exporter keeps one)
        params += sum(p.numel() for _, p in model.named_parameters(remove_duplicate=False)) - sum(
            p.numel() for p in model.parameters()
        )
    with torch.no_grad(), flop_counter.FlopCounterMode(display=False) as counter:
        spec["module"](*spec["args"])
    return params, counter.get_total_flops() // 2


def _case(name, exporter):
    return pytest.param(name, exporter, id=f"{name}.{exporter}")


CASES = [
    _case("gpt2", "classic"),
    _case("gpt2", "classic_fn"),
    _case("gpt2", "dynamo"),
    _case("gpt2_kv", "classic"),
    _case("gpt2_kv", "classic_fn"),
    _case("llama_gqa", "classic"),
    _case("llama_gqa", "classic_fn"),
    _case("llama_gqa", "dynamo"),
    _case("bert", "classic"),
    _case("bert", "classic_fn"),
    _case("bert", "dynamo"),
    _case("vit", "classic"),
    _case("vit", "classic_fn"),
    _case("vit", "dynamo"),
]


@pytest.mark.parametrize("name, exporter", CASES)
def test_transformers_export(name, exporter, built, tmp_path, monkeypatch, realworld_table):
    spec = built(name)
    path = tmp_path / f"{name}.{exporter}.onnx"
    _export(spec, exporter, path, monkeypatch)
    params, macs = _oracle(spec, exporter)
    inputs = {n: tuple(a.shape) for n, a in zip(spec["names"], spec["args"])}
    report = modelaudit.audit(path, inputs=inputs)
    realworld_table(
        f"{name} ({exporter})", f"transformers {transformers.__version__}, torch.onnx.export", report, params, macs
    )
    assert report.uncounted == {}
    assert report.totals.params == params
    assert report.totals.macs == macs
    assert report.totals.macs.complete and report.totals.params.complete
