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
    assert miss["hd95_mm"] == pytest.approx(math.sqrt(3) * 40)  # worst case: image diagonal
    false_pos = case_metrics(cube(), empty, (1, 1, 1))
    assert false_pos["dsc"] == 0.0 and false_pos["nsd"] == 0.0
    both = case_metrics(empty, empty, (1, 1, 1))
    assert math.isnan(both["dsc"]) and math.isnan(both["nsd"]) and math.isnan(both["hd95_mm"])


def test_shape_mismatch_rejected():
    with pytest.raises(ValueError, match="shape"):
        case_metrics(np.zeros((4, 4, 4)), np.zeros((4, 4, 5)), (1, 1, 1))
