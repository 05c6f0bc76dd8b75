"""Self-supervised pretraining as a training mode of the segmentation module (``model.pretext``).

A pretext run trains the same network (the U-Net's keys, one output channel) to restore image patches
(``transferbench.data.ssl_transforms``): labels are never read. Models Genesis restores through a sigmoid
(its authors' output layer) with the squared error over the whole patch; masked image modelling predicts
intensities directly with the squared error on the masked voxels (nnssl). Validation scores the
restoration of a fixed centre patch of each validation volume as ``1 - MSE / variance`` of the target on the
loss voxels (``val/restoration``: 0 predicts the mean, 1 is perfect), the quantity the checkpoint tracks.
Each batch's corruption is drawn from a generator seeded by the run's seed and the optimiser step, so a
resumed run draws what an uninterrupted one would.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from pytorch_lightning.callbacks import ModelCheckpoint
from torch import nn

from transferbench.data.ssl_transforms import PRETEXTS, genesis_pair, mae_pair
from transferbench.training.losses import masked_mse

Kind = Literal["genesis", "mae"]
METRIC = "val/restoration"


class Pretext:
    """One pretext task: corrupt a batch, restore it, score the restoration."""

    def __init__(self, kind: Kind) -> None:
        if kind not in PRETEXTS:
            raise ValueError(f"model.pretext must be one of {list(PRETEXTS)}, got {kind!r}")
        self.kind = kind

    def triples(self, image: torch.Tensor, seed: int) -> tuple[torch.Tensor, ...]:
        """(input, target, loss mask) for a batch (B, 1, X, Y, Z) in [0, 1], corrupted per sample."""
        rng = np.random.default_rng(seed)
        pair = genesis_pair if self.kind == "genesis" else mae_pair
        parts = [pair(x, rng) for x in image.detach().cpu().float().numpy()]
        return tuple(torch.from_numpy(np.stack(p)).to(image) for p in zip(*parts))

    def restore(self, net: nn.Module, x: torch.Tensor) -> torch.Tensor:
        out = net(x)
        out = (out[0] if isinstance(out, (list, tuple)) else out)[:, :1]
        return torch.sigmoid(out) if self.kind == "genesis" else out

    def loss(self, net: nn.Module, image: torch.Tensor, seed: int) -> torch.Tensor:
        x, target, mask = self.triples(image, seed)
        return masked_mse(self.restore(net, x), target, mask)

    @torch.no_grad()
    def score(self, net: nn.Module, volume: torch.Tensor, roi: tuple[int, ...], seed: int) -> float:
        """Restoration score of the centre ``roi`` patch of a validation volume (1, 1, X, Y, Z)."""
        patch = centre_patch(volume, roi)
        x, target, mask = self.triples(patch, seed)
        mse = float(masked_mse(self.restore(net, x), target, mask))
        weight = mask.expand_as(target)
        mean = float((target * weight).sum() / weight.sum().clamp_min(1.0))
        var = float(((target - mean) ** 2 * weight).sum() / weight.sum().clamp_min(1.0))
        return 1.0 - mse / max(var, 1e-8)


def centre_patch(volume: torch.Tensor, roi: tuple[int, ...]) -> torch.Tensor:
    """The centre ``roi`` of (B, C, *spatial), zero-padded where the volume is smaller."""
    pad = []
    for size, want in zip(reversed(volume.shape[2:]), reversed(roi)):
        short = max(0, want - size)
        pad += [short // 2, short - short // 2]
    volume = F.pad(volume, pad)
    starts = [(s - r) // 2 for s, r in zip(volume.shape[2:], roi)]
    index = tuple(slice(a, a + r) for a, r in zip(starts, roi))
    return volume[(slice(None), slice(None), *index)]


def restoration_checkpoint(current: ModelCheckpoint | None) -> ModelCheckpoint:
    """The run's checkpoint callback, tracking ``val/restoration`` instead of a Dice it does not compute
    (same folder, file names and ``last.ckpt``)."""
    if current is None:
        return ModelCheckpoint(monitor=METRIC, mode="max", save_last=True)
    return ModelCheckpoint(
        dirpath=current.dirpath,
        filename=current.filename,
        monitor=METRIC,
        mode="max",
        save_last=current.save_last,
        save_top_k=current.save_top_k,
    )
