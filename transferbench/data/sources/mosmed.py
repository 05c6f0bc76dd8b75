"""MosMedData (Morozov et al. 2020): 50 COVID-19 CTs with infection masks, an extra test set for the target."""

from __future__ import annotations

from pathlib import Path

from transferbench.data.sources.base import Source, nifti_files, nii, register_source

ACCEPTED = (
    "studies/CT-<k>/study_XXXX.nii(.gz) (any CT-0..CT-4 folder) + masks/study_XXXX_mask.nii(.gz)",
    "dataset folder: the root itself or root/MosMedData (or COVID19_1110, the archive's name)",
)


@register_source
class MosMed(
    Source,
    name="mosmed",
    dirname="MosMedData",
    aliases=("COVID19_1110",),
    description="MosMedData COVID-19 CTs with infection masks (50 of CT-1); extra test set",
    accepted=ACCEPTED,
):
    """studies/CT-1/study_XXXX.nii.gz with masks/study_XXXX_mask.nii.gz; only studies with a mask are cases."""

    def _studies(self, base: Path) -> dict[str, Path]:
        studies = base / "studies"
        out: dict[str, Path] = {}
        for folder in sorted(studies.glob("CT-*")) if studies.is_dir() else []:
            out.update(nifti_files(folder))
        return out

    def case_ids(self, base: Path) -> list[str]:
        return sorted(s.removesuffix("_mask") for s in nifti_files(base / "masks") if s.endswith("_mask"))

    def case_paths(self, base: Path, case_id: str) -> tuple[Path, Path]:
        image = self._studies(base).get(case_id) or nii(base / "studies" / "CT-1", case_id)
        return image, nii(base / "masks", f"{case_id}_mask")
