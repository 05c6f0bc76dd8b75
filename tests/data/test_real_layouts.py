"""Every real on-disk layout (and the variants users have), `data check`, fingerprints, sweep planning checks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import write_nifti

from transferbench.data.cache import PreprocessedCache
from transferbench.data.check import check_dataset, split_case_ids
from transferbench.data.fingerprint import compute_fingerprint
from transferbench.data.phantom import make_phantom
from transferbench.data.sources import create_source
from transferbench.data.splits import benchmark_splits
from transferbench.data.synthetic import DOMAINS
from transferbench.errors import DataError

SHAPE = (8, 8, 4)


def _pair(
    image_path: Path, label_path: Path, value: int = 1, spacing=(0.8, 0.8, 2.5), u8: bool = False
) -> None:
    rng = np.random.default_rng(abs(hash(image_path.name)) % 2**32)
    image = (
        rng.integers(0, 255, SHAPE).astype(np.uint8)
        if u8
        else rng.integers(-1000, 300, SHAPE).astype(np.int16)
    )
    label = np.zeros(SHAPE, np.uint8)
    label[2:5, 2:5, 1:3] = value
    write_nifti(image_path, image, spacing)
    write_nifti(label_path, label, spacing)


def covid_zenodo(root: Path, ext: str = ".nii.gz", cases=None) -> Path:
    base = root / "COVID-19-CT-Seg"
    for c in cases or split_case_ids("covid19_ct_seg"):
        _pair(
            base / "COVID-19-CT-Seg_20cases" / f"{c}{ext}",
            base / "Infection_Mask" / f"{c}{ext}",
            u8=c.startswith("radio"),
        )
    return base


def covid_kaggle(root: Path) -> Path:
    base = root / "covid19-ct-scans"
    for c in split_case_ids("covid19_ct_seg"):
        if c.startswith("coronacases"):
            ct = c.replace("coronacases_", "coronacases_org_")
        else:
            ct = c.replace("radiopaedia_", "radiopaedia_org_covid-19-pneumonia-") + "-dcm"
        _pair(base / "ct_scans" / f"{ct}.nii", base / "infection_mask" / f"{c}.nii", u8=c.startswith("radio"))
    return base


def write_sources(root: Path) -> None:
    """The three lesion sources with every case of the benchmark split, in their download layouts."""
    msd = root / "Task06_Lung"
    ids = split_case_ids("msd_lung_tumor")
    for c in ids:
        _pair(msd / "imagesTr" / f"{c}.nii.gz", msd / "labelsTr" / f"{c}.nii.gz")
        (msd / "imagesTr" / f"._{c}.nii.gz").write_bytes(b"\x00\x05\x16\x07")  # macOS fork in the tar
    training = [{"image": f"./imagesTr/{c}.nii.gz", "label": f"./labelsTr/{c}.nii.gz"} for c in ids]
    (msd / "dataset.json").write_text(json.dumps({"name": "Lung", "training": training}))
    for c in split_case_ids("structseg_gtv"):
        n = c.removeprefix("train_")
        _pair(
            root / "StructSeg2019_Lung_GTV" / n / "data.nii",
            root / "StructSeg2019_Lung_GTV" / n / "label.nii",
        )
    for i, c in enumerate(split_case_ids("nsclc_pleural_effusion")):
        folder = root / "NSCLC_Pleural_Effusion" / c
        image = folder / (f"{c}.nii.gz" if i % 2 else "image.nii.gz")  # variant: the folder's only image
        _pair(image, folder / f"{c}_effusion_reviewer.nii.gz")
    for i in (1, 2, 3):  # what `transferbench data prepare lidc_idri` writes
        lidc = root / "LIDC-IDRI_nifti"
        _pair(lidc / "images" / f"LIDC-IDRI-{i:04d}.nii.gz", lidc / "masks" / f"LIDC-IDRI-{i:04d}.nii.gz")


@pytest.fixture(scope="module")
def benchmark_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("realdata")
    covid_zenodo(root)
    write_sources(root)
    return root


@pytest.mark.parametrize(
    "source", ["covid19_ct_seg", "msd_lung_tumor", "structseg_gtv", "nsclc_pleural_effusion"]
)
def test_each_benchmark_layout_checks_clean(benchmark_root, source):
    report = check_dataset(source, benchmark_root)
    assert report.ok, report.format()
    assert not report.missing
    assert sorted(c["case_id"] for c in report.cases) == sorted(split_case_ids(source))
    text = report.format()
    assert "no problems found" in text and "8x8x4" in text and "0.8x0.8x2.5" in text


def test_covid_kaggle_names_map_to_benchmark_ids(tmp_path):
    base = covid_kaggle(tmp_path)
    report = check_dataset("covid19_ct_seg", tmp_path)
    assert report.ok and report.base == base, report.format()
    assert sorted(c["case_id"] for c in report.cases) == sorted(split_case_ids("covid19_ct_seg"))
    storages = {c["case_id"]: c["storage"] for c in report.cases}
    assert storages["radiopaedia_10_85902_1"] == "u8" and storages["coronacases_001"] == "hu"


def test_covid_plain_nii_and_root_is_the_dataset_folder(tmp_path):
    base = covid_zenodo(tmp_path, ext=".nii")
    report = check_dataset("covid19_ct_seg", base)  # pointing at the dataset folder itself
    assert report.ok and len(report.cases) == 20


def test_mosmed_and_lidc_layouts(tmp_path):
    mm = tmp_path / "MosMedData"
    for n in (255, 256):
        _pair(mm / "studies" / "CT-1" / f"study_0{n}.nii.gz", mm / "masks" / f"study_0{n}_mask.nii.gz")
    write_nifti(mm / "studies" / "CT-0" / "study_0001.nii.gz", np.full(SHAPE, -1000, np.int16))  # no mask
    report = check_dataset("mosmed", tmp_path)
    assert report.ok and [c["case_id"] for c in report.cases] == ["study_0255", "study_0256"]
    pool = check_dataset("mosmed_unlabelled", tmp_path)  # the studies without a mask, images only
    assert pool.ok and [(c["case_id"], c["label"]) for c in pool.cases] == [("study_0001", "None")]
    lidc = tmp_path / "LIDC-IDRI_nifti"
    _pair(lidc / "images" / "LIDC-IDRI-0001.nii.gz", lidc / "masks" / "LIDC-IDRI-0001.nii.gz")
    assert check_dataset("lidc_idri", tmp_path).ok


def test_radiopaedia_u8_and_coronacases_hu_of_one_phantom_match_after_preprocessing(tmp_path):
    ph = make_phantom("covid", DOMAINS["coronacases"].scanner, [0, 7])
    affine = np.diag([*ph.spacing, 1.0])
    u8 = np.round((np.clip(ph.image, -1250, 250) + 1250) / 1500 * 255).astype(np.uint8)
    kaggle = tmp_path / "k" / "covid19-ct-scans"
    write_nifti(
        kaggle / "ct_scans" / "radiopaedia_org_covid-19-pneumonia-7_85703_0-dcm.nii", u8, affine=affine
    )
    write_nifti(kaggle / "infection_mask" / "radiopaedia_7_85703_0.nii", ph.lesion, affine=affine)
    zen = tmp_path / "z" / "COVID-19-CT-Seg"
    write_nifti(
        zen / "COVID-19-CT-Seg_20cases" / "coronacases_001.nii.gz",
        np.round(ph.image).astype(np.int16),
        affine=affine,
    )
    write_nifti(zen / "Infection_Mask" / "coronacases_001.nii.gz", ph.lesion, affine=affine)
    src = create_source("covid19_ct_seg")
    [a], [b] = src.find_cases(tmp_path / "k"), src.find_cases(tmp_path / "z")
    cache = PreprocessedCache(tmp_path / "cache", (4.0, 4.0, 6.0))
    ia, ib = cache.get(a, {0, 1}), cache.get(b, {0, 1})
    assert ia["image"].shape == ib["image"].shape
    assert float((ia["image"] - ib["image"]).abs().max()) < 2.5 / 255
    assert torch.equal(ia["label"], ib["label"])


def test_check_reports_every_problem(tmp_path):
    base = covid_zenodo(tmp_path)
    img, inf = base / "COVID-19-CT-Seg_20cases", base / "Infection_Mask"
    (img / "coronacases_002.nii.gz").unlink()  # split case absent
    (inf / "coronacases_003.nii.gz").unlink()  # label missing
    (img / "coronacases_004.nii.gz").write_bytes(b"not a nifti")  # corrupt
    (img / "coronacases_005.nii.gz").unlink()  # .nii: the header survives, the voxel data is cut short
    raw = write_nifti(
        img / "coronacases_005.nii", np.zeros(SHAPE, np.int16) - 1000, (0.8, 0.8, 2.5)
    ).read_bytes()
    (img / "coronacases_005.nii").write_bytes(raw[:-100])  # truncated
    write_nifti(inf / "coronacases_006.nii.gz", np.zeros((8, 8, 5), np.uint8), (0.8, 0.8, 2.5))  # shape
    write_nifti(inf / "coronacases_007.nii.gz", np.zeros(SHAPE, np.uint8), (0.7, 0.8, 2.5))  # affine
    write_nifti(inf / "coronacases_008.nii.gz", np.full(SHAPE, 2, np.uint8), (0.8, 0.8, 2.5))  # labels
    write_nifti(img / "coronacases_009.nii.gz", np.full(SHAPE, 900, np.int16), (0.8, 0.8, 2.5))  # range
    report = check_dataset("covid19_ct_seg", tmp_path)
    assert not report.ok
    text = report.format()
    problems = {Path(p).name + ":" + m for p, m in report.problems}
    expect = {
        "COVID-19-CT-Seg:case coronacases_002 of the benchmark split is absent": True,
        "coronacases_003.nii.gz:missing file of case coronacases_003": False,
        "coronacases_004.nii.gz:not a readable NIfTI file": False,
        "coronacases_005.nii:voxel data is truncated or corrupt": False,
        "coronacases_006.nii.gz:label shape (8, 8, 5) does not match image": False,
        "coronacases_007.nii.gz:label affine does not match image": False,
        "coronacases_008.nii.gz:unexpected label values [2]": False,
        "coronacases_009.nii.gz:intensity range [900.0, 900.0] matches neither CT in HU": False,
    }
    for prefix in expect:
        assert any(p.startswith(prefix) for p in problems), (prefix, text)
    assert len(report.problems) == len(expect)
    assert report.missing == ["coronacases_002", "coronacases_003"]
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "transferbench.cli.main",
            "data",
            "check",
            "covid19_ct_seg",
            "--root",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 1 and "8 problem(s)" in out.stdout
    quick = check_dataset("covid19_ct_seg", tmp_path, deep=False)  # headers: no voxel-level problems
    assert {Path(p).name for p, _ in quick.problems} == {
        "COVID-19-CT-Seg",
        "coronacases_003.nii.gz",
        "coronacases_004.nii.gz",
        "coronacases_006.nii.gz",
        "coronacases_007.nii.gz",
    }


def test_missing_dataset_folder_and_wrong_layout(tmp_path):
    assert "data root does not exist" in check_dataset("msd_lung_tumor", tmp_path / "nope").format()
    (tmp_path / "something").mkdir()
    report = check_dataset("structseg_gtv", tmp_path)
    assert (
        not report.ok and "no structseg_gtv cases found" in report.format() and "something" in report.format()
    )


def test_training_stops_before_the_first_step_naming_every_bad_case(tmp_path):
    from transferbench.data.datamodule import CTSegDataModule

    base = covid_zenodo(tmp_path)
    fold0 = benchmark_splits()["covid19_ct_seg"]["folds_4_train"][0]["train"]
    a, b = fold0[0], fold0[1]
    write_nifti(base / "Infection_Mask" / f"{a}.nii.gz", np.zeros((8, 8, 5), np.uint8), (0.8, 0.8, 2.5))
    write_nifti(base / "Infection_Mask" / f"{b}.nii.gz", np.zeros(SHAPE, np.uint8), (0.5, 0.8, 2.5))
    dm = CTSegDataModule(
        root=str(tmp_path), cache_dir=str(tmp_path / "cache"), target_spacing=(2.0, 2.0, 5.0)
    )
    with pytest.raises(DataError) as err:
        dm.setup("fit")
    assert (
        "2 problem(s)" in str(err.value)
        and f"{a}.nii.gz" in str(err.value)
        and f"{b}.nii.gz" in str(err.value)
    )


def test_fingerprint_and_target_spacing_from_it(tmp_path):
    from transferbench.data.datamodule import CTSegDataModule

    base = covid_zenodo(tmp_path)
    lps = np.diag([-0.7, -0.7, 3.0, 1.0])  # LPS storage: spacing still read along R, A, S
    for c in split_case_ids("covid19_ct_seg")[:10]:
        write_nifti(
            base / "COVID-19-CT-Seg_20cases" / f"{c}.nii.gz", np.full(SHAPE, -500, np.int16), affine=lps
        )
        label = np.zeros(SHAPE, np.uint8)
        label[:4] = 1  # half the voxels
        write_nifti(base / "Infection_Mask" / f"{c}.nii.gz", label, affine=lps)
    cases = create_source("covid19_ct_seg").find_cases(tmp_path)
    fp = compute_fingerprint("covid19_ct_seg", cases[:10])
    assert fp["median_spacing"] == pytest.approx([0.7, 0.7, 3.0])
    assert fp["foreground_intensity_hu"]["p50"] == pytest.approx(-500.0)
    assert fp["class_ratios"] == pytest.approx({"0": 0.5, "1": 0.5})
    from transferbench.cli.main import main

    assert main(["data", "fingerprint", "covid19_ct_seg", "--root", str(tmp_path),
                 "--cache-dir", str(tmp_path / "cli_cache")]) == 0  # fmt: skip
    dm = CTSegDataModule(root=str(tmp_path), cache_dir=str(tmp_path / "cache"))
    dm.cases = dm.resolve_cases()
    expected = np.median(
        [[0.7, 0.7, 3.0] if c.case_id.startswith("corona") else [0.8, 0.8, 2.5] for c in dm.cases["train"]],
        axis=0,
    )
    assert dm.target_spacing == pytest.approx(tuple(expected))
    assert len(list((tmp_path / "cache" / "fingerprints").glob("*.json"))) == 1
    fixed = CTSegDataModule(
        root=str(tmp_path), cache_dir=str(tmp_path / "cache2"), target_spacing=(2.0, 2.0, 5.0)
    )
    assert fixed.target_spacing == (2.0, 2.0, 5.0) and not (tmp_path / "cache2").exists()


def _sweep(args, env_root):
    env = {**os.environ, "TRANSFERBENCH_DATA": str(env_root), "WANDB_MODE": "disabled"}
    env.pop("TRANSFERBENCH_IMAGENET", None)
    return subprocess.run(
        [sys.executable, "-m", "transferbench.cli.main", "sweep", *args],
        capture_output=True,
        text=True,
        env=env,
    )


def test_covid_benchmark_sweep_plans_on_fixture_roots(benchmark_root):
    out = _sweep(["--config", "covid_benchmark", "--dry-run"], benchmark_root)
    assert out.returncode == 0, out.stderr
    assert "data: headers of every case checked, no problems" in out.stderr
    assert (
        "covid19_ct_seg 20, msd_lung_tumor 63, structseg_gtv 50, nsclc_pleural_effusion 78, lidc_idri 3"
        in out.stderr
    )
    # 3D U-Net: 15 pretrainings + 420 target runs; nCoVSegNet: ImageNet -> LIDC and LIDC-only pretrainings
    # per seed (6) + 5 strategies x 5 folds x 3 seeds (75); per model: scratch_matched and scratch_converged
    # x 5 folds x 3 seeds (60)
    # + MAE on the effusion images (3 pretrainings, 15 target runs); the MosMed pool is absent: its rows go
    assert "594 runs = 24 pretraining + 570 target runs (2 model(s) x 5 fold(s) x 3 seed(s))" in out.stderr
    assert "optional source pool (mosmed_unlabelled) is not under" in out.stderr
    assert "ImageNet stages are skipped" in out.stderr  # $TRANSFERBENCH_IMAGENET unset


def test_sweep_rejects_broken_data_at_planning(benchmark_root, tmp_path):
    import shutil

    root = tmp_path / "broken"
    shutil.copytree(benchmark_root, root)
    (root / "Task06_Lung" / "labelsTr" / "lung_001.nii.gz").unlink()
    (root / "StructSeg2019_Lung_GTV" / "12" / "data.nii").write_bytes(b"junk")
    out = _sweep(["--config", "covid_benchmark", "--dry-run"], root)
    assert out.returncode == 1
    assert "sources.tumor (msd_lung_tumor)" in out.stderr and "lung_001.nii.gz: missing file" in out.stderr
    assert "sources.gtv (structseg_gtv)" in out.stderr and "12/data.nii: not a readable NIfTI" in out.stderr
