"""StructSeg 2019 task 3: lung gross tumour volume in 50 radiotherapy planning CTs."""

from __future__ import annotations

from pathlib import Path

from transferbench.data.sources.base import Source, nii, register_source

ACCEPTED = (
    "challenge layout <n>/data.nii.gz + <n>/label.nii.gz, n = 1..50 (case id train_<n>); .nii accepted",
    "dataset folder: the root itself or root/StructSeg2019_Lung_GTV (or Task3_Lung_GTV_Segmentation, Lung_GTV)",
)


@register_source
class StructSegGTV(
    Source,
    name="structseg_gtv",
    dirname="StructSeg2019_Lung_GTV",
    aliases=("Task3_Lung_GTV_Segmentation", "Lung_GTV"),
    description="StructSeg 2019 lung gross tumour volume (50 CTs)",
    accepted=ACCEPTED,
):
    """<n>/data.nii.gz and <n>/label.nii.gz for n = 1..50 (StructSeg 2019 task 3); case n is train_<n>."""

    def case_ids(self, base: Path) -> list[str]:
        nums = [int(p.name) for p in base.iterdir() if p.is_dir() and p.name.isdigit()]
        return [f"train_{n}" for n in sorted(nums)]

    def case_paths(self, base: Path, case_id: str) -> tuple[Path, Path]:
        folder = base / case_id.removeprefix("train_")
        return nii(folder, "data"), nii(folder, "label")
