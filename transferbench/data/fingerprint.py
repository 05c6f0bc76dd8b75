"""Dataset fingerprint, as nnU-Net computes one: spacings, shapes, foreground intensities, class ratios.

Stored beside the preprocessed cache (keyed by the files' identity, so a changed dataset gets a new one) and
used to choose the target spacing (``target_spacing``: nnU-Net's rule, in RAS axes) when a config does not
fix it, and the CT normalisation of the ``nnunet`` pipeline (``foreground_intensity_hu``).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import nibabel as nib
import numpy as np

from transferbench.data.intensity import HU_WINDOW, storage_of
from transferbench.data.io import load_nifti, read_array
from transferbench.data.sources import Case
from transferbench.files import atomic_write_text

FINGERPRINT_VERSION = 2
ANISO_THRESHOLD = 3.0  # nnU-Net's nnunetv2.configuration.ANISO_THRESHOLD
SAMPLES_PER_CASE = 10_000  # foreground voxels sampled per case for the intensity statistics (nnU-Net's 10k)


def ras_spacing(img: nib.Nifti1Image) -> tuple[float, float, float]:
    """Voxel spacing along the R, A, S axes (header zooms are in storage order, which varies)."""
    zooms = img.header.get_zooms()[:3]
    out = [0.0, 0.0, 0.0]
    for axis, (ras_axis, _) in enumerate(nib.io_orientation(img.affine)):
        out[int(ras_axis)] = float(zooms[axis])
    return tuple(out)


def _case_stats(case: Case, rng: np.random.Generator) -> dict:
    img = load_nifti(case.image)
    image = read_array(case.image, img).astype(np.float32)
    label = np.asarray(read_array(case.label)).round().astype(np.int64)
    if storage_of(image, str(case.image)) == "u8":  # back to HU so both storages share one scale
        lo, hi = HU_WINDOW
        image = lo + image / 255.0 * (hi - lo)
    fg = image[label > 0]
    sample = rng.choice(fg, size=min(SAMPLES_PER_CASE, fg.size), replace=False) if fg.size else fg
    values, counts = np.unique(label, return_counts=True)
    return {
        "spacing": ras_spacing(img),
        "shape": [int(v) for v in img.shape[:3]],
        "sample": sample,
        "counts": {int(v): int(c) for v, c in zip(values, counts)},
    }


def compute_fingerprint(source: str, cases: list[Case], seed: int = 0) -> dict:
    """Fingerprint of ``cases`` (all read once); intensities in HU, spacings in mm along R, A, S."""
    rng = np.random.default_rng(seed)
    stats = [_case_stats(c, rng) for c in cases]
    spacings = np.array([s["spacing"] for s in stats])
    shapes = np.array([s["shape"] for s in stats])
    fg = np.concatenate([s["sample"] for s in stats]) if stats else np.zeros(0)
    totals: dict[int, int] = {}
    for s in stats:
        for v, c in s["counts"].items():
            totals[v] = totals.get(v, 0) + c
    n_voxels = sum(totals.values()) or 1
    pct = (lambda q: float(np.percentile(fg, q))) if fg.size else (lambda q: float("nan"))
    return {
        "version": FINGERPRINT_VERSION,
        "source": source,
        "n_cases": len(cases),
        "spacings": [[float(v) for v in row] for row in spacings],
        "shapes": [[int(v) for v in row] for row in shapes],
        "median_spacing": [float(v) for v in np.median(spacings, axis=0)] if stats else None,
        "target_spacing": target_spacing(spacings, shapes) if stats else None,
        "spacing_min": [float(v) for v in spacings.min(axis=0)] if stats else None,
        "spacing_max": [float(v) for v in spacings.max(axis=0)] if stats else None,
        "median_shape": [int(v) for v in np.median(shapes, axis=0)] if stats else None,
        "foreground_intensity_hu": {
            "p00_5": pct(0.5),
            "p50": pct(50),
            "p99_5": pct(99.5),
            "mean": float(fg.mean()) if fg.size else float("nan"),
            "std": float(fg.std()) if fg.size else float("nan"),
        },
        "class_ratios": {str(v): totals[v] / n_voxels for v in sorted(totals)},
        "cases_without_foreground": int(sum(1 for s in stats if s["sample"].size == 0)),
    }


def target_spacing(
    spacings: np.ndarray, shapes: np.ndarray, threshold: float = ANISO_THRESHOLD
) -> list[float]:
    """nnU-Net v2's full-resolution target spacing (``determine_fullres_target_spacing``): the median per
    axis, except when the coarsest axis is over ``threshold`` x coarser than the others *and* has over
    ``threshold`` x fewer voxels: then that axis takes the 10th percentile of its spacings, but never finer
    than the other axes. Deviation: nnU-Net's sizes are the shapes after its nonzero crop; here the stored
    shapes (the body crop happens after resampling)."""
    spacings, shapes = np.asarray(spacings, float), np.asarray(shapes, float)
    target = np.percentile(spacings, 50, axis=0)
    size = np.percentile(shapes, 50, axis=0)
    worst = int(np.argmax(target))
    others = [i for i in range(len(target)) if i != worst]
    aniso_spacing = target[worst] > threshold * max(target[i] for i in others)
    aniso_voxels = size[worst] * threshold < min(size[i] for i in others)
    if aniso_spacing and aniso_voxels:
        value = float(np.percentile(spacings[:, worst], 10))
        if value < max(target[i] for i in others):
            value = max(max(target[i] for i in others), value) + 1e-5
        target[worst] = value
    return [float(v) for v in target]


def _key(cases: list[Case]) -> str:
    ids = [
        [c.case_id, str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns]
        for c in cases
        for p in (c.image, c.label)
    ]
    return hashlib.sha1(json.dumps([FINGERPRINT_VERSION, ids]).encode()).hexdigest()[:12]


def dataset_fingerprint(source: str, cases: list[Case], cache_dir: str | Path) -> dict:
    """The fingerprint of ``cases``, computed once and stored in ``<cache_dir>/fingerprints/``."""
    path = Path(cache_dir) / "fingerprints" / f"{source}__{_key(cases)}.json"
    if path.is_file():
        return json.loads(path.read_text())
    fp = compute_fingerprint(source, cases)
    atomic_write_text(path, json.dumps(fp, indent=1))
    return fp
