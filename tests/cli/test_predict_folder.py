"""`transferbench predict -i -o --run`: one mask per input volume, on the input's own grid."""

from __future__ import annotations

import shutil

import nibabel as nib
import numpy as np

from transferbench.cli.main import main


def test_predict_a_folder_on_each_inputs_grid(synthetic_root, trained_run, tmp_path, capsys):
    src = sorted((synthetic_root / "COVID-19-CT-Seg/COVID-19-CT-Seg_20cases").glob("*.nii.gz"))[:2]
    inputs = tmp_path / "in"
    inputs.mkdir()
    shutil.copy(src[0], inputs / src[0].name.replace(".nii.gz", "_0000.nii.gz"))  # nnU-Net naming
    shutil.copy(src[1], inputs / src[1].name)
    out = tmp_path / "out"
    assert (
        main(["predict", "-i", str(inputs), "-o", str(out), "--run", str(trained_run), "--device", "cpu"])
        == 0
    )
    err = capsys.readouterr().err
    assert "[1/2]" in err and "[2/2]" in err
    for s in src:
        mask, image = nib.load(out / s.name), nib.load(s)
        assert mask.shape == image.shape and np.allclose(mask.affine, image.affine, atol=1e-5)
        assert set(np.unique(np.asarray(mask.dataobj))) <= {0, 1}
    # a rerun skips what is done
    assert (
        main(["predict", "-i", str(inputs), "-o", str(out), "--run", str(trained_run), "--device", "cpu"])
        == 0
    )
    assert capsys.readouterr().err.count("already there") == 2


def test_unreadable_inputs_are_named_before_any_compute(trained_run, tmp_path, capsys):
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "broken.nii.gz").write_bytes(b"not a nifti")
    out = tmp_path / "out"
    assert main(["predict", "-i", str(inputs), "-o", str(out), "--run", str(trained_run)]) == 1
    err = capsys.readouterr().err
    assert "broken.nii.gz: unreadable NIfTI" in err and not out.exists()
    assert main(["predict", "-i", str(inputs), "-o", str(out), "--run", str(tmp_path)]) == 1
    assert "not a finished run folder" in capsys.readouterr().err
