"""The public benchmark's published numbers (Ma et al. 2021, 3D nnU-Net, infection, percent).

Printed beside the matching leaderboard rows when the target is the real COVID-19-CT-Seg:
``scratch`` = Task 1, ``source_only`` = Task 2, ``joint`` = Task 3 (single sources).
"""

from __future__ import annotations

# (strategy name, source members) -> (DSC mean, DSC sd, NSD mean, NSD sd)
REFERENCE: dict[tuple[str, tuple[str, ...]], tuple[float, float, float, float]] = {
    ("scratch", ()): (67.3, 22.3, 70.0, 24.4),
    ("source_only", ("msd_lung_tumor",)): (25.2, 27.4, 26.0, 28.5),
    ("source_only", ("structseg_gtv",)): (6.0, 12.7, 5.5, 10.7),
    ("source_only", ("nsclc_pleural_effusion",)): (0.4, 0.9, 3.7, 4.8),
    ("joint", ("msd_lung_tumor",)): (62.3, 25.7, 61.3, 27.6),
    ("joint", ("structseg_gtv",)): (64.2, 24.5, 63.3, 25.7),
    ("joint", ("nsclc_pleural_effusion",)): (60.2, 25.4, 58.5, 26.7),
}
SCRATCH_16_TRAIN = (77.7, 18.7, 80.8, 19.9)  # Task 1 with the 16-training-case folds


def reference_for(strategy: str, sources: tuple[str, ...], fold_scheme: str = "folds_4_train") -> str:
    """``"DSC 67.3 +- 22.3 / NSD 70.0 +- 24.4"`` for a matching row, else ``""``."""
    ref = REFERENCE.get((strategy, tuple(sources)))
    if strategy == "scratch" and fold_scheme == "folds_16_train":
        ref = SCRATCH_16_TRAIN
    if ref is None:
        return ""
    return f"DSC {ref[0]:.1f} +- {ref[1]:.1f} / NSD {ref[2]:.1f} +- {ref[3]:.1f}"
