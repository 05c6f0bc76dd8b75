"""The nnU-Net bridge round trip: export -> outside predictions -> evaluate --fold -> leaderboard row."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from scipy import ndimage

from tests.sweep.test_sweep import write_spec
from transferbench.cli.main import main
from transferbench.data.splits import benchmark_splits


def test_export_writes_nnunets_raw_layout_and_the_benchmark_folds(synthetic_root, tmp_path, capsys):
    assert main(["export", "nnunet", "--dataset", "covid19_ct_seg", "--root", str(synthetic_root),
                 "--out", str(tmp_path / "raw")]) == 0  # fmt: skip
    ds = tmp_path / "raw" / "Dataset501_COVID19CTSeg"
    meta = json.loads((ds / "dataset.json").read_text())
    assert meta["channel_names"] == {"0": "CT"} and meta["labels"] == {"background": 0, "infection": 1}
    assert meta["numTraining"] == 20 and meta["file_ending"] == ".nii.gz"
    folds = json.loads((ds / "splits_final.json").read_text())
    shipped = benchmark_splits()["covid19_ct_seg"]["folds_4_train"]
    assert folds == [{"train": f["train"], "val": f["test"]} for f in shipped]
    cases = sorted(c for f in shipped for c in f["train"] + f["test"])
    assert sorted(p.name for p in (ds / "imagesTr").iterdir()) == sorted({f"{c}_0000.nii.gz" for c in cases})
    assert sorted(p.name for p in (ds / "labelsTr").iterdir()) == sorted({f"{c}.nii.gz" for c in cases})
    ref = nib.load(synthetic_root / "COVID-19-CT-Seg/Infection_Mask" / f"{cases[0]}.nii.gz")
    out = nib.load(ds / "labelsTr" / f"{cases[0]}.nii.gz")
    assert np.array_equal(ref.get_fdata(), out.get_fdata()) and np.allclose(ref.affine, out.affine)
    assert not list((tmp_path / "raw").glob("*.partial"))
    # 0..255 storage (the radiopaedia cases) is written back in HU, so nnU-Net's CT normalisation sees one scale
    u8 = next(c for c in cases if c.startswith("radiopaedia"))
    stored = np.asarray(
        nib.load(synthetic_root / "COVID-19-CT-Seg/COVID-19-CT-Seg_20cases" / f"{u8}.nii.gz").dataobj
    )
    written = np.asarray(nib.load(ds / "imagesTr" / f"{u8}_0000.nii.gz").dataobj)
    assert stored.max() <= 255 and written.min() < -500
    assert np.allclose(written, np.round(stored / 255.0 * 1500 - 1250), atol=0.5)
    assert (
        "written back in HU" in meta["description"]
        and "stored 0..255 written back in HU" in capsys.readouterr().out
    )
    assert main(["export", "nnunet", "--root", str(synthetic_root), "--out", str(tmp_path / "raw")]) == 1
    assert "exists; pass --overwrite" in capsys.readouterr().err


def test_outside_results_become_a_leaderboard_row_with_statistics(synthetic_root, tmp_path, capsys):
    path = write_spec(tmp_path, synthetic_root, strategies=["scratch"])
    assert main(["sweep", "--config", str(path)]) == 0
    results = tmp_path / "results" / "tiny"
    # an outside method: the reference masks eroded once (good, not perfect), for every case of the dataset
    assert main(["export", "nnunet", "--root", str(synthetic_root), "--out", str(tmp_path / "raw")]) == 0
    labels = tmp_path / "raw" / "Dataset501_COVID19CTSeg" / "labelsTr"
    preds = tmp_path / "outside"
    preds.mkdir()
    for f in labels.iterdir():
        img = nib.load(f)
        eroded = ndimage.binary_erosion(np.asarray(img.dataobj) > 0).astype(np.uint8)
        nib.save(nib.Nifti1Image(eroded, img.affine), preds / f.name)
    csv = tmp_path / "outside.csv"
    assert (
        main(["evaluate", "--pred", str(preds), "--ref", str(labels), "--fold", "0", "--out", str(csv)]) == 0
    )
    scored = pd.read_csv(csv)
    test = benchmark_splits()["covid19_ct_seg"]["folds_4_train"][0]["test"]
    assert sorted(scored["case"]) == sorted(test) and set(scored["fold"]) == {
        0
    }  # exactly fold 0's test cases
    assert main(["leaderboard", str(results), "--no-figures", "--external", f"nnU-Net (external)={csv}"]) == 0
    board = pd.read_csv(results / "leaderboard.csv").set_index("strategy")
    ext = board.loc["nnU-Net (external)"]
    assert ext.n_cases == 16 and ext.dsc_mean == pytest.approx(scored["dsc"].mean())
    assert (
        np.isfinite(ext.dsc_diff_scratch)
        and 0 < ext.p_scratch <= 1
        and ext.ci_low_scratch < ext.ci_high_scratch
    )
    assert "nnU-Net (external)" in (results / "leaderboard.md").read_text()
    assert "nnU-Net (external)" in set(pd.read_csv(results / "ranks.csv")["row"])
    assert (
        pd.isna(ext.matched_baseline) or ext.matched_baseline == ""
    )  # no steps declared: no matched baseline
    assert pd.isna(ext.dsc_diff_scratch_matched)
    # with its steps declared (the tiny sweep's scratch trains 6) it is also set against the scratch trained as long
    assert main(["leaderboard", str(results), "--no-figures", "--external", f"nnU-Net (external)={csv}",
                 "--external-model", "unet3d", "--external-steps", "6"]) == 0  # fmt: skip
    ext = pd.read_csv(results / "leaderboard.csv").set_index("strategy").loc["nnU-Net (external)"]
    assert ext.matched_baseline == "scratch" and ext.dsc_diff_scratch_matched == pytest.approx(
        ext.dsc_diff_scratch
    )
    # recorded: a plain rebuild keeps the row
    assert main(["leaderboard", str(results), "--no-figures"]) == 0
    assert "nnU-Net (external)" in set(pd.read_csv(results / "leaderboard.csv")["strategy"])
    # a CSV that is not the fold's test set is refused, naming the cases
    scored.iloc[1:].to_csv(tmp_path / "short.csv", index=False)
    capsys.readouterr()
    assert main(["leaderboard", str(results), "--external", f"x={tmp_path / 'short.csv'}"]) == 1
    assert f"missing {scored['case'].iloc[0]}" in capsys.readouterr().err
