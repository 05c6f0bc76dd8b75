"""Domain similarity measured on the data: how alike each source's lesions are to the target's.

Read from the image and label files (never from a generator's parameters), so the same table describes
the synthetic benchmark and a real download. Per source, against the target's lesions:

- ``intensity_overlap``: histogram intersection of lesion HU (25 HU bins, -1100..300 HU);
- ``location_overlap``: histogram intersection of lesion voxel positions in body-box coordinates (each
  axis of the body's bounding box in RAS split in 4, so 64 cells: left/right, posterior/anterior, base/apex);
- ``size_overlap``: histogram intersection of log10 lesion component volumes (ml), beside the median
  component volume and the median lesion volume per case;
- ``elongation``: median minor / major principal-axis ratio of lesion components (1 = round), a shape
  descriptor.

Intersections lie in [0, 1]; the target against itself scores 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
from scipy import ndimage

from transferbench.data.intensity import HU_WINDOW, storage_of
from transferbench.errors import DataError

HU_EDGES = np.arange(-1100.0, 301.0, 25.0)
SIZE_EDGES = np.linspace(-3.0, 3.0, 25)  # log10 ml
CELLS = 4
BODY_HU = -500.0
MIN_COMPONENT_VOXELS = 10  # smaller components get no elongation (too few voxels for a shape)


@dataclass
class LesionStats:
    """Lesion statistics pooled over the cases of one domain."""

    hu: np.ndarray = field(default_factory=lambda: np.zeros(len(HU_EDGES) - 1))
    location: np.ndarray = field(default_factory=lambda: np.zeros((CELLS,) * 3))
    component_ml: list[float] = field(default_factory=list)
    case_ml: list[float] = field(default_factory=list)
    elongation: list[float] = field(default_factory=list)
    n_cases: int = 0

    def add(self, other: LesionStats) -> None:
        self.hu += other.hu
        self.location += other.location
        self.component_ml += other.component_ml
        self.case_ml += other.case_ml
        self.elongation += other.elongation
        self.n_cases += other.n_cases


def _hu(image: nib.Nifti1Image, name: str) -> np.ndarray:
    data = np.asarray(image.dataobj, dtype=np.float32)
    if storage_of(data, name) == "u8":  # windowed 0..255 storage back to HU
        lo, hi = HU_WINDOW
        data = data / 255.0 * (hi - lo) + lo
    return data


def _elongation(coords_mm: np.ndarray) -> float:
    eig = np.sort(np.linalg.eigvalsh(np.cov(coords_mm.T)))
    return float(math.sqrt(max(eig[0], 0.0) / eig[-1])) if eig[-1] > 0 else math.nan


def case_stats(image_path: str | Path, label_path: str | Path) -> LesionStats:
    """One case's lesion statistics (every foreground label counts as lesion), in RAS orientation."""
    img = nib.as_closest_canonical(nib.load(str(image_path)))
    lab = nib.as_closest_canonical(nib.load(str(label_path)))
    hu = _hu(img, str(image_path))
    mask = np.asarray(lab.dataobj) > 0
    spacing = np.asarray(img.header.get_zooms()[:3], dtype=float)
    voxel_ml = float(np.prod(spacing)) / 1000.0
    stats = LesionStats(n_cases=1)
    stats.case_ml.append(float(mask.sum()) * voxel_ml)
    if not mask.any():
        return stats
    stats.hu += np.histogram(np.clip(hu[mask], HU_EDGES[0], HU_EDGES[-1] - 1e-3), HU_EDGES)[0]
    body = np.argwhere(hu > BODY_HU)
    lo, hi = body.min(axis=0), body.max(axis=0) + 1
    where = np.argwhere(mask)
    cells = np.clip(((where - lo) / np.maximum(hi - lo, 1) * CELLS).astype(int), 0, CELLS - 1)
    np.add.at(stats.location, tuple(cells.T), 1)
    components, n = ndimage.label(mask)
    sizes = np.bincount(components.ravel())[1:]
    stats.component_ml += [float(s) * voxel_ml for s in sizes]
    for i in np.flatnonzero(sizes >= MIN_COMPONENT_VOXELS):
        stats.elongation.append(_elongation(np.argwhere(components == i + 1) * spacing))
    return stats


