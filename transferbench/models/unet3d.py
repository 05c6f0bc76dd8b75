"""nnU-Net style 3D U-Net with explicit ``encoder`` / ``decoder`` / ``head`` submodules.

Composition as in dynamic-network-architectures' ``PlainConvUNet``: the decoder is built from the encoder
and reads its widths, kernels and strides from it. Blocks are MONAI's DynUNet blocks (conv -> instance norm
-> leaky ReLU, twice per level; transposed-conv upsampling), so the network is nnU-Net's, not a look-alike.
Transfer strategies act on the declared key prefixes (``key_to_encoder`` etc.), never on string guesses.

Axis order is MONAI's channel-first (C, X, Y, Z) in RAS: the slice axis is the *last* one, so nnU-Net's
``56 x 160 x 192`` (z, y, x) patch is ``(192, 160, 56)`` here and its ``1x3x3`` kernel is ``(3, 3, 1)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from monai.networks.blocks.dynunet_block import UnetBasicBlock, UnetOutBlock, UnetUpBlock
from torch import nn

from transferbench.models.base import SegmentationNet
from transferbench.models.registry import register_model

Triple = Sequence[int] | int

NORM = ("INSTANCE", {"affine": True})
ACT = ("leakyrelu", {"inplace": True, "negative_slope": 0.01})

PRESETS: dict[str, dict] = {
    # The public benchmark's network (Ma et al. 2021, nnU-Net 3d_fullres): six levels, 32-64-128-256-320-320.
    "benchmark": {
        "features": (32, 64, 128, 256, 320, 320),
        "kernel_sizes": ((3, 3, 1), (3, 3, 3), (3, 3, 3), (3, 3, 3), (3, 3, 3), (3, 3, 3)),
        "strides": ((1, 1, 1), (2, 2, 1), (2, 2, 2), (2, 2, 2), (2, 2, 2), (2, 2, 1)),
    },
    # Small CPU network for the synthetic benchmark (patches of 64 x 64 x 32 at 4 x 4 x 6 mm).
    "cpu_small": {
        "features": (8, 16, 32, 64),
        "kernel_sizes": (3, 3, 3, 3),
        "strides": (1, 2, 2, (2, 2, 1)),
    },
    # Tiny network for tests.
    "tiny": {"features": (4, 8, 16), "kernel_sizes": (3, 3, 3), "strides": (1, 2, 2)},
}


def _triple(v: Triple) -> tuple[int, int, int]:
    return (v, v, v) if isinstance(v, int) else tuple(int(x) for x in v)  # type: ignore[return-value]


class UNetEncoder(nn.Module):
    """Stages of two conv-norm-act units; the first conv of stage ``i`` has stride ``strides[i]``."""

    def __init__(self, in_channels: int, features, kernel_sizes, strides) -> None:
        super().__init__()
        if not len(features) == len(kernel_sizes) == len(strides):
            raise ValueError(
                f"features, kernel_sizes and strides need one entry per level, got {len(features)}, "
                f"{len(kernel_sizes)}, {len(strides)}"
            )
        self.in_channels = in_channels
        self.features = [int(f) for f in features]
        self.kernel_sizes = [_triple(k) for k in kernel_sizes]
        self.strides = [_triple(s) for s in strides]
        chans = [in_channels, *self.features]
        self.stages = nn.ModuleList(
            UnetBasicBlock(3, chans[i], chans[i + 1], self.kernel_sizes[i], self.strides[i], NORM, ACT)
            for i in range(len(self.features))
        )

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        skips = []
        for stage in self.stages:
            x = stage(x)
            skips.append(x)
        return skips


class UNetDecoder(nn.Module):
    """Transposed-conv upsampling, concatenation with the skip, two conv-norm-act units per level."""

    def __init__(self, encoder: UNetEncoder) -> None:
        super().__init__()
        f, k, s = encoder.features, encoder.kernel_sizes, encoder.strides
        self.features = f
        self.stages = nn.ModuleList(
            UnetUpBlock(3, f[i + 1], f[i], k[i], 1, s[i + 1], NORM, ACT) for i in reversed(range(len(f) - 1))
        )

    def forward(self, skips: list[torch.Tensor]) -> list[torch.Tensor]:
        """Returns decoder features from coarsest to finest (the last one is at input resolution)."""
        x = skips[-1]
        outs = []
        for stage, skip in zip(self.stages, reversed(skips[:-1])):
            x = stage(x, skip)
            outs.append(x)
        return outs


class UNetHeads(SegmentationNet):
    """Output head and deep-supervision heads shared by the U-Net variants."""

    key_to_decoder = ("decoder.",)
    key_to_head = ("head.", "aux_heads.")

    def _build_heads(self, encoder: UNetEncoder, out_channels: int, deep_supervision: bool) -> None:
        f = encoder.features
        self.head = UnetOutBlock(3, f[0], out_channels)
        n_aux = max(0, len(f) - 3) if deep_supervision else 0
        aux_features = list(reversed(f[:-1]))[-1 - n_aux : -1]
        self.aux_heads = nn.ModuleList(UnetOutBlock(3, c, out_channels) for c in reversed(aux_features))
        self.deep_supervision = deep_supervision
        self.out_channels = self.num_classes = out_channels
        self._strides = list(encoder.strides)

    @property
    def divisor(self) -> tuple[int, int, int]:
        """Per-axis factor every input size must be a multiple of."""
        d = [1, 1, 1]
        for s in self._strides:
            d = [a * b for a, b in zip(d, s)]
        return tuple(d)  # type: ignore[return-value]

    def _outputs(self, feats: list[torch.Tensor]) -> torch.Tensor | list[torch.Tensor]:
        """Full-resolution logits, plus the auxiliary ones (finest first) when deep-supervised training."""
        logits = self.head(feats[-1])
        if not (self.training and self.deep_supervision):
            return logits
        aux = [h(f) for h, f in zip(self.aux_heads, reversed(feats[:-1]))]
        return [logits, *aux]


@register_model("unet3d")
class UNet3D(UNetHeads):
    """nnU-Net style 3D U-Net (Isensee et al., Nature Methods 2021) with deep supervision.

    Args:
        preset: ``benchmark`` (the public benchmark's 6-level network), ``cpu_small`` or ``tiny``; explicit
            ``features`` / ``kernel_sizes`` / ``strides`` override the preset.
        in_channels, out_channels: input channels (1 for CT) and classes including background.
        deep_supervision: in training mode return logits at every decoder scale except the two coarsest
            (finest first), as nnU-Net; in eval mode always the full-resolution logits.

    Input ``(B, in_channels, X, Y, Z)`` with each spatial size divisible by the product of the strides on
    that axis; output ``(B, out_channels, X, Y, Z)``.
    """

    key_to_encoder = ("encoder.",)
    tiny_kwargs = {"preset": "tiny"}

    def __init__(
        self,
        preset: str | None = "cpu_small",
        in_channels: int = 1,
        out_channels: int = 2,
        features: Sequence[int] | None = None,
        kernel_sizes: Sequence[Triple] | None = None,
        strides: Sequence[Triple] | None = None,
        deep_supervision: bool = True,
    ) -> None:
        super().__init__()
        if preset is not None and preset not in PRESETS:
            raise ValueError(f"unknown UNet3D preset {preset!r}; available: {sorted(PRESETS)}")
        base = PRESETS.get(preset or "", {})
        features = features if features is not None else base.get("features")
        if features is None:
            raise ValueError("UNet3D needs a preset or explicit features, kernel_sizes and strides")
        kernel_sizes = (
            kernel_sizes if kernel_sizes is not None else base.get("kernel_sizes", [3] * len(features))
        )
        strides = strides if strides is not None else base.get("strides", [1] + [2] * (len(features) - 1))
        self.in_channels = in_channels
        self.encoder = UNetEncoder(in_channels, features, kernel_sizes, strides)
        self.decoder = UNetDecoder(self.encoder)
        self._build_heads(self.encoder, out_channels, deep_supervision)

    def forward(self, x: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        return self._outputs(self.decoder(self.encoder(x)))
