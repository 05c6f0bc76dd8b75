"""Deep-supervision losses: nnU-Net's normalised weighting for the 3D U-Net, and nCoVSegNet's
boundary-weighted BCE + soft Dice on every output, summed, as the authors train it."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from monai.losses import DeepSupervisionLoss


def boundary_weight(mask: torch.Tensor, kernel: int = 31, gain: float = 5.0) -> torch.Tensor:
    """w = 1 + gain * |avgpool_kernel(mask) - mask|: up to 6x weight near lesion borders, 1 far from them."""
    return 1.0 + gain * (F.avg_pool2d(mask, kernel, stride=1, padding=kernel // 2) - mask).abs()


def structure_loss(logits: torch.Tensor, mask: torch.Tensor, smooth: float = 1.0) -> torch.Tensor:
    """Weighted BCE-with-logits + weighted soft Dice, averaged over the batch.

    The authors' code passes the weight through a deprecated argument, so their BCE ends up unweighted;
    this is the intended weighted form.
    """
    w = boundary_weight(mask)
    bce = F.binary_cross_entropy_with_logits(logits, mask, reduction="none")
    wbce = (w * bce).sum((2, 3)) / w.sum((2, 3))
    p = torch.sigmoid(logits)
    inter = (w * p * mask).sum((2, 3))
    dice = 1.0 - (2.0 * inter + smooth) / ((w * p).sum((2, 3)) + (w * mask).sum((2, 3)) + smooth)
    return (wbce + dice).mean()


def deep_supervision_loss(outputs: Sequence[torch.Tensor] | torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Sum of ``structure_loss`` over the four outputs (prediction first)."""
    outs = [outputs] if isinstance(outputs, torch.Tensor) else list(outputs)
    return sum(structure_loss(o, mask) for o in outs)


class NormalisedDeepSupervisionLoss(DeepSupervisionLoss):
    """MONAI's deep supervision with nnU-Net v2's weights: 1, 1/2, 1/4, ... divided by their sum, so the
    loss keeps the scale of one output (MONAI's raw weights sum to 1.875 for four outputs: about 1.9x the
    loss and, under SGD, the gradient). nnU-Net also gives its coarsest output weight 0; UNet3D already
    returns no auxiliary logits for its two coarsest scales."""

    def get_weights(self, levels: int = 1) -> list[float]:
        weights = super().get_weights(levels)
        total = sum(weights)
        return [w / total for w in weights]


def masked_mse(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error over the voxels where ``mask`` is 1 (the self-supervised restoration loss: all ones
    for Models Genesis, the masked voxels for masked image modelling, as nnssl's ``MAEMSELoss``)."""
    weight = mask.expand_as(target).to(pred.dtype)
    return ((pred - target) ** 2 * weight).sum() / weight.sum().clamp_min(1.0)