def domain_stats(pairs: list[tuple[Path, Path]]) -> LesionStats:
    total = LesionStats()
    for image, label in pairs:
        total.add(case_stats(image, label))
    return total


def intersection(p: np.ndarray, q: np.ndarray) -> float:
    """Histogram intersection of two count arrays after normalising each to sum 1 (NaN if one is empty)."""
    p, q = np.asarray(p, dtype=float).ravel(), np.asarray(q, dtype=float).ravel()
    if p.sum() == 0 or q.sum() == 0:
        return math.nan
    return float(np.minimum(p / p.sum(), q / q.sum()).sum())


def _size_hist(ml: list[float]) -> np.ndarray:
    return np.histogram(
        np.clip(np.log10(np.asarray(ml) + 1e-9), SIZE_EDGES[0], SIZE_EDGES[-1] - 1e-9), SIZE_EDGES
    )[0]


def similarity_table(target: LesionStats, sources: dict[str, LesionStats]) -> pd.DataFrame:
    """One row per domain (the target first, as its own reference) against the target's lesions."""
    rows = []
    for name, s in sources.items():
        rows.append({
            "source": name,
            "n_cases": s.n_cases,
            "intensity_overlap": intersection(s.hu, target.hu),
            "location_overlap": intersection(s.location, target.location),
            "size_overlap": intersection(_size_hist(s.component_ml), _size_hist(target.component_ml)),
            "median_component_ml": float(np.median(s.component_ml)) if s.component_ml else math.nan,
            "median_case_ml": float(np.median(s.case_ml)) if s.case_ml else math.nan,
            "elongation": float(np.nanmedian(s.elongation)) if s.elongation else math.nan,
            "median_lesion_hu": _median_hu(s.hu),
        })  # fmt: skip
    return pd.DataFrame(rows)


def _median_hu(hist: np.ndarray) -> float:
    if hist.sum() == 0:
        return math.nan
    centres = (HU_EDGES[:-1] + HU_EDGES[1:]) / 2
    return float(centres[np.searchsorted(np.cumsum(hist), hist.sum() / 2)])


def measure(
    root: str | Path, target: str = "covid19_ct_seg", sources: list[str] | None = None
) -> pd.DataFrame:
    """The similarity table of every registered source found under ``root`` (or ``sources``)."""
    from transferbench.data.sources import create_source, list_sources, source_class

    def pairs(name: str) -> list[tuple[Path, Path]]:
        src = create_source(name, **({"label_mode": "infection"} if name == target else {}))
        try:
            return [(c.image, c.label) for c in src.find_cases(root)]
        except (DataError, FileNotFoundError):  # a source absent from this root is not in the table
            return []

    not_sources = (target, "synthetic_heldout")  # the held-out validation cases are the target's own domain
    names = (
        sources
        if sources is not None
        else [
            n
            for n in list_sources()
            if n not in not_sources and source_class(n).labelled  # pools have no lesions
        ]
    )
    found = {n: p for n in [target, *names] if (p := pairs(n))}
    if target not in found:
        raise DataError(f"{root}: no {target} cases to compare the sources with")
    stats = {n: domain_stats(p) for n, p in found.items()}
    return similarity_table(stats[target], stats)


def write_similarity(root: str | Path, out: str | Path | None = None) -> tuple[pd.DataFrame, Path]:
    """Measure ``root`` and write ``similarity.csv`` (beside the benchmark unless ``out`` says where)."""
    from transferbench.files import atomic_write_text

    table = measure(root)
    path = Path(out) if out is not None else Path(root) / "similarity.csv"
    atomic_write_text(path, table.to_csv(index=False))
    return table, path
