"""--training against an independent oracle: torch's FlopCounterMode counts the FLOPs of the aten
kernels a real backward pass runs (convolution_backward, mm, bmm), with or without the gradient of
each operand. Backward MACs by our convention are those FLOPs / 2: dW for a weight, dX for an
activation, nothing for a graph input (which wants no gradient).

Runs where torch is installed (CI installs it before the main suite)."""

from __future__ import annotations

import pytest

import modelaudit

torch = pytest.importorskip("torch", reason="the oracle is torch's FlopCounterMode (CI installs torch)")
from torch import nn  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the TorchScript exporter's notice


class _Attention(nn.Module):
    """Q·Kᵀ and P·V: matmuls of two activations, each wanting both gradients."""

    def __init__(self, width: int):
        super().__init__()
        self.q, self.k, self.v = (nn.Linear(width, width, bias=False) for _ in range(3))

    def forward(self, x):
        scores = self.q(x) @ self.k(x).transpose(-1, -2)
        return torch.softmax(scores, dim=-1) @ self.v(x)


def _cnn(groups: int = 1):
    # the first conv reads the graph input: its backward is dW only (1× forward); the strided and
    # padded ones later need dW and dX (2×)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(8, 16, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.Conv2d(16, 16, 3, padding=1, groups=groups),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(16 * 8 * 8, 10),
    )


CASES = {
    "cnn": (_cnn, (2, 3, 16, 16)),
    "mlp": (lambda: nn.Sequential(nn.Linear(32, 64), nn.GELU(), nn.Linear(64, 8)), (4, 32)),
    "attention": (lambda: nn.Sequential(nn.Linear(16, 16), _Attention(16)), (2, 12, 16)),
}


def _torch_backward_macs(module: nn.Module, shape: tuple[int, ...]) -> tuple[int, int]:
    x = torch.randn(*shape)  # a graph input: requires no gradient
    with FlopCounterMode(display=False) as forward:
        out = module(x)
    with FlopCounterMode(display=False) as backward:
        out.sum().backward()
    return forward.get_total_flops() // 2, backward.get_total_flops() // 2


@pytest.mark.parametrize("case", sorted(CASES))
def test_backward_macs_equal_torch_flop_counter(tmp_path, case):
    build, shape = CASES[case]
    torch.manual_seed(0)
    module = build().train()
    forward_macs, backward_macs = _torch_backward_macs(module, shape)
    path = tmp_path / f"{case}.onnx"
    torch.onnx.export(module.eval(), (torch.randn(*shape),), str(path), dynamo=False, opset_version=17)
    report = modelaudit.audit(path, training=True, findings=False)
    assert report.totals.macs == forward_macs  # the same graph, counted the same way forward
    assert report.training["backward_macs"] == backward_macs


def test_grouped_conv_backward_by_hand(tmp_path):
    """FlopCounterMode is no oracle for a grouped conv's dW: its formula swaps batch and channels and
    drops the groups, so it counts dW `groups` times over (torch 2.14: 4× here). By hand, dW[o, i, ky,
    kx] sums grad_out·x over the batch and the output positions: |W|·N·|Y spatial| MACs, the forward
    count; dX is a transposed conv of the same size. So 2× forward, as for a dense conv."""
    torch.manual_seed(0)
    module = _cnn(groups=4).eval()
    path = tmp_path / "grouped.onnx"
    torch.onnx.export(module, (torch.randn(2, 3, 16, 16),), str(path), dynamo=False, opset_version=17)
    report = modelaudit.audit(path, training=True, findings=False)
    convs = [r for r in report.rows if r.op == "Conv"]
    weight = 16 * (16 // 4) * 3 * 3  # C_out · C_in/groups · K·K
    grouped_forward = weight * 2 * 8 * 8  # · N · |Y spatial| (8x8 after the stride-2 conv)
    assert convs[2].macs == grouped_forward
    first, second = 8 * 3 * 9 * 2 * 16 * 16, 16 * 8 * 9 * 2 * 8 * 8
    linear = 16 * 8 * 8 * 10 * 2
    assert report.training["backward_macs"] == first + 2 * second + 2 * grouped_forward + 2 * linear
