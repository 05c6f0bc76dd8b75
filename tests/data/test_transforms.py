"""Preprocessing: 0..255 and HU storage end on the same scale; orientation and spacing come from headers."""

import numpy as np
import pytest
import torch

from transferbench.data.cache import PreprocessedCache
from transferbench.data.intensity import storage_of
from transferbench.data.io import save_nifti
from transferbench.data.phantom import Scanner, make_phantom
from transferbench.data.sources import Case
from transferbench.data.synthetic import _oriented
from transferbench.data.transforms import preprocess_transforms, train_patch_transforms
from transferbench.errors import DataError


@pytest.fixture(scope="module")
def phantom_files(tmp_path_factory):
    """One phantom stored three ways: HU in RAS, 0..255 in RAS, HU in LPS."""
    d = tmp_path_factory.mktemp("storage")
    ph = make_phantom("covid", Scanner((5.0, 5.0, 8.0), 10.0, 1.0, 0.0, 0.0), [0, 5])
    u8 = np.round((np.clip(ph.image, -1250, 250) + 1250) / 1500 * 255).astype(np.uint8)
    hu = np.round(ph.image).astype(np.int16)
    files = {}
    for name, arr, axcodes in (("hu_ras", hu, "RAS"), ("u8_ras", u8, "RAS"), ("hu_lps", hu, "LPS")):
        img, aff = _oriented(arr, ph.spacing, ph.origin, axcodes)
        lab, _ = _oriented(ph.lesion, ph.spacing, ph.origin, axcodes)
        save_nifti(d / f"{name}.nii.gz", img, aff)
        save_nifti(d / f"{name}_label.nii.gz", lab, aff)
        files[name] = (d / f"{name}.nii.gz", d / f"{name}_label.nii.gz")
    return files


def _prep(pair, spacing=(6.0, 6.0, 8.0)):
    out = preprocess_transforms(spacing)({"image": str(pair[0]), "label": str(pair[1])})
    return out["image"].as_tensor(), out["label"].as_tensor()


def test_radiopaedia_and_coronacases_storage_match(phantom_files):
    hu_img, hu_lab = _prep(phantom_files["hu_ras"])
    u8_img, u8_lab = _prep(phantom_files["u8_ras"])
    assert hu_img.shape == u8_img.shape
    assert float(u8_img.min()) >= 0.0 and float(u8_img.max()) <= 1.0
    assert float((hu_img - u8_img).abs().max()) < 2.5 / 255  # one 0..255 quantisation step plus rounding
    assert torch.equal(hu_lab, u8_lab)


def test_orientation_from_header(phantom_files):
    ras_img, ras_lab = _prep(phantom_files["hu_ras"])
    lps_img, lps_lab = _prep(phantom_files["hu_lps"])
    assert torch.allclose(ras_img, lps_img, atol=1e-5) and torch.equal(ras_lab, lps_lab)


def test_spacing_orientation_and_body_crop(phantom_files):
    out = preprocess_transforms((10.0, 10.0, 16.0))(
        {"image": str(phantom_files["hu_lps"][0]), "label": str(phantom_files["hu_lps"][1])}
    )
    img = out["image"]
    assert np.allclose(img.pixdim[:3].numpy(), (10.0, 10.0, 16.0))
    assert np.all(np.diag(img.affine.numpy())[:3] > 0)  # RAS after Orientationd
    assert bool((img[0, 2] > 0.2).any())  # cropped to the body (2-voxel margin): body right at the edge
    assert img.shape[1] <= 37  # 352 mm field of view at 10 mm, minus the air around the body


def test_unrecognised_intensity_range():
    assert storage_of(torch.tensor([0.0, 255.0])) == "u8"
    assert storage_of(torch.tensor([-1024.0, 1500.0])) == "hu"
    with pytest.raises(DataError, match="scan.nii.gz: intensity range"):
        storage_of(torch.tensor([-10.0, 900.0]), "scan.nii.gz")


def test_cache_is_reused_and_keyed_by_file(phantom_files, tmp_path):
    cache = PreprocessedCache(tmp_path, (6.0, 6.0, 8.0))
    case = Case("x", *phantom_files["hu_ras"], "test")
    first = cache.get(case, {0, 1})
    path = cache.path_for(case)
    assert path.is_file()
    mtime = path.stat().st_mtime_ns
    again = cache.get(case, {0, 1})
    assert path.stat().st_mtime_ns == mtime and torch.equal(first["image"], again["image"])
    assert PreprocessedCache(tmp_path, (5.0, 5.0, 8.0)).path_for(case) != path  # new spacing, new entry


def test_balanced_patch_sampling():
    label = torch.zeros(1, 40, 40, 20)
    label[0, 30:34, 30:34, 10:14] = 1
    data = {"image": torch.rand(1, 40, 40, 20), "label": label}
    t = train_patch_transforms((16, 16, 8), samples_per_volume=4, pos_fraction=0.5)
    t.set_random_state(0)
    hits = [bool(p["label"].sum() > 0) for _ in range(50) for p in t(data)]
    assert 0.35 < np.mean(hits) < 0.8  # about half the patches contain lesion, far above its 0.2% volume
    assert all(p["image"].shape == (1, 16, 16, 8) for p in t(data))
