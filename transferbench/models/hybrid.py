"""Hybrid-encoder 3D U-Net: a dedicated (fresh) and an adapted (pretrained) encoder feeding one decoder.

The transferability study's proposal: the dedicated encoder learns COVID-19 features from scratch, the
adapted encoder brings lesion features from a (multi-)source model, and at every scale a Selective Fusion
unit lets the network choose, per channel, how much of each branch to use before the skip connection.
The fusion follows SK-Net (Li et al., CVPR 2019), our reading of the paper: U = F_d + F_a, global average
pool, a bottleneck MLP, two branch logits with a softmax across the branches per channel, and
out = a * F_d + b * F_a.
"""

from __future__ import annotations

import torch
from torch import nn

from transferbench.models.registry import register_model
from transferbench.models.unet3d import UNet3D, UNetDecoder, UNetEncoder, UNetHeads


class SelectiveFusion(nn.Module):
    """SK-Net style attention across two branches, per channel (``d = max(C // reduction, min_hidden)``)."""

    def __init__(self, channels: int, reduction: int = 16, min_hidden: int = 32) -> None:
        super().__init__()
        hidden = max(channels // reduction, min_hidden)
        self.squeeze = nn.Sequential(nn.Linear(channels, hidden), nn.ReLU(inplace=True))
        self.branch_logits = nn.Linear(hidden, 2 * channels)
        self.channels = channels

    def weights(self, dedicated: torch.Tensor, adapted: torch.Tensor) -> torch.Tensor:
        """(B, 2, C) branch weights, summing to one over the branch axis."""
        s = (dedicated + adapted).flatten(2).mean(-1)
        logits = self.branch_logits(self.squeeze(s)).view(-1, 2, self.channels)
        return torch.softmax(logits, dim=1)

    def forward(self, dedicated: torch.Tensor, adapted: torch.Tensor) -> torch.Tensor:
        w = self.weights(dedicated, adapted)
        shape = (*w.shape, *([1] * (dedicated.ndim - 2)))
        w = w.view(shape)
        return w[:, 0] * dedicated + w[:, 1] * adapted


@register_model("hybrid_unet3d")
class HybridUNet3D(UNetHeads):
    """UNet3D with two encoders of identical shape, a fusion unit per scale and one decoder.

    Built from a ``UNet3D`` (``from_unet``) so the hybrid keeps the configuration the run asked for; the
    ``adapted`` encoder takes the weights of a source model's ``encoder``.
    """

    key_to_encoder = ("dedicated.", "adapted.", "fusion.")
    key_to_adapted = ("adapted.",)
    key_to_source_encoder = UNet3D.key_to_encoder  # where the adapted weights sit in a source checkpoint
    tiny_kwargs = {"in_channels": 1, "out_channels": 2, "features": (4, 8, 16), "kernel_sizes": (3, 3, 3),
                   "strides": (1, 2, 2)}  # fmt: skip

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        features,
        kernel_sizes,
        strides,
        deep_supervision: bool = True,
        fusion_reduction: int = 16,
        fusion_min_hidden: int = 32,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.dedicated = UNetEncoder(in_channels, features, kernel_sizes, strides)
        self.adapted = UNetEncoder(in_channels, features, kernel_sizes, strides)
        self.fusion = nn.ModuleList(
            SelectiveFusion(c, fusion_reduction, fusion_min_hidden) for c in self.dedicated.features
        )
        self.decoder = UNetDecoder(self.dedicated)
        self._build_heads(self.dedicated, out_channels, deep_supervision)

    @classmethod
    def from_unet(cls, net: UNet3D, **kwargs) -> HybridUNet3D:
        enc = net.encoder
        return cls(
            enc.in_channels,
            net.out_channels,
            enc.features,
            enc.kernel_sizes,
            enc.strides,
            deep_supervision=net.deep_supervision,
            **kwargs,
        )

    def fused_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Fused skip features, finest first."""
        return [f(d, a) for f, d, a in zip(self.fusion, self.dedicated(x), self.adapted(x))]

    def forward(self, x: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        return self._outputs(self.decoder(self.fused_features(x)))
