"""``model.channels_last``: the same network in the channels-last layout computes the same thing."""

from __future__ import annotations

import torch

from transferbench.models import UNet3D
from transferbench.training.module import SegmentationModule


def in_channels_last(net: torch.nn.Module) -> bool:
    """Whether ``net``'s first multi-channel 3D convolution weight is stored channels-last (and only so)."""
    weight = next(p for p in net.parameters() if p.dim() == 5 and p.shape[1] > 1)
    return weight.is_contiguous(memory_format=torch.channels_last_3d) and not weight.is_contiguous()


def _pair() -> tuple[SegmentationModule, SegmentationModule]:
    torch.manual_seed(0)
    plain = SegmentationModule(UNet3D("tiny"), optimizer="adam", lr=1e-3)
    last = SegmentationModule(UNet3D("tiny"), optimizer="adam", lr=1e-3, channels_last=True)
    last.net.load_state_dict(plain.net.state_dict())
    return plain, last


def test_channels_last_layout_same_outputs_and_gradients():
    plain, last = _pair()
    assert in_channels_last(last.net) and not in_channels_last(plain.net)
    x = torch.rand(2, 1, 16, 16, 8)
    label = (x > 0.7).long()
    for m in (plain, last):
        m.train()
        m.net.zero_grad()
        out = m.outputs(x)
        m.criterion(out if isinstance(out, (list, tuple)) else [out], label).backward()
    plain.eval(), last.eval()
    with torch.no_grad():
        torch.testing.assert_close(last(x), plain(x), rtol=1e-4, atol=1e-5)
    for a, b in zip(plain.net.parameters(), last.net.parameters(), strict=True):
        torch.testing.assert_close(b.grad, a.grad, rtol=1e-3, atol=1e-5)


def test_contiguous_by_default():
    plain, _ = _pair()
    assert plain._layout == torch.contiguous_format
    assert all(p.is_contiguous() for p in plain.net.parameters())
