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
    assert main(["evaluate", "--pred", str(tmp_path / "pred"), "--ref", str(tmp_path / "ref")]) == 2
    assert "no prediction for 1 reference case(s): b" in capsys.readouterr().err
