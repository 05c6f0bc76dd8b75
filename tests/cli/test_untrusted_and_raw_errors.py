"""Issue 24's raw tracebacks and untrusted inputs, one table: each gets its exit status, one message naming
the file, and nothing written (no mask, no CSV, no run files)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import yaml
from conftest import write_nifti

from transferbench.cli.main import main
from transferbench.data.splits import covid_fold


def _volume(synthetic_root: Path) -> Path:
    return sorted((synthetic_root / "COVID-19-CT-Seg/COVID-19-CT-Seg_20cases").glob("*.nii.gz"))[0]


def _inputs(tmp: Path, synthetic_root: Path, extra) -> Path:
    """An input folder with one good volume (sorted first) and one bad one made by ``extra``."""
    folder = tmp / "in"
    folder.mkdir()
    shutil.copy(_volume(synthetic_root), folder / "a_good.nii.gz")
    extra(folder / "b_bad.nii.gz")
    return folder


def _truncated(path: Path, synthetic_root: Path) -> None:
    data = _volume(synthetic_root).read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _with_nan(path: Path, synthetic_root: Path) -> None:
    img = nib.load(_volume(synthetic_root))
    arr = np.asarray(img.dataobj, dtype=np.float32)
    arr[0, 0, 0] = np.nan
    nib.save(nib.Nifti1Image(arr, img.affine), str(path))


def _one_slice(path: Path, synthetic_root: Path) -> None:
    write_nifti(path, np.zeros((32, 32, 1), np.int16))


PREDICT = [  # (id, how the second input is broken, message fragment)
    ("truncated input", _truncated, "voxel data is truncated or corrupt"),
    ("nan input", _with_nan, "1 voxels are NaN or infinite"),
    ("one-slice input", _one_slice, "shape (32, 32, 1): fewer than 2 voxels along an axis"),
]


@pytest.mark.parametrize("name,how,fragment", PREDICT, ids=[p[0] for p in PREDICT])
def test_predict_checks_every_input_before_writing_any_mask(name, how, fragment, synthetic_root, trained_run,
                                                           tmp_path, capsys):  # fmt: skip
    inputs = _inputs(tmp_path, synthetic_root, lambda p: how(p, synthetic_root))
    (inputs / "notes.txt").write_text("not a volume")
    out = tmp_path / "out"
    assert main(["predict", "-i", str(inputs), "-o", str(out), "--run", str(trained_run)]) == 1
    err = capsys.readouterr().err
    assert f"{inputs / 'b_bad.nii.gz'}: {fragment}" in err and "nothing written" in err
    assert "left aside: notes.txt" in err  # stray files are named, not silently skipped
    assert not out.exists() or not any(out.iterdir())


def test_predict_output_that_is_a_file(synthetic_root, trained_run, tmp_path, capsys):
    inputs = _inputs(tmp_path, synthetic_root, lambda p: shutil.copy(_volume(synthetic_root), p))
    target = tmp_path / "masks.nii.gz"
    target.write_bytes(b"x")
    assert main(["predict", "-i", str(inputs), "-o", str(target), "--run", str(trained_run)]) == 1
    assert f"-o {target}: exists and is not a folder" in capsys.readouterr().err
    assert target.read_bytes() == b"x"


def test_predict_with_a_text_file_as_checkpoint(synthetic_root, trained_run, tmp_path, capsys):
    inputs = _inputs(tmp_path, synthetic_root, lambda p: shutil.copy(_volume(synthetic_root), p))
    text = tmp_path / "weights.ckpt"
    text.write_text("not a checkpoint")
    out = tmp_path / "out"
    code = main(
        ["predict", "-i", str(inputs), "-o", str(out), "--run", str(trained_run), "--checkpoint", str(text)]
    )
    assert code == 1 and f"{text}: not a readable PyTorch checkpoint" in capsys.readouterr().err
    assert not out.exists()


def test_a_hostile_run_folder_is_refused_before_any_import(trained_run, tmp_path, capsys, monkeypatch):
    """A run folder names its network; one that names arbitrary code is refused, and nothing is imported."""
    marker = tmp_path / "pwned"
    module = tmp_path / "evil_net.py"
    module.write_text(f"open({str(marker)!r}, 'w').write('imported')\nclass Net:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    hostile = tmp_path / "hostile"
    shutil.copytree(trained_run, hostile)
    config = yaml.safe_load((hostile / "config.yaml").read_text())
    for class_path, args in (("evil_net.Net", {}), ("subprocess.Popen", {"args": ["touch", str(marker)]})):
        config["model"]["net"] = {"class_path": class_path, "init_args": args}
        (hostile / "config.yaml").write_text(yaml.safe_dump(config))
        out = tmp_path / "out"
        code = main(["predict", "-i", str(tmp_path), "-o", str(out), "--run", str(hostile)])
        assert code == 1 and f"{class_path!r} is not a registered network" in capsys.readouterr().err
        assert not marker.exists() and "evil_net" not in sys.modules and not out.exists()


def _fit(synthetic_root: Path, root: Path, *extra: str) -> int:
    return main([
        "fit", "--config", "synthetic_unet3d", "--data.root", str(synthetic_root), "--data.prepare_synthetic",
        "false", "--model.net.init_args.preset", "tiny", "--data.patch_size", "[32, 32, 16]",
        "--data.target_spacing", "[6, 6, 9]", "--trainer.max_epochs", "1", "--data.iterations_per_epoch", "1",
        "--trainer.logger", "false", "--trainer.enable_progress_bar", "false", "--test_after_fit", "false",
        "--trainer.default_root_dir", str(root), *extra,
    ])  # fmt: skip


def test_fit_checkpoint_and_config_errors_name_the_file(synthetic_root, tmp_path, capsys):
    text = tmp_path / "notes.ckpt"
    text.write_text("not a checkpoint")
    rows = [
        (("--ckpt_path", str(text)), f"{text}: not a readable PyTorch checkpoint"),
        (("--ckpt_path", str(tmp_path / "gone" / "last.ckpt")), "no such file"),
        (("--ckpt_path", "https://example.org/model.ckpt"), "remote checkpoints are not loaded"),
    ]
    for i, (extra, fragment) in enumerate(rows):
        root = tmp_path / f"run{i}"
        assert _fit(synthetic_root, root, *extra) == 1
        assert fragment in capsys.readouterr().err
        assert not (root / "checkpoints").exists()
    bad_yaml = tmp_path / "broken.yaml"
    bad_yaml.write_text("model:\n  lr: [0.1\n")
    assert main(["fit", "--config", str(bad_yaml)]) == 1
    assert f"{bad_yaml}: not valid YAML" in capsys.readouterr().err


def test_a_failed_fit_does_not_block_the_next_with_wrong_advice(synthetic_root, tmp_path, capsys):
    root = tmp_path / "run"
    (root / "logs" / "version_0").mkdir(parents=True)  # what a fit that failed in validation leaves
    (root / "config.yaml").write_text("{}\n")
    assert _fit(synthetic_root, root) == 1
    err = capsys.readouterr().err
    assert "left no checkpoint" in err and "--overwrite true" in err and "--ckpt_path" not in err
    assert _fit(synthetic_root, root, "--overwrite", "true") == 0


def test_evaluate_refuses_2d_and_truncated_predictions_and_writes_no_empty_csv(
    synthetic_root, tmp_path, capsys
):
    refs = tmp_path / "refs"
    preds = tmp_path / "preds"
    refs.mkdir()
    preds.mkdir()
    cases = covid_fold(0)["test"][:2]
    labels = synthetic_root / "COVID-19-CT-Seg/Infection_Mask"
    for c in cases:
        shutil.copy(labels / f"{c}.nii.gz", refs / f"{c}.nii.gz")
    write_nifti(preds / f"{cases[0]}.nii.gz", np.zeros((8, 8), np.uint8))
    data = (labels / f"{cases[1]}.nii.gz").read_bytes()
    (preds / f"{cases[1]}.nii.gz").write_bytes(data[: len(data) // 2])
    out = tmp_path / "scores.csv"
    assert main(["evaluate", "--pred", str(preds), "--ref", str(refs), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert f"{preds / (cases[0] + '.nii.gz')}: 2D mask" in err
    assert f"{preds / (cases[1] + '.nii.gz')}: voxel data is truncated or corrupt" in err
    assert f"{out}: not written, no case could be scored" in err and not out.exists()
