"""Score any folder of predicted masks against references with the benchmark's per-case code.

Lets outside methods (an nnU-Net run, a published model) be placed on the same leaderboard: files are
matched by case id (the file name without ``.nii`` / ``.nii.gz``), spacing comes from the reference header.
Nothing is scored silently wrong: a prediction on the same world grid stored in another orientation is
reoriented to the reference's voxel order, a different grid is an error naming the case, label values the
references do not have are refused (``threshold`` / ``label_map`` say how to read probability maps or
0/255 masks), a pair with both masks empty keeps its row (NaN, as in training), and every good case is
scored while every bad one is listed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
from nibabel.orientations import apply_orientation, inv_ornt_aff, io_orientation, ornt_transform

from transferbench.data.io import load_nifti, read_array
from transferbench.errors import DataError
from transferbench.evaluation.metrics import case_metrics
from transferbench.files import atomic_write_text


@dataclass
class Evaluation:
    """Per-case scores of the good cases, and what was wrong with the others (file and reason)."""

    scores: pd.DataFrame
    problems: list[str] = field(default_factory=list)


def _by_case(folder: Path, problems: list[str]) -> dict[str, Path]:
    if not folder.is_dir():
        raise DataError(f"{folder}: folder does not exist")
    out: dict[str, Path] = {}
    for p in sorted(folder.iterdir()):
        for ext in (".nii.gz", ".nii"):
            if p.name.endswith(ext):
                case = p.name[: -len(ext)]
                if case in out:
                    keep = out[case] if out[case].name.endswith(".gz") else p
                    problems.append(f"{folder}: {case} has both .nii and .nii.gz; scored {keep.name}")
                    out[case] = keep
                else:
                    out[case] = p
                break
    if not out:
        raise DataError(f"{folder}: no .nii or .nii.gz files")
    return out


def _on_reference_grid(
    pred_img: nib.Nifti1Image, ref_img: nib.Nifti1Image, atol_mm: float = 1e-3
) -> np.ndarray:
    """The prediction in the reference's voxel order: reoriented when it is the same world grid stored in
    another orientation, an error when the grids differ (or the prediction is not a readable 3D mask)."""
    pred = read_array(pred_img.get_filename() or "prediction", pred_img)
    if pred.ndim == 4 and pred.shape[3] == 1:
        pred = pred[..., 0]
    if pred.ndim != 3:
        raise DataError(
            f"{pred.ndim}D mask of shape {pred.shape}; a prediction is a 3D mask on the reference grid"
        )
    if pred.shape[:3] == ref_img.shape[:3] and np.allclose(pred_img.affine, ref_img.affine, atol=atol_mm):
        return pred
    transform = ornt_transform(io_orientation(pred_img.affine), io_orientation(ref_img.affine))
    moved = apply_orientation(pred, transform)
    affine = pred_img.affine @ inv_ornt_aff(transform, pred.shape)
    if moved.shape[:3] == ref_img.shape[:3] and np.allclose(affine, ref_img.affine, atol=atol_mm):
        return moved
    raise DataError(
        f"grid {pred.shape[:3]} with affine {np.round(pred_img.affine, 3).tolist()} is not the reference's "
        f"{ref_img.shape[:3]} / {np.round(ref_img.affine, 3).tolist()} (resample it onto the reference first)"
    )


def _labels(
    pred: np.ndarray, allowed: set[int], threshold: float | None, label_map: dict[int, int]
) -> np.ndarray:
    finite = np.isfinite(pred)
    if not finite.all():
        raise DataError(
            f"{int((~finite).sum())} label voxels are NaN or infinite; a mask holds class indices"
        )
    if threshold is not None:
        pred = (pred >= threshold).astype(np.uint8)
    if label_map:
        pred = np.vectorize(lambda v: label_map.get(int(v), int(v)), otypes=[np.int64])(pred)
    values = np.unique(pred)
    bad = [v for v in values.tolist() if v != int(v) or int(v) not in allowed]
    if bad:
        raise DataError(
            f"label values {sorted(bad)[:5]} that the references do not have ({sorted(allowed)}); a probability "
            "map needs --threshold (e.g. 0.5), a 0/255 mask --label-map 255:1"
        )
    return pred.astype(np.int64)


def evaluate_folder(
    pred_dir: str | Path,
    ref_dir: str | Path,
    tolerance_mm: float = 3.0,
    out: str | Path | None = None,
    threshold: float | None = None,
    label_map: dict[int, int] | None = None,
    cases: list[str] | None = None,
    fold: int | None = None,
) -> Evaluation:
    """Score every prediction that has a reference; the CSV (``out``) holds every good case.

    ``cases``: score only these (e.g. one benchmark fold's test cases, ``evaluate --fold K``); each must have
    a reference, and predictions of other cases are left aside. ``fold`` is recorded as a column.
    """
    problems: list[str] = []
    preds, refs = _by_case(Path(pred_dir), problems), _by_case(Path(ref_dir), problems)
    if cases is not None:
        unknown = sorted(set(cases) - set(refs))
        if unknown:
            raise DataError(
                f"{ref_dir}: no reference for {len(unknown)} selected case(s): {', '.join(unknown)}"
            )
        refs = {c: refs[c] for c in cases}
        preds = {c: p for c, p in preds.items() if c in refs}
    missing = sorted(set(refs) - set(preds))
    if missing:
        problems.append(
            f"{pred_dir}: no prediction for {len(missing)} reference case(s): {', '.join(missing)}"
        )
    extra = sorted(set(preds) - set(refs))
    if extra:
        problems.append(
            f"{pred_dir}: {len(extra)} prediction(s) without a reference, not scored: {', '.join(extra)}"
        )
    loaded = {case: (load_nifti(p), p) for case, p in refs.items()}
    arrays = {case: read_array(p, img) for case, (img, p) in loaded.items()}
    allowed = {int(v) for a in arrays.values() for v in np.unique(a)} | {0, 1}
    classes = sorted(allowed - {0})
    rows = []
    for case in sorted(set(refs) & set(preds)):
        ref_img, _ = loaded[case]
        try:
            pred = _labels(
                _on_reference_grid(load_nifti(preds[case]), ref_img), allowed, threshold, label_map or {}
            )
        except DataError as err:
            problems.append(f"{preds[case]}: {str(err).removeprefix(f'{preds[case]}: ')}")
            continue
        spacing = ref_img.header.get_zooms()[:3]
        for cls in classes:
            rows.append({"case": case, "class": cls,
                         **case_metrics(pred == cls, arrays[case] == cls, spacing, tolerance_mm)})  # fmt: skip
    columns = ["case", "class", "dsc", "nsd", "hd95_mm", "gt_ml", "pred_ml"]
    df = pd.DataFrame(rows, columns=columns).rename(columns={"nsd": f"nsd_{tolerance_mm:g}mm"})
    if fold is not None:
        df.insert(0, "fold", fold)
    _write(df, out, problems)
    return Evaluation(df, problems)


def _write(df: pd.DataFrame, out: str | Path | None, problems: list[str]) -> None:
    """The scores CSV, never a header-only one (a run where no case could be scored writes nothing)."""
    if out is not None and len(df):
        atomic_write_text(Path(out), df.to_csv(index=False))
    elif out is not None:
        problems.append(f"{out}: not written, no case could be scored")
