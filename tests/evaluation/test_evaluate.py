"""`transferbench evaluate`: outside predictions scored with the benchmark's per-case code."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import write_nifti

from transferbench.cli.main import main


def test_evaluate_folder(tmp_path, capsys):
    ref = np.zeros((20, 20, 10), np.uint8)
    ref[5:15, 5:15, 2:8] = 1
    half = ref.copy()
    half[10:15] = 0
    for case, pred in {"case_a": ref, "case_b": half}.items():
        write_nifti(tmp_path / "ref" / f"{case}.nii.gz", ref, spacing=(0.8, 0.8, 2.5))
        write_nifti(tmp_path / "pred" / f"{case}.nii", pred, spacing=(0.8, 0.8, 2.5))
    out = tmp_path / "scores.csv"
    assert (
        main(
            ["evaluate", "--pred", str(tmp_path / "pred"), "--ref", str(tmp_path / "ref"), "--out", str(out)]
        )
        == 0
    )
    df = pd.read_csv(out).set_index("case")
    assert df.loc["case_a", "dsc"] == 1.0 and df.loc["case_a", "nsd_3mm"] == 1.0
    assert df.loc["case_b", "dsc"] == 2 * 300 / (600 + 300)
    assert df.loc["case_b", "gt_ml"] == pytest.approx(600 * 0.8 * 0.8 * 2.5 / 1000)


def test_evaluate_missing_prediction(tmp_path, capsys):
    ref = np.zeros((8, 8, 8), np.uint8)
    write_nifti(tmp_path / "ref" / "a.nii.gz", ref)
    write_nifti(tmp_path / "ref" / "b.nii.gz", ref)
    write_nifti(tmp_path / "pred" / "a.nii.gz", ref)
    assert main(["evaluate", "--pred", str(tmp_path / "pred"), "--ref", str(tmp_path / "ref")]) == 1
    assert "no prediction for 1 reference case(s): b" in capsys.readouterr().err


def _pair(tmp_path, case, ref, pred, affine=None, pred_affine=None):
    write_nifti(tmp_path / "ref" / f"{case}.nii.gz", ref, affine=affine)
    write_nifti(
        tmp_path / "pred" / f"{case}.nii.gz", pred, affine=pred_affine if pred_affine is not None else affine
    )


def _cube():
    ref = np.zeros((12, 10, 8), np.uint8)
    ref[1:5, 2:7, 2:6] = 1  # off-centre in x, so a flipped x axis moves it
    return ref


def test_a_flipped_prediction_is_reoriented_and_another_grid_refused(tmp_path, capsys):
    ref = _cube()
    affine = np.diag([1.0, 1.0, 2.0, 1.0])
    flipped = affine.copy()
    flipped[0, 0], flipped[0, 3] = -1.0, 11.0  # the same world grid stored with x reversed
    _pair(tmp_path, "same_world", ref, ref[::-1].copy(), affine, flipped)
    shifted = affine.copy()
    shifted[0, 3] = 5.0  # another grid
    _pair(tmp_path, "other_grid", ref, ref, affine, shifted)
    _pair(tmp_path, "good", ref, ref, affine)
    out = tmp_path / "scores.csv"
    code = main(
        ["evaluate", "--pred", str(tmp_path / "pred"), "--ref", str(tmp_path / "ref"), "--out", str(out)]
    )
    err = capsys.readouterr().err
    df = pd.read_csv(out).set_index("case")
    assert df.loc["same_world", "dsc"] == 1.0 and df.loc["good", "dsc"] == 1.0  # every good case scored
    assert code == 1 and "other_grid.nii.gz: grid" in err and "other_grid" not in df.index


def test_empty_pairs_keep_their_row_and_unknown_labels_are_refused(tmp_path, capsys):
    ref, empty = _cube(), np.zeros((12, 10, 8), np.uint8)
    _pair(tmp_path, "both_empty", empty, empty)
    _pair(tmp_path, "mask255", ref, ref * 255)
    _pair(tmp_path, "ok", ref, ref)
    write_nifti(tmp_path / "pred" / "stray.nii.gz", ref)  # a prediction without a reference
    write_nifti(tmp_path / "pred" / "ok.nii", ref)  # a duplicate beside ok.nii.gz
    out = tmp_path / "scores.csv"
    args = ["evaluate", "--pred", str(tmp_path / "pred"), "--ref", str(tmp_path / "ref"), "--out", str(out)]
    assert main(args) == 1
    err = capsys.readouterr().err
    df = pd.read_csv(out).set_index("case")
    assert np.isnan(df.loc["both_empty", "dsc"]) and df.loc["ok", "dsc"] == 1.0 and set(df["class"]) == {1}
    assert "mask255.nii.gz: label values [255]" in err and "--label-map 255:1" in err
    assert "without a reference, not scored: stray" in err and "ok has both .nii and .nii.gz" in err
    (tmp_path / "pred" / "stray.nii.gz").unlink()
    (tmp_path / "pred" / "ok.nii").unlink()
    assert main([*args, "--label-map", "255:1"]) == 0
    assert pd.read_csv(out).set_index("case").loc["mask255", "dsc"] == 1.0


def test_probability_maps_need_a_threshold(tmp_path, capsys):
    ref = _cube()
    _pair(tmp_path, "p", ref, ref.astype(np.float32) * 0.9)
    args = ["evaluate", "--pred", str(tmp_path / "pred"), "--ref", str(tmp_path / "ref")]
    assert main(args) == 1 and "--threshold" in capsys.readouterr().err
    assert main([*args, "--threshold", "0.5"]) == 0
