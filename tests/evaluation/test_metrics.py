"""Per-case metrics against cases with known answers."""

import math

import numpy as np
import pytest

from transferbench.evaluation.metrics import case_metrics


def cube(shape=(40, 40, 40), lo=(10, 10, 10), size=20):
    m = np.zeros(shape, bool)
    m[lo[0] : lo[0] + size, lo[1] : lo[1] + size, lo[2] : lo[2] + size] = True
    return m


def test_identical_masks():
    r = case_metrics(cube(), cube(), (1, 1, 1))
    assert r["dsc"] == 1.0 and r["nsd"] == pytest.approx(1.0) and r["hd95_mm"] == 0.0


def test_shift_known_distances_isotropic():
    gt, pred = cube(), cube(lo=(12, 10, 10))  # shifted by 2 voxels = 2 mm along x
    r = case_metrics(pred, gt, (1, 1, 1), tolerance_mm=3.0)
    assert r["dsc"] == pytest.approx(0.9)  # overlap 18/20
    assert r["hd95_mm"] == pytest.approx(2.0)
    assert r["nsd"] == pytest.approx(1.0)  # every surface point within 3 mm
    tight = case_metrics(pred, gt, (1, 1, 1), tolerance_mm=1.0)
    assert 0.0 < tight["nsd"] < 0.9  # the two x faces (1/3 of the surface) are 2 mm apart


def test_anisotropic_spacing_scales_distances():
    gt, pred = cube(), cube(lo=(12, 10, 10))
    r = case_metrics(pred, gt, (2.0, 1.0, 1.0), tolerance_mm=3.0)
    assert r["hd95_mm"] == pytest.approx(4.0)  # 2 voxels of 2 mm
    assert r["nsd"] < 1.0  # 4 mm is beyond the 3 mm tolerance
    assert case_metrics(pred, gt, (2.0, 1.0, 1.0), tolerance_mm=5.0)["nsd"] == pytest.approx(1.0)
    shifted_z = case_metrics(cube(lo=(10, 10, 12)), gt, (2.0, 1.0, 1.0), tolerance_mm=3.0)
    assert shifted_z["hd95_mm"] == pytest.approx(2.0) and shifted_z["nsd"] == pytest.approx(1.0)


def test_volumes_in_ml():
    r = case_metrics(cube(), cube(size=10), (2.0, 2.0, 2.5))
    assert r["gt_ml"] == pytest.approx(1000 * 10 / 1000)
    assert r["pred_ml"] == pytest.approx(8000 * 10 / 1000)


def test_empty_prediction_and_empty_reference():
    empty = np.zeros((40, 40, 40), bool)
    miss = case_metrics(empty, cube(), (1, 1, 1))
    assert miss["dsc"] == 0.0 and miss["nsd"] == 0.0
    assert math.isnan(
        miss["hd95_mm"]
    )  # no distance exists; not the image extent (left out of means, counted)
    false_pos = case_metrics(cube(), empty, (1, 1, 1))
    assert false_pos["dsc"] == 0.0 and false_pos["nsd"] == 0.0 and math.isnan(false_pos["hd95_mm"])
    both = case_metrics(empty, empty, (1, 1, 1))
    assert math.isnan(both["dsc"]) and math.isnan(both["nsd"]) and math.isnan(both["hd95_mm"])


def test_shape_mismatch_rejected():
    with pytest.raises(ValueError, match="shape"):
        case_metrics(np.zeros((4, 4, 4)), np.zeros((4, 4, 5)), (1, 1, 1))


def test_hd95_is_deepminds_area_weighted_percentile():
    """DeepMind's compute_robust_hausdorff weights each surface element (surfel) by its area: a far blob
    counts by its share of the surface area, not by how many voxels it has."""
    big = cube((30, 30, 10), (2, 2, 2), 6)  # 6 x 6 x 6 voxels of 1 x 1 x 2 mm
    one = np.zeros_like(big)
    one[25, 25, 4] = True  # 3 of the prediction's 329 mm^2 of surfels (0.9 % < 5 %): ignored
    r = case_metrics(big | one, big, (1.0, 1.0, 2.0))
    assert r["hd95_mm"] == 0.0 and r["nsd"] < 1.0
    cube8 = np.zeros_like(big)
    cube8[25:27, 25:27, 4:6] = True  # 27.6 of 353.6 mm^2 (7.8 % > 5 %): the percentile falls in the blob
    assert case_metrics(big | cube8, big, (1.0, 1.0, 2.0))["hd95_mm"] > 20.0


def test_hd95_and_nsd_equal_deepminds_values_on_a_random_pair():
    """Values from DeepMind's surface-distance 0.1 (compute_robust_hausdorff 95, surface dice at 3 mm) on
    this pair, written in by hand; MONAI's voxel-distance percentile gives 6.384 mm here."""
    from scipy import ndimage

    rng = np.random.default_rng(7)
    shape, spacing = (24, 24, 12), (0.8, 0.8, 2.5)
    gt = ndimage.gaussian_filter(rng.random(shape), 2) > 0.53
    pred = ndimage.gaussian_filter(rng.random(shape), 2) > 0.53
    pred |= gt & (rng.random(shape) > 0.3)
    assert (gt.sum(), pred.sum()) == (367, 647)
    r = case_metrics(pred, gt, spacing, tolerance_mm=3.0)
    assert r["hd95_mm"] == pytest.approx(5.470831746635973, abs=1e-5)
    assert r["nsd"] == pytest.approx(0.8613934901462058, abs=1e-6)
