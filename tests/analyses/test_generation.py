"""--decode: prefill and decode-step costs of decoders with a KV cache, against closed forms."""

from __future__ import annotations

import json

import onnx
import pytest
from conftest import SAMPLES, make_model, vi
from decoders import gpt_decoder, gqa_decoder
from onnx import TensorProto, helper

import modelaudit
from modelaudit.analyses.generation import find_cache, generation
from modelaudit.cli.main import main
from modelaudit.errors import UsageError

L, H, D, V, FFN_MULT = 2, 4, 8, 50, 4  # gpt_decoder's defaults
W = H * D
F32 = 4


def _gpt_linear_macs() -> int:
    """Per token: Q, K, V, O (4·W²) and the MLP (2·W·4W) per layer, and lm_head W·V; the embedding
    Gather is no matmul. This is the count of non-embedding matmul weights."""
    return L * (4 * W * W + 2 * W * FFN_MULT * W) + W * V


def test_linear_macs_are_the_matmul_weights():
    model = gpt_decoder()
    matmul_weights = {n.input[1] for n in model.graph.node if n.op_type == "MatMul"}
    numel = sum(t.dims[0] * t.dims[1] for t in model.graph.initializer if t.name in matmul_weights)
    assert numel == _gpt_linear_macs() == 2 * (4 * 32 * 32 + 2 * 32 * 128) + 32 * 50


@pytest.mark.parametrize("context", [1, 16, 100])
def test_gpt_decode_and_prefill_closed_forms(context):
    g = generation(gpt_decoder(), [context])
    decode, prefill = g["decode_step"]["totals"], g["prefill"]["totals"]
    # one new token attends to the `context` cached positions and itself: Q·Kᵀ and P·V, D MACs each
    assert decode["macs"] == _gpt_linear_macs() + 2 * L * H * D * (context + 1)
    # the prefill: every one of `context` tokens through the linears, and a context × context score matrix
    assert prefill["macs"] == context * _gpt_linear_macs() + 2 * L * H * D * context * context
    per_token = 2 * L * H * D * F32  # a key and a value of H·D float32 per layer
    assert g["kv_cache_bytes_per_token"] == per_token == 512
    assert g["kv_cache_bytes"] == context * per_token
    assert decode["kv_read_bytes"] == context * per_token and decode["kv_written_bytes"] == per_token
    assert prefill["kv_read_bytes"] == 0 and prefill["kv_written_bytes"] == context * per_token
    # weights read by one step: every matmul weight, the layer norms' scales and biases, one embedding row
    norms = (2 * L + 1) * 2 * W
    assert decode["weight_bytes"] == F32 * (_gpt_linear_macs() + norms + W)
    assert decode["macs"].complete and prefill["macs"].complete


def test_grouped_query_attention_counts_kv_heads_in_the_cache():
    heads, kv_heads, d, layers, vocab = 8, 2, 8, 2, 50
    width = heads * d
    g = generation(gqa_decoder(layers, heads, kv_heads, d, vocab), [32])
    linear = layers * (2 * width * width + 2 * width * kv_heads * d + 2 * width * 4 * width) + width * vocab
    assert g["decode_step"]["totals"]["macs"] == linear + 2 * layers * heads * d * (32 + 1)
    assert g["kv_cache_bytes_per_token"] == 2 * layers * kv_heads * d * F32 == 256  # kv_heads, not heads
    assert g["prefill"]["totals"]["macs"] == 32 * linear + 2 * layers * heads * d * 32 * 32
    # GroupQueryAttention writes its output and, into the cache buffer it shares with the past (as
    # onnxruntime-genai runs it), the new token's key and value: not the whole present [B, H_kv, 33, D]
    gqa = [r for r in g["decode_step"]["rows"] if r["op"].endswith("GroupQueryAttention")]
    assert gqa and all(r["output_bytes"] == F32 * (heads * d + 2 * kv_heads * 1 * d) for r in gqa)
    assert all(r["kv_written_bytes"] == F32 * 2 * kv_heads * d for r in gqa)  # as the report says it writes


