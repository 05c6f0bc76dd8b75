"""LIDC-IDRI lung nodules, read from the NIfTI export that ``transferbench data prepare lidc_idri`` writes."""

from __future__ import annotations

from pathlib import Path

from transferbench.data.sources.base import Source, nii, register_source, stems

ACCEPTED = (
    "images/LIDC-IDRI-XXXX.nii(.gz) + masks/LIDC-IDRI-XXXX.nii(.gz): the layout `transferbench data "
    "prepare lidc_idri` writes from the DICOM + XML release (pylidc consensus masks)",
    "dataset folder: the root itself or root/LIDC-IDRI_nifti",
)


@register_source
class LIDCIDRI(
    Source,
    name="lidc_idri",
    dirname="LIDC-IDRI_nifti",
    description="LIDC-IDRI lung nodules, as NIfTI image/mask pairs (1010 CTs)",
    accepted=ACCEPTED,
):
    """images/LIDC-IDRI-XXXX.nii.gz and masks/LIDC-IDRI-XXXX.nii.gz (NIfTI export of nodule consensus masks)."""

    def case_ids(self, base: Path) -> list[str]:
        return stems(base / "images")

    def case_paths(self, base: Path, case_id: str) -> tuple[Path, Path]:
        return nii(base / "images", case_id), nii(base / "masks", case_id)
