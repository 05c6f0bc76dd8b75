"""Training draws seeded per epoch, so a resumed run trains on what the uninterrupted run trained on.

A checkpoint restores weights, optimiser and schedule but not torch's global generator nor the random state
of the augmentation transforms; a sampler that drew from them would give a resumed run other patches from
its first resumed epoch on. :class:`EpochSampler` derives both from ``(seed, epoch)`` alone: Lightning calls
``set_epoch`` before every epoch (also the first one after a resume), and the draws and the transforms'
states are set when the epoch's iteration begins. Exact with ``num_workers=0`` (the sweeps' setting);
worker processes seed their own copies of the transforms.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
from monai.data.utils import set_rnd
from torch.utils.data import Dataset, Sampler


def epoch_seed(seed: int, epoch: int) -> int:
    """A 32-bit seed for ``epoch`` of a run seeded ``seed`` (SeedSequence mixing, so seeds s and s + 1 do
    not share epochs shifted by one)."""
    return int(np.random.SeedSequence([seed & 0xFFFFFFFF, epoch]).generate_state(1)[0])


class EpochSampler(Sampler[int]):
    """``num_samples`` indices of ``dataset`` with replacement (uniform, or by ``weights``), the same for a
    given ``(seed, epoch)`` however the run got there; reseeds the dataset's random transforms alike."""

    def __init__(
        self,
        dataset: Dataset,
        num_samples: int,
        seed: int,
        weights: Sequence[float] | None = None,
    ) -> None:
        self.dataset, self.num_samples, self.seed = dataset, int(num_samples), int(seed)
        self.weights = None if weights is None else torch.as_tensor(weights, dtype=torch.double)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.num_samples

    def __iter__(self) -> Iterator[int]:
        gen = torch.Generator().manual_seed(epoch_seed(self.seed, self.epoch))
        if self.weights is not None:
            draws = torch.multinomial(self.weights, self.num_samples, replacement=True, generator=gen)
        else:
            draws = torch.randint(len(self.dataset), (self.num_samples,), generator=gen)
        set_rnd(self.dataset, int(torch.randint(2**31 - 1, (1,), generator=gen)))
        yield from draws.tolist()
