"""--profile --ort-optimization all on real exports: onnxruntime times the graph it optimized (BatchNorms
folded, activations fused, convs in NCHWc, transformer fusions), under names of its own; at least
95% of the kernel time still lands on the model's rows (runtime/attribution.py). Small inputs keep
the runs short."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch", reason="the exports need torch")
torchvision = pytest.importorskip("torchvision", reason="the vision models come from torchvision")
pytest.importorskip("onnxscript", reason="torch's dynamo exporter needs onnxscript")

import modelaudit  # noqa: E402
from modelaudit.runtime.verify import RuntimeOptions, check  # noqa: E402

ON_ROWS = 0.95  # the share of kernel time that must land on rows


class _Logits(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask):
        return self.model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).logits


def _model(name):
    torch.manual_seed(0)
    if name == "gpt2":
        transformers = pytest.importorskip("transformers")
        config = transformers.GPT2Config(
            n_layer=2, n_embd=64, n_head=4, vocab_size=1000, n_positions=128, attn_implementation="sdpa"
        )
        module = _Logits(transformers.GPT2LMHeadModel(config).eval())
        return module, (torch.zeros(1, 16, dtype=torch.long), torch.ones(1, 16, dtype=torch.long))
    return getattr(torchvision.models, name)().eval(), (torch.randn(1, 3, 64, 64),)


@pytest.mark.parametrize("exporter", ["torchscript", "dynamo"])
@pytest.mark.parametrize("name", ["resnet50", "mobilenet_v2", "gpt2"])
def test_kernel_time_lands_on_rows_under_all_optimizations(name, exporter, tmp_path):
    module, args = _model(name)
    path = tmp_path / f"{name}.{exporter}.onnx"
    kwargs = dict(dynamo=True, external_data=False) if exporter == "dynamo" else dict(dynamo=False, opset_version=17)
    torch.onnx.export(module, args, str(path), **kwargs)
    mg = modelaudit.load(path)
    options = RuntimeOptions(verify=False, profile=True, runs=3, threads=1, optimization="all")
    report, _ = check(mg, modelaudit.analyze(mg), options)
    p = report.profile
    assert p["unmatched_ms"] <= (1 - ON_ROWS) * p["nodes_ms"], p["unmatched"]
    # a row's time is the median of its kernels' summed per run: near the sum of their medians
    times = report.tables["profile"]["ms"]  # each row's, by row number
    on_rows = sum(ms for ms in times if ms is not None)
    assert on_rows == pytest.approx(p["nodes_ms"] - p["unmatched_ms"], rel=0.05)
    macs = max((r for r in report.rows if r.macs), key=lambda r: r.macs)
    assert any(ms for r, ms in zip(report.rows, times) if r.op == macs.op)  # the kernels that compute are timed as such
