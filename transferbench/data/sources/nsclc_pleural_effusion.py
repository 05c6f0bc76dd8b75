"""NSCLC-Radiomics pleural effusion masks (TCIA): 78 CTs of lung cancer patients with effusion outlined."""

from __future__ import annotations

import re
from pathlib import Path

from transferbench.data.sources.base import Source, nifti_files, nii, register_source
from transferbench.errors import DataError

_MASK = re.compile(r".*(_reviewer|effusion).*", re.IGNORECASE)


ACCEPTED = (
    "one folder per patient LUNG1-XXX/ holding exactly one mask (name contains '_reviewer' or "
    "'effusion') and one image (LUNG1-XXX.nii.gz, or the folder's only other NIfTI); .nii accepted",
    "dataset folder: the root itself or root/NSCLC_Pleural_Effusion (or NSCLC-Radiomics)",
)


@register_source
class NSCLCPleuralEffusion(
    Source,
    name="nsclc_pleural_effusion",
    dirname="NSCLC_Pleural_Effusion",
    aliases=("NSCLC-Radiomics", "NSCLC_Radiomics_Effusion"),
    description="NSCLC-Radiomics pleural effusion masks (78 CTs)",
    accepted=ACCEPTED,
):
    """LUNG1-XXX/LUNG1-XXX.nii.gz with the effusion mask LUNG1-XXX/*_reviewer.nii.gz (NSCLC-Radiomics)."""

    def case_ids(self, base: Path) -> list[str]:
        return sorted(p.name for p in base.iterdir() if p.is_dir() and p.name.startswith("LUNG1-"))

    def case_paths(self, base: Path, case_id: str) -> tuple[Path, Path]:
        folder = base / case_id
        files = nifti_files(folder)
        masks = [p for s, p in files.items() if _MASK.match(s)]
        images = [p for s, p in files.items() if not _MASK.match(s)]
        if len(masks) > 1:
            raise DataError(
                f"{folder}: {len(masks)} effusion masks ({[m.name for m in masks]}); expected one"
            )
        if case_id in files and not _MASK.match(case_id):
            image = files[case_id]
        elif len(images) == 1:
            image = images[0]
        elif len(images) > 1:
            raise DataError(
                f"{folder}: {len(images)} candidate images ({[p.name for p in images]}) and none named "
                f"{case_id}.nii.gz"
            )
        else:
            image = nii(folder, case_id)
        return image, masks[0] if masks else folder / f"{case_id}_effusion_reviewer.nii.gz"
