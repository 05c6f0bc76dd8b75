"""nCoVSegNet's training data as the authors feed it: sizes per scale, slices across volumes, soft masks."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import SequentialSampler

from transferbench.data.slices import RepeatedBatchSampler, SliceDataset, multiscale_sizes
from transferbench.errors import DataError


@pytest.mark.parametrize(
    ("size", "expected"),
    [((64, 64), [(32, 32), (64, 64), (96, 96)]), ((352, 352), [(256, 256), (352, 352), (448, 448)])],
)
def test_multiscale_sizes_distinct_and_divisible(size, expected):
    sizes = multiscale_sizes(size, (0.75, 1.0, 1.25))
    assert sizes == expected  # 352: the authors' 256 / 352 / 448
    assert len(set(sizes)) == 3 and all(s % 32 == 0 for shape in sizes for s in shape)


def test_multiscale_sizes_refuse_a_size_off_the_grid():
    with pytest.raises(DataError, match="multiples of 32"):
        multiscale_sizes((100, 96), (1.0,))


def _volumes() -> list[dict]:
    """Two volumes of 3 and 5 slices, each of its own constant intensity; lesion on slices 1 and 4 of b."""
    a = {"image": torch.full((1, 8, 8, 3), 0.25), "label": torch.zeros(1, 8, 8, 3)}
    b = {"image": torch.full((1, 8, 8, 5), 0.75), "label": torch.zeros(1, 8, 8, 5)}
    b["label"][0, 2:6, 2:6, 1] = 1
    b["label"][0, 3:5, 3:5, 4] = 1
    return [a, b]


def test_every_slice_of_every_volume_and_its_weights():
    ds = SliceDataset(_volumes(), (16, 16), [(16, 16)])
    assert len(ds) == 8 and sum(ds.has_lesion) == 2
    assert ds.weights(None) == pytest.approx([1 / 8] * 8)  # the authors' uniform shuffle over all slices
    w = ds.weights(0.5)
    assert sum(x for x, h in zip(w, ds.has_lesion) if h) == pytest.approx(0.5)
    per_volume = ds.weights(None, volume_weights=[0.5, 0.5])
    assert sum(per_volume[:3]) == pytest.approx(0.5) and sum(per_volume[3:]) == pytest.approx(0.5)


def test_masks_are_resized_bilinearly_and_each_batch_comes_once_per_scale():
    sizes = [(8, 8), (16, 16), (24, 24)]
    ds = SliceDataset(_volumes(), (16, 16), sizes)
    batches = list(RepeatedBatchSampler(SequentialSampler(range(len(ds))), 2, 3))
    assert len(batches) == 12 and batches[:3] == [[(0, s), (1, s)] for s in range(3)]
    lesion = ds[(4, 1)]["label"]  # volume b, slice 1, base size
    assert lesion.shape == (1, 16, 16)
    soft = lesion[(lesion > 0) & (lesion < 1)]
    assert soft.numel() > 0  # bilinear: soft border, as the authors' resized masks
    assert [tuple(ds[(4, s)]["image"].shape[-2:]) for s in range(3)] == sizes


def test_slice_batches_mix_volumes(synthetic_root):
    """A 2D batch is drawn over the slices of all training volumes, not from one volume."""
    from transferbench.data.datamodule import CTSegDataModule

    dm = CTSegDataModule(
        root=str(synthetic_root), target_spacing=(6.0, 6.0, 9.0), patch_size=(64, 64), batch_size=8,
        pos_fraction=None, scales=(0.75, 1.0, 1.25), iterations_per_epoch=6,
    )  # fmt: skip
    dm.setup("fit")
    loader = dm.train_dataloader()
    ds = loader.dataset
    batches = list(loader.batch_sampler)
    assert len(batches) == 6 and len(loader) == 6  # 2 batches x 3 scales = 6 optimiser steps
    volumes = {ds.index[i][0] for i, _ in batches[0]}
    assert len(volumes) > 1
    shapes = [tuple(b["image"].shape) for b in loader][:3]
    assert shapes == [(8, 1, 32, 32), (8, 1, 64, 64), (8, 1, 96, 96)]


def test_iterations_must_be_a_multiple_of_the_scales(synthetic_root):
    from transferbench.data.datamodule import CTSegDataModule

    with pytest.raises(DataError, match="multiple of the 3 data.scales"):
        CTSegDataModule(
            root=str(synthetic_root), patch_size=(64, 64), scales=(0.75, 1.0, 1.25), iterations_per_epoch=10
        )
