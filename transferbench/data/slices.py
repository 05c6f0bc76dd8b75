"""2D training data as nCoVSegNet's authors feed it: axial slices shuffled over all training volumes,
resized (bilinear, image and mask alike), each batch trained at every scale in turn.

The authors' ``train.py`` (Jiannan-Liu/nCoVSegNet) draws batches of 4 slices from a shuffled loader over every
training slice, resizes image and mask to 352 x 352 bilinearly (so the mask becomes soft at its border), adds
no augmentation, and for each batch takes three optimiser steps: at 0.75, 1 and 1.25 of the size, rounded
to a multiple of 32 (256 / 352 / 448), image and mask resized bilinearly with ``align_corners=True``. Here the
same batch is yielded once per scale (``RepeatedBatchSampler``), so every Lightning step is one optimiser
step and step counts, ``max_steps`` and gradient clipping keep their meaning.

Deviations, named: slices are drawn with replacement for a fixed number of steps per epoch (the authors pass
over every slice once per epoch); ``lesion_fraction`` (when set) puts that share of the draws on slices
holding lesion (the authors' loader is uniform: ``None``); our slices come from the resampled volume, theirs
from PNG exports of the original slices.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
import torch.nn.functional as F
from monai.data import DataLoader
from torch.utils.data import Dataset, Sampler

from transferbench.data.sampling import EpochSampler
from transferbench.errors import DataError


def multiscale_sizes(
    size: Sequence[int], scales: Sequence[float], divisor: int = 32
) -> list[tuple[int, ...]]:
    """Training sizes per scale, as the authors round them (``round(size * rate / 32) * 32``), kept distinct:
    a scale below 1 that rounds back to ``size`` takes one ``divisor`` less, one above 1 one more (at 64 px
    the authors' rounding gives 64 for all three; here 32 / 64 / 96)."""
    if any(s % divisor for s in size):
        raise DataError(f"data.patch_size {tuple(size)}: 2D slice sizes must be multiples of {divisor}")
    out = []
    for rate in scales:
        shape = []
        for s in size:
            t = int(round(s * rate / divisor)) * divisor
            if rate < 1 and t >= s:
                t = s - divisor
            elif rate > 1 and t <= s:
                t = s + divisor
            shape.append(max(divisor, t))
        out.append(tuple(shape))
    if len(set(out)) != len(out):
        raise DataError(f"data.scales {list(scales)} give repeated sizes {out} at {tuple(size)}")
    return out


def resize_slice(x: torch.Tensor, size: Sequence[int], align_corners: bool = False) -> torch.Tensor:
    """A (C, X, Y) slice resized bilinearly (the authors resize masks bilinearly too: soft borders)."""
    return F.interpolate(x[None].float(), size=tuple(size), mode="bilinear", align_corners=align_corners)[0]


class SliceDataset(Dataset):
    """Every axial slice of preprocessed (1, X, Y, Z) volumes; an index is ``(slice, scale)``.

    Args:
        volumes: preprocessed items with ``image`` and ``label`` (held by reference, not copied).
        size: the base slice size (x, y).
        sizes: the size for each scale index (``multiscale_sizes``); the base size resized again to it with
            ``align_corners=True``, as the authors' ``F.upsample``.
    """

    def __init__(self, volumes: list[dict], size: Sequence[int], sizes: Sequence[Sequence[int]]) -> None:
        self.volumes = volumes
        self.size = tuple(size)
        self.sizes = [tuple(s) for s in sizes]
        self.index = [(v, z) for v, item in enumerate(volumes) for z in range(item["image"].shape[-1])]
        self.has_lesion = [bool((volumes[v]["label"][..., z] > 0).any()) for v, z in self.index]

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, key: tuple[int, int]) -> dict:
        i, scale = key
        v, z = self.index[i]
        item = self.volumes[v]
        out = {}
        for k in ("image", "label"):
            sl = resize_slice(torch.as_tensor(item[k])[..., z], self.size)
            if self.sizes[scale] != self.size:
                sl = resize_slice(sl, self.sizes[scale], align_corners=True)
            out[k] = sl
        return out

    def weights(
        self, lesion_fraction: float | None, volume_weights: Sequence[float] | None = None
    ) -> list[float]:
        """Draw probability per slice: uniform over all slices (the authors' shuffle), ``volume_weights``
        spread over each volume's slices, and ``lesion_fraction`` of the mass on slices holding lesion."""
        n = len(self.index)
        if volume_weights is None:
            w = [1.0 / n] * n
        else:
            per_volume = [0] * len(self.volumes)
            for v, _ in self.index:
                per_volume[v] += 1
            w = [volume_weights[v] / per_volume[v] for v, _ in self.index]
        if lesion_fraction is None:
            return w
        mass = sum(x for x, h in zip(w, self.has_lesion) if h)
        if mass in (0.0, sum(w)):
            return w
        rest = sum(w) - mass
        return [
            x * (lesion_fraction / mass if h else (1 - lesion_fraction) / rest)
            for x, h in zip(w, self.has_lesion)
        ]


class RepeatedBatchSampler(Sampler):
    """Batches of ``batch_size`` slice indices from ``sampler``, each yielded once per scale, in order."""

    def __init__(self, sampler: Sampler, batch_size: int, n_scales: int) -> None:
        self.sampler, self.batch_size, self.n_scales = sampler, batch_size, n_scales

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        batch: list[int] = []
        for i in self.sampler:
            batch.append(int(i))
            if len(batch) == self.batch_size:
                for scale in range(self.n_scales):
                    yield [(j, scale) for j in batch]
                batch = []

    def __len__(self) -> int:
        return len(self.sampler) // self.batch_size * self.n_scales


def slice_dataloader(
    ds: SliceDataset,
    batch_size: int,
    n_batches: int,
    n_scales: int,
    lesion_fraction: float | None,
    volume_weights: Sequence[float] | None = None,
    num_workers: int = 0,
) -> DataLoader:
    """``n_batches`` batches of slices drawn over all of ``ds`` (with replacement), each once per scale.
    Draws seeded by (run seed, epoch) as for 3D patches (:class:`EpochSampler`), so a resume is exact."""
    weights = ds.weights(lesion_fraction, volume_weights)
    sampler = EpochSampler(ds, n_batches * batch_size, torch.initial_seed(), weights)  # seeded per epoch
    return DataLoader(
        ds,
        batch_sampler=RepeatedBatchSampler(sampler, batch_size, n_scales),
        num_workers=num_workers,
        persistent_workers=num_workers > 0,
    )
