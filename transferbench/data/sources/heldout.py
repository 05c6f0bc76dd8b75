"""The synthetic benchmark's held-out target-domain cases: COVID-like volumes that no fold trains or tests on.

The public benchmark's fold has no spare case, so a run validated on its own training cases sees a curve that
says nothing about generalisation (0.98 Dice at one labelled volume). The synthetic benchmark can afford
what the real one cannot: the generator draws a few more cases from the target's own lesion process and
scanners, under ids outside the 20 benchmark ids, and the sweeps validate target runs on them
(``target.val_source``) to see whether a run has converged. No test reads them.
"""

from __future__ import annotations

from pathlib import Path

from transferbench.data.sources.base import Source, nii, register_source, stems

HELDOUT_DIR = "Synthetic_HeldOut"


@register_source
class SyntheticHeldOut(
    Source,
    name="synthetic_heldout",
    dirname=HELDOUT_DIR,
    description="synthetic only: held-out COVID-19-like validation cases (never trained or tested on)",
    accepted=(
        f"{HELDOUT_DIR}/imagesTr/heldout_NNN.nii.gz and labelsTr/heldout_NNN.nii.gz "
        "(written by `transferbench data prepare synthetic`)",
    ),  # fmt: skip
):
    """Synthetic_HeldOut/imagesTr/heldout_NNN.nii.gz and labelsTr/heldout_NNN.nii.gz."""

    def case_ids(self, base: Path) -> list[str]:
        return stems(base / "imagesTr")

    def case_paths(self, base: Path, case_id: str) -> tuple[Path, Path]:
        return nii(base / "imagesTr", case_id), nii(base / "labelsTr", case_id)
