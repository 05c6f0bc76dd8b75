"""The synthetic benchmark's control sources: three label sets on one set of COVID-like images.

They exist only in the synthetic benchmark, where the truth is known, and calibrate the instrument:

- ``positive_control``: the target's lesion process on other cases and another scanner, with its own masks:
  the expected upper bound of lesion transfer;
- ``negative_control``: the same images with masks that do not belong to them (the lesion process drawn
  again on each case's anatomy with another seed, never painted into the image): pretraining on it can
  transfer anatomy and intensity statistics, not lesion appearance;
- ``anatomy_control``: lung segmentation (left and right lung as one foreground) of the same images: generic
  transfer without lesions, like the lung sources of the public benchmark's Task 2.

Sharing the images makes the three differ in their labels only.
"""

from __future__ import annotations

from pathlib import Path

from transferbench.data.sources.base import Source, nii, register_source, stems

CONTROLS_DIR = "Synthetic_Controls"


class _Control(Source):
    """Synthetic_Controls/<name>/imagesTr/control_NNN.nii.gz and labelsTr/control_NNN.nii.gz."""

    def case_ids(self, base: Path) -> list[str]:
        return stems(base / "imagesTr")

    def case_paths(self, base: Path, case_id: str) -> tuple[Path, Path]:
        return nii(base / "imagesTr", case_id), nii(base / "labelsTr", case_id)


def _register(name: str, description: str) -> type[Source]:
    """Register the control source ``name`` (one class per control; they differ only in name and text)."""
    layout = f"{CONTROLS_DIR}/{name}/imagesTr/control_NNN.nii.gz and labelsTr/control_NNN.nii.gz."
    accepted = (f"{layout.removesuffix('.')} (written by `transferbench data prepare synthetic`)",)
    cls = type(
        "".join(part.title() for part in name.split("_")),
        (_Control,),
        {"__doc__": layout, "__module__": __name__},
        name=name,
        dirname=f"{CONTROLS_DIR}/{name}",
        description=description,
        accepted=accepted,
    )
    return register_source(cls)


PositiveControl = _register(
    "positive_control",
    "synthetic control: COVID-like lesions on other cases and another scanner (expected best)",
)
NegativeControl = _register(
    "negative_control",
    "synthetic control: the positive control's images with masks that do not belong to them",
)
AnatomyControl = _register(
    "anatomy_control", "synthetic control: lung segmentation of the positive control's images (no lesions)"
)

CONTROL_SOURCES = ("positive_control", "negative_control", "anatomy_control")
