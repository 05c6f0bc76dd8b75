"""The synthetic benchmark: real layouts, storage conventions, determinism, caching, lesion domains."""

import json

import nibabel as nib
import numpy as np
import pytest

from transferbench.data.phantom import LESION_KINDS, Scanner, make_phantom
from transferbench.data.sources import create_source
from transferbench.data.splits import benchmark_splits
from transferbench.data.synthetic import MANIFEST, prepare_synthetic
from transferbench.errors import DataError


def test_layouts_are_the_real_ones(synthetic_root):
    r = synthetic_root
    assert (r / "COVID-19-CT-Seg/COVID-19-CT-Seg_20cases/coronacases_001.nii.gz").is_file()
    for folder in ("Infection_Mask", "Lung_Mask", "Lung_and_Infection_Mask"):
        assert (r / "COVID-19-CT-Seg" / folder / "radiopaedia_4_85506_1.nii.gz").is_file()
    meta = json.loads((r / "Task06_Lung/dataset.json").read_text())
    assert meta["numTraining"] == 5 and meta["training"][0]["image"].startswith("./imagesTr/lung_")
    assert (r / "StructSeg2019_Lung_GTV/10/data.nii.gz").is_file()
    assert (r / "NSCLC_Pleural_Effusion/LUNG1-001/LUNG1-001_effusion_reviewer.nii.gz").is_file()
    assert (r / "LIDC-IDRI_nifti/masks/LIDC-IDRI-0001.nii.gz").is_file()
    covid = create_source("covid19_ct_seg").find_cases(r)
    assert sorted(c.case_id for c in covid) == sorted(benchmark_splits()["covid19_ct_seg"]["cases"])
    for name in ("msd_lung_tumor", "structseg_gtv", "nsclc_pleural_effusion", "lidc_idri"):
        assert len(create_source(name).find_cases(r)) == 5


def test_storage_conventions(synthetic_root):
    base = synthetic_root / "COVID-19-CT-Seg/COVID-19-CT-Seg_20cases"
    radiopaedia = nib.load(base / "radiopaedia_4_85506_1.nii.gz")
    coronacases = nib.load(base / "coronacases_001.nii.gz")
    assert radiopaedia.get_data_dtype() == np.uint8
    r = np.asarray(radiopaedia.dataobj)
    assert r.min() >= 0 and r.max() <= 255 and r.max() > 200
    c = np.asarray(coronacases.dataobj)
    assert c.dtype == np.int16 and c.min() <= -1000 and c.max() > 300
    assert nib.aff2axcodes(coronacases.affine) == ("L", "P", "S")  # orientation comes from the header


def test_lung_and_joint_labels(synthetic_root):
    base = synthetic_root / "COVID-19-CT-Seg"
    inf = np.asarray(nib.load(base / "Infection_Mask/coronacases_002.nii.gz").dataobj)
    lungs = np.asarray(nib.load(base / "Lung_Mask/coronacases_002.nii.gz").dataobj)
    joint = np.asarray(nib.load(base / "Lung_and_Infection_Mask/coronacases_002.nii.gz").dataobj)
    assert set(np.unique(lungs)) == {0, 1, 2} and set(np.unique(joint)) == {0, 1, 2, 3}
    assert np.array_equal(joint == 3, inf == 1) and inf.sum() > 0


def test_cached_second_call_is_noop_and_mismatch_is_an_error(synthetic_root, capsys):
    before = {p: p.stat().st_mtime_ns for p in synthetic_root.rglob("*.nii.gz")}
    prepare_synthetic(synthetic_root, seed=0, n_source_cases=5)
    assert "nothing to do" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in synthetic_root.rglob("*.nii.gz")} == before
    with pytest.raises(DataError, match=MANIFEST):
        prepare_synthetic(synthetic_root, seed=1, n_source_cases=5)


def test_deterministic_in_seed():
    sc = Scanner((5.0, 5.0, 8.0), 20.0, 1.0, 0.0, 0.0)
    a, b = make_phantom("covid", sc, [3, 1]), make_phantom("covid", sc, [3, 1])
    assert np.array_equal(a.image, b.image) and np.array_equal(a.lesion, b.lesion)
    c = make_phantom("covid", sc, [4, 1])
    assert not np.array_equal(a.lesion, c.lesion)


