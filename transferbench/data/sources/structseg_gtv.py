"""StructSeg 2019 task 3: lung gross tumour volume in 50 radiotherapy planning CTs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from transferbench.data.sources.base import Source, nii, register_source


@register_source
@dataclass
class StructSegGTV(Source):
    """<n>/data.nii.gz and <n>/label.nii.gz for n = 1..50 (StructSeg 2019 task 3); case n is train_<n>."""

    name: ClassVar[str] = "structseg_gtv"
    description: ClassVar[str] = "StructSeg 2019 lung gross tumour volume (50 CTs)"
    dirname: ClassVar[str] = "StructSeg2019_Lung_GTV"
    aliases: ClassVar[tuple[str, ...]] = ("Task3_Lung_GTV_Segmentation", "Lung_GTV")
    lesion: ClassVar[str] = "gtv"
    accepted: ClassVar[tuple[str, ...]] = (
        "challenge layout <n>/data.nii.gz + <n>/label.nii.gz, n = 1..50 (case id train_<n>); .nii accepted",
        "dataset folder: the root itself or root/StructSeg2019_Lung_GTV (or Task3_Lung_GTV_Segmentation, Lung_GTV)",
    )

    def case_ids(self, base: Path) -> list[str]:
        nums = [int(p.name) for p in base.iterdir() if p.is_dir() and p.name.isdigit()]
        return [f"train_{n}" for n in sorted(nums)]

    def case_paths(self, base: Path, case_id: str) -> tuple[Path, Path]:
        folder = base / case_id.removeprefix("train_")
        return nii(folder, "data"), nii(folder, "label")