def test_a_column_per_context():
    contexts = [8, 32, 128]
    g = generation(gpt_decoder(), contexts)
    assert [c["context"] for c in g["columns"]] == contexts
    for c in g["columns"]:
        n = c["context"]
        assert c["decode_step"]["totals"]["macs"] == _gpt_linear_macs() + 2 * L * H * D * (n + 1)
    assert g["decode_step"] == g["columns"][-1]["decode_step"]


@pytest.mark.parametrize("past_name", ["past_key_values.{i}.{kv}", "past_{kv}_{i}", "cache_{kv}_{i}", "past.{i}.{kv}"])
def test_cache_spellings(past_name):
    layout = find_cache(gpt_decoder(past_name=past_name))
    assert layout.past_dim == "past_sequence_length" and layout.seq_dim == "sequence_length"
    assert len(layout.caches) == 2 * L and layout.batch_dim == "batch_size"
    assert layout.sums == {"past_sequence_length + sequence_length": ["past_sequence_length", "sequence_length"]}


def test_cache_found_through_group_query_attention_slots():
    """Inputs named nothing like a cache are recognised because they enter past_key/past_value."""
    model = gqa_decoder()
    renames = {vi.name: f"state{i}" for i, vi in enumerate(model.graph.input) if vi.name.startswith("past_")}
    for vi_ in model.graph.input:
        vi_.name = renames.get(vi_.name, vi_.name)
    for node in model.graph.node:
        node.input[:] = [renames.get(n, n) for n in node.input]
    layout = find_cache(model)
    assert sorted(layout.caches) == sorted(renames.values()) and layout.past_dim == "past_sequence_length"
    g = generation(model, [16])
    assert g["kv_cache_bytes_per_token"] == 2 * 2 * 2 * 8 * F32


