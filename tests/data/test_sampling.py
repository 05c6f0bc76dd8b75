"""Training draws depend on (seed, epoch) only, so a resumed run draws what the uninterrupted one drew."""

from __future__ import annotations

import numpy as np
from monai.transforms import Compose, RandSpatialCropd

from transferbench.data.sampling import EpochSampler, epoch_seed


class Crops:
    """A dataset whose items are random crops, like the patch pipeline."""

    def __init__(self) -> None:
        self.transform = Compose([RandSpatialCropd("x", (2, 2), random_size=False)])

    def __len__(self) -> int:
        return 7

    def __getitem__(self, i: int) -> np.ndarray:
        return self.transform({"x": np.arange(64.0).reshape(1, 8, 8) + i})["x"]


def draws(sampler: EpochSampler, epoch: int) -> tuple[list[int], list[np.ndarray]]:
    sampler.set_epoch(epoch)
    idx = list(sampler)
    return idx, [np.asarray(sampler.dataset[i]) for i in idx]


def test_same_seed_and_epoch_same_draws_and_augmentation_however_reached():
    uninterrupted = EpochSampler(Crops(), 12, seed=3)
    history = [draws(uninterrupted, e) for e in range(3)]
    resumed = EpochSampler(Crops(), 12, seed=3)  # a fresh process resuming at epoch 2
    idx, crops = draws(resumed, 2)
    assert idx == history[2][0]
    assert all(np.array_equal(a, b) for a, b in zip(crops, history[2][1]))
    assert history[0][0] != history[1][0]  # epochs differ
    assert draws(EpochSampler(Crops(), 12, seed=4), 2)[0] != idx  # seeds differ


def test_weighted_draws_follow_the_weights():
    sampler = EpochSampler(Crops(), 20000, seed=0, weights=[0.7, 0.3, 0, 0, 0, 0, 0])
    counts = np.bincount(list(sampler), minlength=7)
    assert counts[2:].sum() == 0 and abs(counts[0] / 20000 - 0.7) < 0.02


def test_epoch_seeds_do_not_shift_with_the_seed():
    assert epoch_seed(0, 1) != epoch_seed(1, 0)
    assert len({epoch_seed(s, e) for s in range(20) for e in range(20)}) == 400
