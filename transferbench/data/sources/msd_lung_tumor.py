"""Medical Segmentation Decathlon Task06 Lung: 63 labelled CTs with primary lung tumours."""

from __future__ import annotations

import json
import re
from pathlib import Path

from transferbench.data.sources.base import Source, nii, register_source
from transferbench.errors import DataError

ACCEPTED = (
    "dataset.json 'training' entries -> imagesTr/lung_XXX.nii.gz + labelsTr/lung_XXX.nii.gz",
    "the macOS '._lung_XXX.nii.gz' files of the official tar are ignored; .nii accepted too",
    "dataset folder: the root itself or root/Task06_Lung",
)


@register_source
class MSDLungTumor(
    Source,
    name="msd_lung_tumor",
    dirname="Task06_Lung",
    description="Medical Segmentation Decathlon Task06 lung tumour (63 labelled CTs)",
    accepted=ACCEPTED,
):
    """Task06_Lung/dataset.json listing imagesTr/lung_XXX.nii.gz and labelsTr/lung_XXX.nii.gz (MSD format)."""

    def case_ids(self, base: Path) -> list[str]:
        meta = base / "dataset.json"
        if not meta.is_file():
            return []
        try:
            entries = json.loads(meta.read_text())["training"]
            return sorted(re.sub(r"\.nii(\.gz)?$", "", Path(e["image"]).name) for e in entries)
        except (json.JSONDecodeError, KeyError, TypeError) as err:
            raise DataError(f"{meta}: not an MSD dataset.json with a 'training' list ({err})") from err

    def case_paths(self, base: Path, case_id: str) -> tuple[Path, Path]:
        return nii(base / "imagesTr", case_id), nii(base / "labelsTr", case_id)
