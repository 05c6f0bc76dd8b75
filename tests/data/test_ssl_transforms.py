"""The self-supervised pretext tasks on hand-made patches: what is changed, what is reconstructed, the loss."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from transferbench.data import ssl_transforms as ssl
from transferbench.training.losses import masked_mse


def ramp(shape=(1, 20, 20, 10)) -> np.ndarray:
    return (np.arange(np.prod(shape), dtype=np.float32).reshape(shape) / np.prod(shape)).astype(np.float32)


def test_nonlinear_transformation_maps_the_unit_interval_onto_itself():
    x = ramp()
    for seed in range(20):
        y = ssl.nonlinear_transformation(x, np.random.default_rng(seed))
        assert y.shape == x.shape and y.min() >= 0.0 and y.max() <= 1.0
        order = np.argsort(x.ravel())
        if np.all(np.diff(y.ravel()[order]) >= -1e-6):  # a monotonic draw keeps the order of intensities
            assert y.ravel()[order][0] <= y.ravel()[order][-1]
    assert not np.allclose(ssl.nonlinear_transformation(x, np.random.default_rng(0)), x)


def test_local_shuffling_only_permutes_voxels_within_small_blocks():
    x = ramp()
    y = ssl.local_pixel_shuffling(x, np.random.default_rng(0))
    assert not np.array_equal(x, y)
    assert np.isin(y, x).all()  # values of the image, read from the original (overlapping blocks may repeat)
    # blocks are at most 1/10 of a side (2 x 2 x 1 voxels here): a value moves by at most one voxel per axis
    one_step = 200 / 4000 + 10 / 4000 + 1 / 4000
    assert np.abs(y - x).max() <= one_step + 1e-6


def test_in_painting_replaces_boxes_and_out_painting_keeps_boxes():
    x = np.full((1, 21, 21, 14), 0.5, dtype=np.float32)
    inside = ssl.in_painting(x, np.random.default_rng(1))
    changed = inside != 0.5
    assert 0 < changed.mean() < 0.5  # a few boxes of 1/6-1/3 of each side
    outside = ssl.out_painting(x, np.random.default_rng(1))
    kept = outside == 0.5
    assert 0.05 < kept.mean() < 0.9  # the image survives inside the kept boxes only


def test_genesis_pair_target_is_the_flipped_image_and_the_loss_is_everywhere():
    x = ramp()
    for seed in range(10):
        inp, target, mask = ssl.genesis_pair(x, np.random.default_rng(seed))
        assert inp.shape == target.shape == mask.shape == x.shape and mask.min() == 1.0
        flips = [target[0], x[0]]
        assert np.allclose(np.sort(target.ravel()), np.sort(x.ravel()))  # a flip: the same voxels
        assert flips[0].shape == flips[1].shape


def test_block_mask_masks_the_ratio_in_whole_blocks():
    mask = ssl.block_mask((32, 32, 16), 0.75, np.random.default_rng(0), blocks_per_side=4)
    assert mask.shape == (1, 32, 32, 16) and set(np.unique(mask)) == {0.0, 1.0}
    assert mask.mean() == pytest.approx(0.25)  # 48 of 64 blocks masked
    blocks = mask[0].reshape(4, 8, 4, 8, 4, 4)
    assert np.all(blocks.min(axis=(1, 3, 5)) == blocks.max(axis=(1, 3, 5)))  # constant per block


def test_mae_pair_zeroes_the_masked_blocks_and_scores_only_them():
    x = ramp((1, 32, 32, 16)) + 0.1
    inp, target, loss_mask = ssl.mae_pair(x, np.random.default_rng(3))
    assert np.array_equal(target, x)
    assert np.all(inp[loss_mask == 1] == 0) and np.array_equal(inp[loss_mask == 0], x[loss_mask == 0])
    t = torch.from_numpy
    assert masked_mse(t(target), t(target), t(loss_mask)).item() == 0.0  # perfect reconstruction
    visible_wrong = t(np.where(loss_mask == 0, 0.0, target).astype(np.float32))
    assert masked_mse(visible_wrong, t(target), t(loss_mask)).item() == 0.0  # visible voxels do not count
    masked_wrong = t(np.where(loss_mask == 1, target + 0.5, target).astype(np.float32))
    assert masked_mse(masked_wrong, t(target), t(loss_mask)).item() == pytest.approx(0.25)