@pytest.mark.parametrize("kind", LESION_KINDS)
def test_each_domain_has_its_lesion(kind):
    sc = Scanner((4.0, 4.0, 6.0), 0.0, 0.0, 0.0, 0.0)
    ph = make_phantom(kind, sc, [0, 0])
    lesion = ph.lesion > 0
    assert lesion.sum() > 5
    hu = ph.image[lesion]
    lungs = ph.image[(ph.lungs > 0) & ~lesion]
    assert -900 < np.median(lungs) < -750  # aerated lung
    if kind == "covid":
        assert -750 < np.median(hu) < -250  # ground glass
    elif kind == "nodule":
        assert np.median(hu) > -650  # solid or part-solid
    else:
        assert -50 < np.median(hu) < 120  # soft tissue or fluid
    if kind == "effusion":  # dependent, in the pleural space: posterior, displacing the lung
        ys = np.nonzero(lesion)[1]
        assert np.median(ys) < lesion.shape[1] / 2
        assert not (ph.lungs[lesion] > 0).any()
        # the patient's primary tumour is in the lung, solid and unlabelled: far more dense unlabelled lung
        # voxels than the vessels alone give (the covid case of the same seed)
        dense = lambda p: int(((p.image > 10) & (p.lungs > 0) & (p.lesion == 0)).sum())  # noqa: E731
        assert dense(ph) > 1.5 * dense(make_phantom("covid", sc, [0, 0]))


def test_data_of_an_older_generator_is_refused(tmp_path):
    import json

    from transferbench.data.synthetic import MANIFEST, is_prepared
    from transferbench.errors import DataError

    assert not is_prepared(tmp_path)
    (tmp_path / MANIFEST).write_text(json.dumps({"params": {"generator_version": 1}}))
    with pytest.raises(DataError, match="generator version 1.*delete the folder"):
        is_prepared(tmp_path)


def test_generator_refuses_a_foreign_folder_and_completes_its_own(tmp_path):
    import json

    import pytest

    from transferbench.data.synthetic import CLAIM, MANIFEST, prepare_synthetic, synthetic_params
    from transferbench.errors import DataError

    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("a user's file")
    with pytest.raises(DataError, match="not empty and not a synthetic benchmark"):
        prepare_synthetic(foreign, n_source_cases=2, verbose=False)
    assert sorted(p.name for p in foreign.iterdir()) == ["notes.txt"]  # nothing written
    interrupted = tmp_path / "interrupted"  # a generation killed after its first files
    interrupted.mkdir()
    (interrupted / CLAIM).write_text(json.dumps(synthetic_params(0, 2)))
    (interrupted / "COVID-19-CT-Seg").mkdir()
    prepare_synthetic(interrupted, n_source_cases=2, verbose=False, workers=1)
    assert (interrupted / MANIFEST).is_file()


def test_held_out_validation_cases_are_outside_the_benchmark_and_only_validated_on(synthetic_root):
    from transferbench.data.datamodule import CTSegDataModule
    from transferbench.data.splits import benchmark_splits
    from transferbench.data.synthetic import N_HELDOUT, heldout_case_ids

    ids = heldout_case_ids()
    assert len(ids) == N_HELDOUT and not set(ids) & set(benchmark_splits()["covid19_ct_seg"]["cases"])
    dm = CTSegDataModule(root=str(synthetic_root), val_source="synthetic_heldout", train_cases=2)
    cases = dm.resolve_cases()
    assert [c.case_id for c in cases["val"]] == ids
    used = {c.case_id for k in ("train", "test") for c in cases[k]}
    assert len(used) == 18 and not used & set(ids)  # 2 labelled + 16 test cases, none held out
    for c in cases["val"]:  # COVID-like: a lesion in every held-out case
        assert nib.load(c.label).get_fdata().sum() > 0
    with pytest.raises(DataError, match="give one"):
        CTSegDataModule(root=str(synthetic_root), val_source="synthetic_heldout", val_cases=["heldout_001"])
