"""Score any folder of predicted masks against references with the benchmark's per-case code.

Lets outside methods (an nnU-Net run, a published model) be placed on the same leaderboard: files are
matched by case id (the file name without ``.nii`` / ``.nii.gz``), spacing comes from the reference header.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from transferbench.data.io import load_nifti, read_array
from transferbench.errors import DataError
from transferbench.evaluation.metrics import case_metrics
from transferbench.files import atomic_write_text


def _by_case(folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        raise DataError(f"{folder}: folder does not exist")
    out = {}
    for p in sorted(folder.iterdir()):
        for ext in (".nii.gz", ".nii"):
            if p.name.endswith(ext):
                out[p.name[: -len(ext)]] = p
    if not out:
        raise DataError(f"{folder}: no .nii or .nii.gz files")
    return out


def evaluate_folder(
    pred_dir: str | Path, ref_dir: str | Path, tolerance_mm: float = 3.0, out: str | Path | None = None
) -> pd.DataFrame:
    preds, refs = _by_case(Path(pred_dir)), _by_case(Path(ref_dir))
    missing = sorted(set(refs) - set(preds))
    if missing:
        raise DataError(
            f"{pred_dir}: no prediction for {len(missing)} reference case(s): {', '.join(missing)}"
        )
    rows = []
    for case, ref_path in refs.items():
        ref_img = load_nifti(ref_path)
        ref = read_array(ref_path, ref_img)
        pred = read_array(preds[case])
        if pred.shape != ref.shape:
            raise DataError(f"{preds[case]}: shape {pred.shape} differs from the reference's {ref.shape}")
        spacing = ref_img.header.get_zooms()[:3]
        classes = sorted({int(v) for v in np.unique(ref)} | {int(v) for v in np.unique(pred)} - {0}) or [1]
        for cls in [c for c in classes if c != 0]:
            rows.append(
                {"case": case, "class": cls, **case_metrics(pred == cls, ref == cls, spacing, tolerance_mm)}
            )
    df = pd.DataFrame(rows).rename(columns={"nsd": f"nsd_{tolerance_mm:g}mm"})
    if out is not None:
        atomic_write_text(Path(out), df.to_csv(index=False))
    return df
