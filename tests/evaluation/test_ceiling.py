"""The ground-truth ceiling of a geometry: what a perfect network could score through it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.conftest import write_nifti
from transferbench.config import read_yaml
from transferbench.configs import find_config
from transferbench.evaluation.ceiling import config_ceiling, geometry_ceiling, through_slices


def test_a_stride_one_head_at_the_native_grid_keeps_the_mask(tmp_path):
    rng = np.random.default_rng(0)
    image = rng.integers(-1000, 100, (32, 32, 8)).astype(np.int16)
    label = np.zeros((32, 32, 8), np.uint8)
    label[6:20, 9:25, 2:6] = 1
    img = write_nifti(tmp_path / "i.nii.gz", image, spacing=(2.0, 2.0, 3.0))
    lab = write_nifti(tmp_path / "l.nii.gz", label, spacing=(2.0, 2.0, 3.0))
    assert geometry_ceiling(img, lab, (2.0, 2.0, 3.0)) == pytest.approx(1.0)
    assert geometry_ceiling(img, lab, (2.0, 2.0, 3.0), (32, 32), 1) == pytest.approx(1.0)
    coarse = geometry_ceiling(img, lab, (2.0, 2.0, 3.0), (32, 32), 8)
    assert coarse < 0.999  # an 8-voxel head blurs the corners away


def test_through_slices_averages_over_head_cells():
    vol = torch.zeros(1, 8, 8, 1)
    vol[0, :4, :4, 0] = 1
    out = through_slices(vol, (8, 8), 8)  # one head cell: the slice mean everywhere
    assert torch.allclose(out, torch.full_like(out, 0.25), atol=1e-6)


def test_cpu_ncovsegnet_geometry_can_represent_the_masks(synthetic_root):
    """Issue 16: the CPU nCoVSegNet preset's geometry (median spacing, 192 x 160 slices, stride-4 head) keeps
    DSC >= 0.9 for the ground truth itself on the synthetic target's test cases (64 x 64 gave 0.61)."""
    cfg = read_yaml(find_config("synthetic_ncovsegnet"))
    cfg["data"]["root"] = str(synthetic_root)
    df = config_ceiling(cfg)
    assert len(df) == 16 and set(df["head_stride"]) == {4}
    assert df["dsc_ceiling"].mean() >= 0.9
    old = {**cfg, "data": {**cfg["data"], "patch_size": [64, 64], "target_spacing": [4.0, 4.0, 6.0]}}
    assert config_ceiling(old)["dsc_ceiling"].mean() < 0.7
