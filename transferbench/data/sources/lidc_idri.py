"""LIDC-IDRI lung nodules, read from the NIfTI export that ``transferbench data prepare lidc_idri`` writes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from transferbench.data.sources.base import Source, nii, register_source, stems


@register_source
@dataclass
class LIDCIDRI(Source):
    """images/LIDC-IDRI-XXXX.nii.gz and masks/LIDC-IDRI-XXXX.nii.gz (NIfTI export of nodule consensus masks)."""

    name: ClassVar[str] = "lidc_idri"
    description: ClassVar[str] = "LIDC-IDRI lung nodules, as NIfTI image/mask pairs (1010 CTs)"
    dirname: ClassVar[str] = "LIDC-IDRI_nifti"
    lesion: ClassVar[str] = "nodule"
    accepted: ClassVar[tuple[str, ...]] = (
        "images/LIDC-IDRI-XXXX.nii(.gz) + masks/LIDC-IDRI-XXXX.nii(.gz): the layout `transferbench data "
        "prepare lidc_idri` writes from the DICOM + XML release (pylidc consensus masks)",
        "dataset folder: the root itself or root/LIDC-IDRI_nifti",
    )

    def case_ids(self, base: Path) -> list[str]:
        return stems(base / "images")

    def case_paths(self, base: Path, case_id: str) -> tuple[Path, Path]:
        return nii(base / "images", case_id), nii(base / "masks", case_id)
