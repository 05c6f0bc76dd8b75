"""Readers, accepted variants, and every bad input stopping with one clear message naming the file."""

import gzip
import shutil

import numpy as np
import pytest
from conftest import write_nifti

from transferbench.data.datamodule import CTSegDataModule
from transferbench.data.io import check_pair
from transferbench.data.sources import create_source, list_sources
from transferbench.errors import DataError


def test_registry():
    assert {
        "covid19_ct_seg",
        "msd_lung_tumor",
        "structseg_gtv",
        "nsclc_pleural_effusion",
        "lidc_idri",
    } <= set(list_sources())
    with pytest.raises(ValueError, match="registered"):
        create_source("mosmedx")


def test_valid_pair_summary(nifti_pair):
    s = check_pair(*nifti_pair, {0, 1})
    assert s["shape"] == (24, 24, 24) and s["labels"] == [0, 1]


def test_plain_nii_accepted(tmp_path):
    img = np.full((8, 8, 8), -1000, np.int16)
    write_nifti(tmp_path / "images" / "LIDC-IDRI-0001.nii", img)
    write_nifti(tmp_path / "masks" / "LIDC-IDRI-0001.nii", np.zeros((8, 8, 8), np.uint8))
    (case,) = create_source("lidc_idri").find_cases(tmp_path)
    assert case.image.name == "LIDC-IDRI-0001.nii"


def test_missing_root_and_wrong_layout(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        create_source("covid19_ct_seg").find_cases(tmp_path / "nowhere")
    (tmp_path / "something_else").mkdir()
    with pytest.raises(DataError, match=r"no covid19_ct_seg cases found.*Expected layout.*something_else"):
        create_source("covid19_ct_seg").find_cases(tmp_path)


def test_missing_label_file(tmp_path):
    write_nifti(
        tmp_path / "COVID-19-CT-Seg_20cases" / "coronacases_001.nii.gz", np.zeros((4, 4, 4), np.int16)
    )
    with pytest.raises(DataError, match=r"Infection_Mask/coronacases_001.nii.gz: missing file"):
        create_source("covid19_ct_seg").find_cases(tmp_path)


def test_corrupt_and_truncated(nifti_pair, tmp_path):
    image, label = nifti_pair
    junk = tmp_path / "junk.nii.gz"
    junk.write_bytes(b"not a nifti at all")
    with pytest.raises(DataError, match="junk.nii.gz: not a readable NIfTI"):
        check_pair(junk, label, {0, 1})
    raw = gzip.decompress(image.read_bytes())
    truncated = tmp_path / "truncated.nii.gz"
    truncated.write_bytes(gzip.compress(raw[: len(raw) // 2]))
    with pytest.raises(DataError, match="truncated.nii.gz: voxel data is truncated or corrupt"):
        check_pair(truncated, label, {0, 1})


def test_shape_affine_labels_nan(tmp_path, nifti_pair):
    image, label = nifti_pair
    bad_shape = write_nifti(tmp_path / "shape.nii.gz", np.zeros((24, 24, 20), np.uint8))
    with pytest.raises(DataError, match="shape.nii.gz: label shape"):
        check_pair(image, bad_shape, {0, 1})
    bad_affine = write_nifti(tmp_path / "aff.nii.gz", np.zeros((24, 24, 24), np.uint8), spacing=(1, 1, 2))
    with pytest.raises(DataError, match="aff.nii.gz: label affine does not match"):
        check_pair(image, bad_affine, {0, 1})
    lab = np.zeros((24, 24, 24), np.uint8)
    lab[0, 0, 0] = 7
    bad_values = write_nifti(tmp_path / "values.nii.gz", lab)
    with pytest.raises(DataError, match=r"values.nii.gz: unexpected label values \[7\]"):
        check_pair(image, bad_values, {0, 1})
    img = np.zeros((24, 24, 24), np.float32)
    img[3, 3, 3] = np.nan
    nan = write_nifti(tmp_path / "nan.nii.gz", img)
    with pytest.raises(DataError, match="nan.nii.gz: 1 voxels are NaN"):
        check_pair(nan, label, {0, 1})


def _copy_covid(synthetic_root, tmp_path):
    dst = tmp_path / "data"
    shutil.copytree(synthetic_root / "COVID-19-CT-Seg", dst / "COVID-19-CT-Seg")
    return dst


def test_datamodule_stops_before_training_on_bad_case(synthetic_root, tmp_path):
    root = _copy_covid(synthetic_root, tmp_path)
    bad = root / "COVID-19-CT-Seg/Infection_Mask/coronacases_007.nii.gz"  # a fold-0 training case
    write_nifti(bad, np.full((5, 5, 5), 2, np.uint8))
    dm = CTSegDataModule(root=str(root), cache_dir=str(tmp_path / "cache"))
    with pytest.raises(DataError, match="coronacases_007.nii.gz: label shape"):
        dm.setup("fit")
    assert not list((tmp_path / "cache").rglob("*coronacases_007*"))  # nothing half-written in the cache


def test_datamodule_missing_split_case(synthetic_root, tmp_path):
    root = _copy_covid(synthetic_root, tmp_path)
    (root / "COVID-19-CT-Seg/COVID-19-CT-Seg_20cases/radiopaedia_7_85703_0.nii.gz").unlink()
    dm = CTSegDataModule(root=str(root), cache_dir=str(tmp_path / "cache"))
    with pytest.raises(DataError, match="missing: radiopaedia_7_85703_0"):
        dm.setup("fit")


def test_nan_and_fractional_labels_and_unit_range_images_are_named(tmp_path, nifti_pair):
    image, _ = nifti_pair
    lab = np.zeros((24, 24, 24), np.float32)
    lab[1, 1, 1] = np.nan
    with pytest.raises(DataError, match="nanlab.nii.gz: 1 label voxels are NaN"):
        check_pair(image, write_nifti(tmp_path / "nanlab.nii.gz", lab), {0, 1})
    lab[1, 1, 1] = 0.5
    with pytest.raises(DataError, match=r"half.nii.gz: 1 label voxels are not integers \(e.g. 0.5\)"):
        check_pair(image, write_nifti(tmp_path / "half.nii.gz", lab), {0, 1})
    # a CT already normalised to 0..1 must not be read as 0..255 storage (it would be divided by 255 again)
    unit = np.random.default_rng(0).random((24, 24, 24)).astype(np.float32)
    label = write_nifti(tmp_path / "l.nii.gz", np.zeros((24, 24, 24), np.uint8))
    with pytest.raises(
        DataError, match=r"unit.nii.gz: intensities within \[.*\]: an image already normalised to 0..1"
    ):
        check_pair(write_nifti(tmp_path / "unit.nii.gz", unit), label, {0, 1})