def test_a_model_without_cache_is_refused(capsys):
    with pytest.raises(UsageError, match="no recognisable KV cache"):
        find_cache(onnx.load(SAMPLES / "mobilenet_v2.onnx"))
    assert main(["report", str(SAMPLES / "mobilenet_v2.onnx"), "--decode", "2048"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no recognisable KV cache" in err[0]


def test_cli_json_and_text(tmp_path, capsys):
    path = tmp_path / "gpt.onnx"
    onnx.save(gpt_decoder(), path)
    assert main(["report", str(path), "--decode", "16,64", "--format", "json"]) == 0
    g = json.loads(capsys.readouterr().out)["generation"]
    assert set(g) >= {"prefill", "decode_step", "kv_cache_bytes_per_token", "kv_cache_bytes", "columns"}
    assert g["kv_cache_bytes"] == 64 * 512
    assert main(["report", str(path), "--decode", "16,64"]) == 0
    out = capsys.readouterr().out
    assert "context 16" in out and "context 64" in out and "KV cache per token" in out
    assert main(["report", str(path), "--decode", "0"]) == 2
    assert main(["report", str(path), "--decode", "16", "--dim", "past_sequence_length=4"]) == 2


def test_past_length_zero_is_legal_and_other_zero_dims_are_refused(tmp_path, capsys):
    path = tmp_path / "gpt.onnx"
    onnx.save(gpt_decoder(), path)
    flags = ["--dim", "batch_size=1", "--dim", "sequence_length=5"]  # the mask's sum dim is evaluated from them
    assert main(["report", str(path), "--dim", "past_sequence_length=0", *flags, "--format", "json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["totals"]["macs"] == {"value": 5 * _gpt_linear_macs() + 2 * L * H * D * 5 * 5, "bound": "exact"}
    assert main(["report", str(path), "--dim", "batch_size=0"]) == 2
    assert "only a KV cache's cached length may be 0" in capsys.readouterr().err


def test_a_zero_length_dim_costs_zero_not_an_error():
    """x [1, n, 8] · W [8, 4] with n = 0: an empty product, 0 MACs, counted."""
    model = make_model(
        [helper.make_node("MatMul", ["x", "w"], ["y"]), helper.make_node("Relu", ["y"], ["z"])],
        [vi("x", [1, "n", 8])],
        [vi("z", [1, "n", 4])],
        [helper.make_tensor("w", TensorProto.FLOAT, [8, 4], [0.5] * 32)],
    )
    report = modelaudit.audit(model, dims={"n": 0})
    assert [r.status for r in report.rows] == ["counted", "counted"]
    assert report.totals.macs == 0 and report.totals.flops == 0 and report.totals.macs.complete


def test_llama_shaped_export_with_float16_cache_and_external_weights(tmp_path):
    """benchmarks/models.py's Llama layout (RMSNorm, GroupQueryAttention, SwiGLU: three MLP matrices),
    float16 weights left in a sparse external file: the cache's dtype is 2 bytes."""
    import sys

    from conftest import ROOT

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from models import llama_decoder

    layers, hidden, heads, kv_heads, ffn, vocab = 3, 256, 8, 2, 512, 1000
    head_dim = hidden // heads
    params = llama_decoder(tmp_path / "llama.onnx", layers, hidden, heads, kv_heads, ffn, vocab)
    g = generation(str(tmp_path / "llama.onnx"), [100])
    linear = layers * (2 * hidden * hidden + 2 * hidden * kv_heads * head_dim + 3 * hidden * ffn) + hidden * vocab
    assert g["decode_step"]["totals"]["macs"] == linear + 2 * layers * heads * head_dim * (100 + 1)
    assert g["kv_cache_bytes_per_token"] == 2 * layers * kv_heads * head_dim * 2  # float16
    norms = (2 * layers + 1) * hidden
    assert params == linear + norms + vocab * hidden  # the embedding table besides
    # a decode step reads every weight once, and one row of the embedding table
    assert g["decode_step"]["totals"]["weight_bytes"] == 2 * (linear + norms + hidden)


def test_an_empty_cache_given_by_input_shape(tmp_path, capsys):
    """--input past_key_values.0.key=1x4x0x8 is an empty cache; a 0 anywhere else is refused."""
    path = tmp_path / "gpt.onnx"
    onnx.save(gpt_decoder(), path)
    flags = [f"--input=past_key_values.{i}.{kv}=1x{H}x0x{D}" for i in range(L) for kv in ("key", "value")]
    flags += ["--input", "input_ids=1x3", "--input", "attention_mask=1x3"]
    assert main(["report", str(path), *flags, "--format", "json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["totals"]["macs"] == {"value": 3 * _gpt_linear_macs() + 2 * L * H * D * 3 * 3, "bound": "exact"}
    assert main(["report", str(path), "--input", f"past_key_values.0.key=0x{H}x0x{D}"]) == 2
    assert main(["report", str(path), "--input", "input_ids=1x0"]) == 2
    assert "only for the cached length" in capsys.readouterr().err


def test_a_decode_only_export_has_no_prefill():
    """input_ids [batch_size, 1], attention_mask [batch_size, past_sequence_length + 1] (a 'with past'
    export): the mask's sum is no token length; the decode step is costed, the prefill is not."""
    model = gpt_decoder()
    model.graph.input[0].type.tensor_type.shape.dim[1].dim_value = 1
    model.graph.input[1].type.tensor_type.shape.dim[1].dim_param = "past_sequence_length + 1"
    layout = find_cache(model)
    assert layout.seq_dim is None and layout.sums == {"past_sequence_length + 1": ["past_sequence_length", 1]}
    g = generation(model, [16])
    assert g["prefill"] is None
    assert g["decode_step"]["totals"]["macs"] == _gpt_linear_macs() + 2 * L * H * D * (16 + 1)


def check_gpt2_export(path) -> None:
    """transformers' GPT-2 with its cache (tests/kv_exports.py): --decode and --generate against the
    closed forms at contexts 8 and 64, exact and complete."""
    from kv_exports import GPT2

    layers, heads, head_dim, vocab = GPT2["layers"], GPT2["heads"], GPT2["head_dim"], GPT2["vocab"]
    width = heads * head_dim
    linear = layers * (3 * width * width + width * width + 2 * width * 4 * width) + width * vocab  # c_attn, c_proj, MLP
    attention = 2 * layers * heads * head_dim
    g = generation(str(path), [8, 64])
    for col in g["columns"]:
        n = col["context"]
        assert col["decode_step"]["totals"]["macs"] == linear + attention * (n + 1)
        assert col["prefill"]["totals"]["macs"] == n * linear + attention * n * n
        assert col["decode_step"]["totals"]["macs"].complete and col["prefill"]["totals"]["macs"].complete
        assert col["kv_cache_bytes_per_token"] == 2 * layers * heads * head_dim * F32
    from modelaudit.analyses.generate import generate

    whole = generate(str(path), 8, 5)["totals"]["macs"]
    assert whole == 8 * linear + attention * 64 + sum(linear + attention * (p + 1) for p in range(8, 12))


@pytest.fixture(scope="module")
def gpt2_exports(tmp_path_factory):
    pytest.importorskip("torch", reason="the exports need torch")
    pytest.importorskip("transformers", reason="GPT-2 comes from transformers' config")
    from kv_exports import export_gpt2_kv

    folder = tmp_path_factory.mktemp("gpt2")
    return export_gpt2_kv(folder / "gpt2_kv.classic.onnx", "classic")


def test_transformers_gpt2_export_with_a_cache(gpt2_exports):
    """TorchScript's export (a few seconds). The other exporters (with local functions, dynamo at its
    default opset and at 17) and a trace with one new token are in
    tests/realworld/test_generation_exports.py: they take tens of seconds."""
    check_gpt2_export(gpt2_exports)


@pytest.mark.parametrize("flag", [["--depth", "2"], ["--by", "op"], ["--columns", "name,macs"], ["--sort", "params"]])
def test_table_flags_that_decode_cannot_apply_are_refused(tmp_path, capsys, flag):
    """--decode prints its own two tables: --depth, --by op, --columns and --sort printed the very
    same output as without them (silently ignored); they exit 2 like --sweep's."""
    path = tmp_path / "gpt.onnx"
    onnx.save(gpt_decoder(), path)
    assert main(["report", str(path), "--decode", "16", *flag]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and flag[0] in err[0] and "--decode" in err[0]


def test_context_past_int64_is_a_usage_error_and_its_largest_is_counted(tmp_path, capsys):
    """--decode 10²³ was set as a dim and protobuf raised (exit 70); N cached + 1 new token must fit an int64."""
    path = tmp_path / "gpt.onnx"
    onnx.save(gpt_decoder(layers=1), path)
    for n in (10**23, 2**63 - 1):
        assert main(["report", str(path), "--decode", f"16,{n}"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and f"at most {2**63 - 2:,}" in err[0], err
    assert main(["report", str(path), "--decode", str(2**63 - 2), "--format", "json"]) == 0
    out = capsys.readouterr().out
    assert '": -' not in out and "NaN" not in out


def test_batch_decode_figures_are_per_step(tmp_path, capsys):
    """At batch B a decode step is one token of each of the B sequences: the rows say 'per step'
    (they said 'per token'), and the step's MACs are B times the single sequence's."""
    path = tmp_path / "gpt.onnx"
    onnx.save(gpt_decoder(), path)
    one = generation(str(path), [16])["decode_step"]["totals"]["macs"]
    four = generation(str(path), [16], dims={"batch_size": 4})["decode_step"]["totals"]["macs"]
    assert four == 4 * one == 4 * (_gpt_linear_macs() + 2 * L * H * D * 17)
    assert main(["report", str(path), "--decode", "16", "--dim", "batch_size=4"]) == 0
    out = capsys.readouterr().out
    assert "decode MACs per step" in out and "per token" not in out.split("KV cache per token")[0]
    assert "one new token for each of the 4 sequences" in out


def test_a_prefill_the_export_cannot_run_is_unknown_not_a_smaller_figure(tmp_path, capsys):
    """An export traced with one new token whose Reshape fixed that length: onnx's inference at 16
    tokens still gives [1, 1, 4, 8], and every cost after it came out smaller than the truth, with no
    ≥ (issue 27's 108.2 G against 181.2 G). The prefill is unknown, and the line says why."""
    model = gpt_decoder()
    for i, t in enumerate(model.graph.initializer):
        if t.name == f"shape_{H}":
            model.graph.initializer[i].CopyFrom(helper.make_tensor(t.name, TensorProto.INT64, [4], [0, 1, H, D]))
    g = generation(model, [16])
    assert g["prefill"]["cannot_run"] and "reshapes 512 values" in g["prefill"]["cannot_run"]
    assert all(v.state == "unknown" for v in g["prefill"]["totals"].values())
    assert g["decode_step"]["totals"]["macs"] == _gpt_linear_macs() + 2 * L * H * D * 17  # one token: it runs
    path = tmp_path / "baked.onnx"
    onnx.save(model, path)
    assert main(["report", str(path), "--decode", "16"]) == 0
    out = capsys.readouterr().out
    assert "prefill of 16 cannot run this export" in out
    assert [line.split()[-1] for line in out.splitlines() if line.startswith("prefill MACs")] == ["?"]


@pytest.mark.parametrize("hardware", [[], ["--hardware", "h100-sxm"]])
def test_decode_tables_fit_eighty_columns(tmp_path, capsys, monkeypatch, hardware):
    """issue 25: --decode printed 119 columns, --decode --hardware 294."""
    path = tmp_path / "gpt.onnx"
    onnx.save(gpt_decoder(), path)
    monkeypatch.setenv("MODELAUDIT_WIDTH", "80")
    assert main(["report", str(path), "--decode", "128,1024,8192,65536", *hardware]) == 0
    out = capsys.readouterr().out
    assert max(map(len, out.splitlines())) <= 80
    assert "context 65,536" in out and "/h.0/attn/QK" in out or "/h.1/attn/QK" in out
    monkeypatch.setenv("MODELAUDIT_WIDTH", "0")  # whole, as when piped
    assert main(["report", str(path), "--decode", "128,1024,8192,65536", *hardware]) == 0
    assert max(map(len, capsys.readouterr().out.splitlines())) > 80


def test_overhead_bound_decode_says_so_and_its_rate_follows(tmp_path, capsys):
    """issue 25: 'bound by overhead' sat beside a tokens/s 195 times above the overhead's bound."""
    path = tmp_path / "gpt.onnx"
    onnx.save(gpt_decoder(), path)
    assert main(["report", str(path), "--decode", "128", "--hardware", "h100-sxm", "--format", "json"]) == 0
    g = json.loads(capsys.readouterr().out)["generation"]
    for acc in ("as_written", "fused"):
        t = g["decode_step"]["roofline"][acc]
        kernels = t["kernels"]
        assert t["bound"] == "overhead" and t["overhead_ms"]["value"] == pytest.approx(kernels * 5e-3)
        assert t["time_ms"] == t["overhead_ms"]
        assert g["tokens_per_s"][acc]["value"] == pytest.approx(1e3 / (kernels * 5e-3))


def test_an_unresolved_model_has_no_zero_time_bound(capsys):
    """issue 25: the transformer sample without --dim printed 'time bound 0 ms' and 'the model is
    compute-bound at this batch'."""
    path = SAMPLES / "transformer_block.onnx"
    assert main(["report", str(path), "--hardware", "h100-sxm"]) == 0
    out = capsys.readouterr().out
    assert "0 ms" not in out and "compute-bound at this batch" not in out
    assert "time bound ≥ " in out and "unknown" in out and "--dim batch=N" in out
    assert main(["report", str(path), "--hardware", "h100-sxm", "--format", "json"]) == 0
    t = json.loads(capsys.readouterr().out)["roofline"]["totals"]
    assert t["roofline_ms"]["bound"] == "unknown" and t["bound"] == "unknown"
    assert t["time_ms"]["bound"] == "at_least" and t["time_ms"]["value"] == pytest.approx(t["kernels"] * 5e-3)
    assert main(["report", str(path), "--hardware", "h100-sxm", "--dim", "batch=1", "--dim", "seq=512"]) == 0
    out = capsys.readouterr().out
    assert "time bound ≥" not in out and "time bound 0.125 ms as written" in out  # 25 kernels × 5 µs
    assert "bound by per-kernel overhead" in out
