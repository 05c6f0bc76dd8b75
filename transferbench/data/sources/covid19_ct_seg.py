"""COVID-19-CT-Seg (Ma et al. 2021): the target. 20 CTs with infection and lung masks.

Two layouts are in circulation: the Zenodo release (record 3757476) and the Kaggle re-upload
("COVID-19 CT scans", andrewmvd), which renames folders and the CT files. Both map to the benchmark's case
ids (``coronacases_001``, ``radiopaedia_10_85902_1``), so the fixed folds apply to either.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from transferbench.data.sources.base import Source, nifti_files, nii, register_source

ZENODO = {
    "image": "COVID-19-CT-Seg_20cases",
    "infection": "Infection_Mask",
    "lungs": "Lung_Mask",
    "lungs_infection": "Lung_and_Infection_Mask",
}
KAGGLE = {
    "image": "ct_scans",
    "infection": "infection_mask",
    "lungs": "lung_mask",
    "lungs_infection": "lung_and_infection_mask",
}
_CORONA = re.compile(r"^coronacases(?:_org)?_(?:case)?0*(\d+)$")
_RADIO = re.compile(r"^radiopaedia(?:_org_covid-19-pneumonia)?[-_](\d+_\d+_\d+)(?:-dcm)?$")


def canonical_case_id(stem: str) -> str:
    """The benchmark's id for a file stem of either release (``coronacases_org_001`` -> ``coronacases_001``,
    ``radiopaedia_org_covid-19-pneumonia-10_85902_1-dcm`` -> ``radiopaedia_10_85902_1``)."""
    if m := _CORONA.match(stem):
        return f"coronacases_{int(m.group(1)):03d}"
    if m := _RADIO.match(stem):
        return f"radiopaedia_{m.group(1)}"
    return stem


ACCEPTED = (
    "Zenodo: COVID-19-CT-Seg_20cases/<case>.nii.gz + Infection_Mask/, Lung_Mask/, "
    "Lung_and_Infection_Mask/<case>.nii.gz",
    "Kaggle re-upload: ct_scans/coronacases_org_001.nii, ct_scans/radiopaedia_org_covid-19-pneumonia-"
    "10_85902_1-dcm.nii + infection_mask/, lung_mask/, lung_and_infection_mask/<case>.nii",
    "dataset folder: the root itself or root/COVID-19-CT-Seg (or covid19-ct-scans); .nii or .nii.gz",
    "radiopaedia volumes stored 0..255 (windowed [-1250, 250] HU) and coronacases in HU both accepted",
)


@register_source
@dataclass
class Covid19CTSeg(
    Source,
    name="covid19_ct_seg",
    dirname="COVID-19-CT-Seg",
    aliases=("COVID-19-CT-Seg_20cases_all", "covid19-ct-scans"),
    description="COVID-19-CT-Seg (Ma et al.): 20 CTs, infection and lung masks; the target",
    accepted=ACCEPTED,
):
    """COVID-19-CT-Seg_20cases/<case>.nii.gz with Infection_Mask/, Lung_Mask/, Lung_and_Infection_Mask/<case>.nii.gz (Zenodo), or the Kaggle ct_scans/, infection_mask/, lung_mask/, lung_and_infection_mask/."""

    label_mode: str = "infection"  # infection | lungs | lungs_infection
    _values: ClassVar[dict] = {"infection": {0, 1}, "lungs": {0, 1, 2}, "lungs_infection": {0, 1, 2, 3}}

    def __post_init__(self) -> None:
        if self.label_mode not in self._values:
            raise ValueError(f"label_mode {self.label_mode!r}; expected one of {sorted(self._values)}")
        self.label_values = self._values[self.label_mode]

    @staticmethod
    def folders(base: Path) -> dict[str, str]:
        """Zenodo folder names, or Kaggle's when only those exist."""
        if not (base / ZENODO["image"]).is_dir() and (base / KAGGLE["image"]).is_dir():
            return KAGGLE
        return ZENODO

    def _files(self, base: Path, kind: str) -> dict[str, Path]:
        return {canonical_case_id(s): p for s, p in nifti_files(base / self.folders(base)[kind]).items()}

    def case_ids(self, base: Path) -> list[str]:
        return sorted(self._files(base, "image"))

    def case_paths(self, base: Path, case_id: str) -> tuple[Path, Path]:
        return self._path(base, "image", case_id), self._path(base, self.label_mode, case_id)

    def _path(self, base: Path, kind: str, case_id: str) -> Path:
        found = self._files(base, kind).get(case_id)
        return found or nii(base / self.folders(base)[kind], case_id)

    def all_label_paths(self, base: Path, case_id: str) -> dict[str, Path]:
        return {mode: self._path(base, mode, case_id) for mode in self._values}
