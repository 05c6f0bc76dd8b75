"""Every bad input through `data check`, `fit` and `evaluate`: one clear message naming the file, exit 2,
and nothing trained or written for it (fit stops before its first training step)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import write_nifti

from transferbench.cli.main import main
from transferbench.data.splits import benchmark_splits

SHAPE = (16, 16, 8)
SPACING = (2.0, 2.0, 5.0)


def _covid_root(root: Path) -> Path:
    """A COVID-19-CT-Seg layout with small HU cases (radiopaedia ones as 0..255)."""
    base = root / "COVID-19-CT-Seg"
    for i, c in enumerate(benchmark_splits()["covid19_ct_seg"]["cases"]):
        rng = np.random.default_rng(i)
        if c.startswith("radio"):
            image = rng.integers(0, 255, SHAPE).astype(np.uint8)
        else:
            image = rng.integers(-1000, 300, SHAPE).astype(np.int16)
        label = np.zeros(SHAPE, np.uint8)
        label[4:10, 4:10, 2:6] = 1
        write_nifti(base / "COVID-19-CT-Seg_20cases" / f"{c}.nii.gz", image, SPACING)
        write_nifti(base / "Infection_Mask" / f"{c}.nii.gz", label, SPACING)
    return base


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _label(values: np.ndarray, dtype=np.float32):
    def write(path: Path) -> None:
        write_nifti(path, values.astype(dtype), SPACING)

    return write


LABEL = np.zeros(SHAPE, np.float32)
LABEL[4:10, 4:10, 2:6] = 1
NAN_LABEL, HALF_LABEL, THREE_LABEL = LABEL.copy(), LABEL.copy(), LABEL.copy()
NAN_LABEL[0, 0, 0], HALF_LABEL[0, 0, 0], THREE_LABEL[0, 0, 0] = np.nan, 0.5, 3

# (id, which file of the case it breaks, how, the message expected after the file name)
BAD = [
    ("truncated label", "label", _truncate, "not a readable NIfTI file"),
    ("nan label", "label", _label(NAN_LABEL), "label voxels are NaN"),
    ("fractional label", "label", _label(HALF_LABEL), "label voxels are not integers"),
    ("label value 3", "label", _label(THREE_LABEL, np.uint8), "unexpected label values [3]"),
    ("label shape", "label", _label(np.zeros((16, 16, 7)), np.uint8), "label shape"),
    ("truncated image", "image", _truncate, "voxel data is truncated or corrupt"),
    ("unit-range image", "image", lambda p: write_nifti(p, np.full(SHAPE, 0.5, np.float32), SPACING), "normalised to 0..1"),
]  # fmt: skip


@pytest.fixture(scope="module")
def good_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("covid")
    _covid_root(root)
    return root


def _broken(good_root: Path, tmp_path: Path, which: str, how) -> tuple[Path, Path]:
    root = tmp_path / "data"
    shutil.copytree(good_root, root)
    case = benchmark_splits()["covid19_ct_seg"]["folds_4_train"][0]["test"][-1]  # a *test* case of fold 0
    folder = "Infection_Mask" if which == "label" else "COVID-19-CT-Seg_20cases"
    path = root / "COVID-19-CT-Seg" / folder / f"{case}.nii.gz"
    how(path)
    return root, path


@pytest.mark.parametrize(("name", "which", "how", "message"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_stops_data_check_and_fit_before_training(
    good_root, tmp_path, capsys, name, which, how, message
):
    root, bad = _broken(good_root, tmp_path, which, how)
    assert (
        main(["data", "check", "covid19_ct_seg", "--root", str(root)]) == 1
    )  # data check: 1 = problems found
    out = capsys.readouterr()
    assert f"{bad}" in out.out + out.err and message in out.out + out.err
    run = tmp_path / "run"
    code = main([
        "fit", "--config", "synthetic_unet3d", "--data.root", str(root), "--data.prepare_synthetic", "false",
        "--data.cache_dir", str(tmp_path / "cache"), "--model.net.init_args.preset", "tiny",
        "--data.target_spacing", "[4, 4, 10]", "--data.patch_size", "[16, 16, 4]",
        "--trainer.default_root_dir", str(run), "--trainer.logger", "false",
        "--trainer.enable_progress_bar", "false",
    ])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1 and f"{bad}" in err and message in err, err
    assert not list(run.rglob("*.ckpt")) and not (run / "per_case_test.csv").exists()  # no step was taken


@pytest.mark.parametrize(("name", "which", "how", "message"), [b for b in BAD if b[1] == "label"],
                         ids=[b[0] for b in BAD if b[1] == "label"])  # fmt: skip
def test_bad_prediction_is_named_by_evaluate_and_left_out(
    good_root, tmp_path, capsys, name, which, how, message
):
    ref = good_root / "COVID-19-CT-Seg" / "Infection_Mask"
    pred = tmp_path / "pred"
    shutil.copytree(ref, pred)
    bad = pred / sorted(p.name for p in pred.iterdir())[0]
    how(bad)
    out = tmp_path / "scores.csv"
    assert main(["evaluate", "--pred", str(pred), "--ref", str(ref), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert bad.name in err, err
    case = bad.name.removesuffix(".nii.gz")
    assert case not in out.read_text() and len(out.read_text().splitlines()) == 20  # header + 19 good cases
