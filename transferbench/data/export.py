"""Hand a dataset to nnU-Net v2 on exactly the benchmark's folds (``transferbench export nnunet``).

Writes an nnU-Net v2 *raw* dataset (``imagesTr/<case>_0000.nii.gz``, ``labelsTr/<case>.nii.gz``,
``dataset.json`` with the channel named ``CT`` so nnU-Net applies its CT normalisation) and
``splits_final.json``: one ``{"train": [...], "val": [...]}`` per fold. For COVID-19-CT-Seg the folds are the
shipped benchmark folds, ``val`` holding each fold's *test* cases (nnU-Net's final validation of a fold is then
the benchmark's test, as in the benchmark's own nnU-Net runs); for another source its train / val split.
Copy ``splits_final.json`` into ``nnUNet_preprocessed/<Dataset>/`` after ``nnUNetv2_plan_and_preprocess``.
Images stored windowed to 0..255 (the radiopaedia half of COVID-19-CT-Seg) are written back in HU
(``HU_WINDOW``): nnU-Net's CT normalisation clips every image to the training set's foreground HU
percentiles, so a 0..255 image beside HU images would be clipped to a constant; ``keep_storage`` copies them
as stored. The folder is written under a temporary name and renamed when complete, so a failure leaves
nothing half written.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np

from transferbench.data.intensity import HU_WINDOW, storage_of
from transferbench.data.io import inspect_pair_once
from transferbench.data.sources import create_source
from transferbench.data.splits import benchmark_splits, source_split
from transferbench.errors import DataError

TARGET = "covid19_ct_seg"


def nnunet_folds(dataset: str, case_ids: list[str], fold_scheme: str = "folds_4_train") -> list[dict]:
    """nnU-Net's ``splits_final.json`` content for ``dataset``: the benchmark folds, or the source split."""
    if dataset == TARGET:
        folds = benchmark_splits()[TARGET][fold_scheme]
        return [{"train": list(f["train"]), "val": list(f["test"])} for f in folds]
    split = source_split(dataset, sorted(case_ids))
    return [{"train": split["train"], "val": split["val"]}]


def _copy_nifti(src: Path, dst: Path) -> None:
    if src.name.endswith(".nii.gz"):
        shutil.copyfile(src, dst)
    else:  # nnU-Net takes one file ending per dataset: store .nii as .nii.gz
        nib.save(nib.load(str(src)), str(dst))


def _image_in_hu(src: Path, dst: Path) -> bool:
    """Write ``src`` to ``dst`` in HU; True when it was stored 0..255 and so converted."""
    img = nib.load(str(src))
    data = np.asanyarray(img.dataobj)
    if storage_of(data, str(src)) != "u8":
        _copy_nifti(src, dst)
        return False
    lo, hi = HU_WINDOW
    hu = np.round(data.astype(np.float32) / 255.0 * (hi - lo) + lo).astype(np.int16)
    out = nib.Nifti1Image(hu, img.affine, img.header)
    out.set_data_dtype(np.int16)
    out.header.set_slope_inter(1.0, 0.0)
    nib.save(out, str(dst))
    return True


def export_nnunet(
    dataset: str,
    root: str | Path,
    out: str | Path,
    dataset_id: int = 501,
    fold_scheme: str = "folds_4_train",
    label_mode: str = "infection",
    overwrite: bool = False,
    keep_storage: bool = False,
) -> tuple[Path, int]:
    """Write ``<out>/Dataset<id>_<name>/`` (raw dataset + ``splits_final.json``); returns its path and the
    number of images converted from 0..255 storage to HU."""
    source = create_source(dataset, **({"label_mode": label_mode} if dataset == TARGET else {}))
    cases = source.find_cases(root)
    problems = [p for c in cases for p in inspect_pair_once(c.image, c.label, source.label_values)[1]]
    if problems:
        raise DataError(
            f"{len(problems)} problem(s) in {source.locate(root)} (see `transferbench data check`):\n"
            + "\n".join(f"  - {path}: {msg}" for path, msg in sorted(problems))
        )
    folds = nnunet_folds(dataset, [c.case_id for c in cases], fold_scheme)
    absent = sorted({c for f in folds for part in f.values() for c in part} - {c.case_id for c in cases})
    if absent:
        raise DataError(
            f"{source.locate(root)}: {len(absent)} case(s) of the folds are missing: {', '.join(absent)}"
        )
    name = "".join(ch for ch in source.dirname.replace("-", "") if ch.isalnum()) or dataset
    final = Path(out) / f"Dataset{dataset_id:03d}_{name}"
    if final.exists() and not overwrite:
        raise DataError(f"{final}: exists; pass --overwrite to replace it")
    tmp = final.with_name(final.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "imagesTr").mkdir(parents=True)
    (tmp / "labelsTr").mkdir()
    converted = 0
    for c in cases:
        image = tmp / "imagesTr" / f"{c.case_id}_0000.nii.gz"
        if keep_storage:
            _copy_nifti(c.image, image)
        else:
            converted += _image_in_hu(c.image, image)
        _copy_nifti(c.label, tmp / "labelsTr" / f"{c.case_id}.nii.gz")
    classes = sorted(source.label_values - {0})
    lesion = label_mode if dataset == TARGET else "lesion"
    labels = {"background": 0, **({lesion: 1} if classes == [1] else {f"class_{v}": v for v in classes})}
    meta = {
        "name": final.name,
        "description": f"{dataset} exported by transferbench ({fold_scheme if dataset == TARGET else 'source split'}"
        + (f"; {converted} image(s) stored 0..255 written back in HU)" if converted else ")"),
        "channel_names": {"0": "CT"},
        "labels": labels,
        "numTraining": len(cases),
        "file_ending": ".nii.gz",
    }
    (tmp / "dataset.json").write_text(json.dumps(meta, indent=2) + "\n")
    (tmp / "splits_final.json").write_text(json.dumps(folds, indent=2) + "\n")
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)
    return final, converted
