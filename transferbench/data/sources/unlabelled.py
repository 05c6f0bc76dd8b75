"""Unlabelled CT pools for self-supervised pretraining: images only, never a label.

COVID-19 CT is scarce in annotations, not in images. ``mosmed_unlabelled`` reads MosMedData's studies that
have no infection mask (about 1,060 of its 1,110; the 50 masked ones stay the ``mosmed`` extra test set),
``synthetic_unlabelled`` the synthetic benchmark's pool of COVID-like volumes drawn from the target's own
lesion process and scanners under ids outside the benchmark's 20 (``data.synthetic.N_UNLABELLED``). A sweep
refuses a pool that holds one of the target fold's test cases (``data.leakage``).
"""

from __future__ import annotations

from pathlib import Path

from transferbench.data.sources.base import Source, nii, register_source, stems
from transferbench.data.sources.mosmed import ACCEPTED, MosMed

UNLABELLED_DIR = "Synthetic_Unlabelled"


@register_source
class SyntheticUnlabelled(
    Source,
    name="synthetic_unlabelled",
    dirname=UNLABELLED_DIR,
    description="synthetic only: unlabelled COVID-19-like volumes (a self-supervised pretraining pool)",
    accepted=(
        f"{UNLABELLED_DIR}/imagesTr/unlabelled_NNN.nii.gz (written by `transferbench data prepare synthetic`)",
    ),
    labelled=False,
):
    """Synthetic_Unlabelled/imagesTr/unlabelled_NNN.nii.gz (images only)."""

    def case_ids(self, base: Path) -> list[str]:
        return stems(base / "imagesTr")

    def case_paths(self, base: Path, case_id: str) -> tuple[Path, None]:
        return nii(base / "imagesTr", case_id), None


@register_source
class MosMedUnlabelled(
    MosMed,
    name="mosmed_unlabelled",
    dirname="MosMedData",
    aliases=("COVID19_1110",),
    description="MosMedData studies without an infection mask (CT-0..CT-4): a self-supervised pretraining pool",
    accepted=ACCEPTED,
    labelled=False,
):
    """studies/CT-<k>/study_XXXX.nii.gz without a masks/study_XXXX_mask.nii.gz (images only)."""

    def case_ids(self, base: Path) -> list[str]:
        masked = set(super().case_ids(base))
        return sorted(s for s in self._studies(base) if s not in masked)

    def case_paths(self, base: Path, case_id: str) -> tuple[Path, None]:
        return self._studies(base).get(case_id) or nii(base / "studies" / "CT-0", case_id), None
