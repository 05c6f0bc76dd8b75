"""Dataset sources: where each public dataset keeps its cases on disk, and what its labels mean.

A source is one decorated class (timm-style registry). It finds cases in the dataset's *own* layout, so
the same code reads the real download and the synthetic benchmark, which is written through
:meth:`Source.case_paths` in exactly that layout.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from transferbench.data.io import DataError

_SOURCES: dict[str, type[Source]] = {}


def register_source(cls: type[Source]) -> type[Source]:
    if cls.name in _SOURCES:
        raise ValueError(f"source {cls.name!r} is registered twice")
    _SOURCES[cls.name] = cls
    return cls


def list_sources() -> list[str]:
    return sorted(_SOURCES)


def create_source(name: str, **kwargs) -> Source:
    if name not in _SOURCES:
        raise ValueError(f"unknown dataset source {name!r}; registered: {', '.join(list_sources())}")
    return _SOURCES[name](**kwargs)


@dataclass(frozen=True)
class Case:
    """One image with its label file; ``case_id`` is the id used by the benchmark's split file."""

    case_id: str
    image: Path
    label: Path
    source: str


@dataclass
class Source:
    """Base class. Subclasses set the class variables and implement ``case_paths`` and ``case_ids``."""

    name: ClassVar[str]
    description: ClassVar[str]
    dirname: ClassVar[str]  # folder name of the dataset as downloaded (and in the synthetic benchmark)
    lesion: ClassVar[str]
    label_values: ClassVar[set[int]] = {0, 1}

    @property
    def num_classes(self) -> int:
        """Output channels a network needs for this source's labels (background included)."""
        return len(self.label_values)

    def locate(self, root: str | Path) -> Path:
        """The dataset folder: ``root/<dirname>`` if present, else ``root`` itself."""
        root = Path(root)
        if not root.is_dir():
            raise DataError(f"{root}: data root does not exist (expected the {self.name} dataset folder)")
        nested = root / self.dirname
        return nested if nested.is_dir() else root

    def case_paths(self, base: Path, case_id: str) -> tuple[Path, Path]:
        raise NotImplementedError

    def case_ids(self, base: Path) -> list[str]:
        raise NotImplementedError

    def find_cases(self, root: str | Path) -> list[Case]:
        """All complete cases under ``root``; a wrong layout raises one message saying what was found."""
        base = self.locate(root)
        ids = self.case_ids(base)
        if not ids:
            found = sorted(p.name for p in base.iterdir())[:12]
            raise DataError(
                f"{base}: no {self.name} cases found. {self.layout_help()} Found instead: {found}"
            )
        cases = []
        for cid in ids:
            image, label = self.case_paths(base, cid)
            for path in (image, label):
                if not path.is_file():
                    raise DataError(f"{path}: missing file of case {cid} ({self.layout_help()})")
            cases.append(Case(cid, image, label, self.name))
        return cases

    @classmethod
    def layout_help(cls) -> str:
        return f"Expected layout: {cls.__doc__.strip().splitlines()[0]}"


def _nii(folder: Path, stem: str) -> Path:
    """``stem.nii.gz`` or, if only that exists, ``stem.nii`` (both are common in the wild)."""
    gz = folder / f"{stem}.nii.gz"
    return gz if gz.exists() or not (folder / f"{stem}.nii").exists() else folder / f"{stem}.nii"


def _stems(folder: Path, pattern: str = r"(.+)\.nii(\.gz)?$") -> list[str]:
    if not folder.is_dir():
        return []
    return sorted(
        m.group(1)
        for p in folder.iterdir()
        if (m := re.match(pattern, p.name)) and not p.name.startswith(".")
    )


@register_source
@dataclass
class Covid19CTSeg(Source):
    """COVID-19-CT-Seg_20cases/<case>.nii.gz with Infection_Mask/, Lung_Mask/, Lung_and_Infection_Mask/<case>.nii.gz."""

    name: ClassVar[str] = "covid19_ct_seg"
    description: ClassVar[str] = "COVID-19-CT-Seg (Ma et al.): 20 CTs, infection and lung masks; the target"
    dirname: ClassVar[str] = "COVID-19-CT-Seg"
    lesion: ClassVar[str] = "covid"
    label_mode: str = "infection"  # infection | lungs | lungs_infection
    _modes: ClassVar[dict] = {
        "infection": ("Infection_Mask", {0, 1}),
        "lungs": ("Lung_Mask", {0, 1, 2}),
        "lungs_infection": ("Lung_and_Infection_Mask", {0, 1, 2, 3}),
    }

    def __post_init__(self) -> None:
        if self.label_mode not in self._modes:
            raise ValueError(f"label_mode {self.label_mode!r}; expected one of {sorted(self._modes)}")
        self.label_values = self._modes[self.label_mode][1]

    def case_ids(self, base: Path) -> list[str]:
        return _stems(base / "COVID-19-CT-Seg_20cases")

    def case_paths(self, base: Path, case_id: str) -> tuple[Path, Path]:
        return _nii(base / "COVID-19-CT-Seg_20cases", case_id), _nii(
            base / self._modes[self.label_mode][0], case_id
        )

    def all_label_paths(self, base: Path, case_id: str) -> dict[str, Path]:
        return {mode: _nii(base / folder, case_id) for mode, (folder, _) in self._modes.items()}


@register_source
@dataclass
class MSDLungTumor(Source):
    """Task06_Lung/dataset.json listing imagesTr/lung_XXX.nii.gz and labelsTr/lung_XXX.nii.gz (MSD format)."""

    name: ClassVar[str] = "msd_lung_tumor"
    description: ClassVar[str] = "Medical Segmentation Decathlon Task06 lung tumour (63 labelled CTs)"
    dirname: ClassVar[str] = "Task06_Lung"
    lesion: ClassVar[str] = "tumor"

    def case_ids(self, base: Path) -> list[str]:
        meta = base / "dataset.json"
        if not meta.is_file():
            return []
        try:
            entries = json.loads(meta.read_text())["training"]
        except (json.JSONDecodeError, KeyError, TypeError) as err:
            raise DataError(f"{meta}: not an MSD dataset.json with a 'training' list ({err})") from err
        return sorted(re.sub(r"\.nii(\.gz)?$", "", Path(e["image"]).name) for e in entries)

    def case_paths(self, base: Path, case_id: str) -> tuple[Path, Path]:
        return _nii(base / "imagesTr", case_id), _nii(base / "labelsTr", case_id)


@register_source
@dataclass
class StructSegGTV(Source):
    """<n>/data.nii.gz and <n>/label.nii.gz for n = 1..50 (StructSeg 2019 task 3); case n is train_<n>."""

    name: ClassVar[str] = "structseg_gtv"
    description: ClassVar[str] = "StructSeg 2019 lung gross tumour volume (50 CTs)"
    dirname: ClassVar[str] = "StructSeg2019_Lung_GTV"
    lesion: ClassVar[str] = "gtv"

    def case_ids(self, base: Path) -> list[str]:
        nums = [int(p.name) for p in base.iterdir() if p.is_dir() and p.name.isdigit()]
        return [f"train_{n}" for n in sorted(nums)]

    def case_paths(self, base: Path, case_id: str) -> tuple[Path, Path]:
        folder = base / case_id.removeprefix("train_")
        return _nii(folder, "data"), _nii(folder, "label")


@register_source
@dataclass
class NSCLCPleuralEffusion(Source):
    """LUNG1-XXX/LUNG1-XXX.nii.gz with the effusion mask LUNG1-XXX/*_reviewer.nii.gz (NSCLC-Radiomics)."""

    name: ClassVar[str] = "nsclc_pleural_effusion"
    description: ClassVar[str] = "NSCLC-Radiomics pleural effusion masks (78 CTs)"
    dirname: ClassVar[str] = "NSCLC_Pleural_Effusion"
    lesion: ClassVar[str] = "effusion"

    def case_ids(self, base: Path) -> list[str]:
        return sorted(p.name for p in base.iterdir() if p.is_dir() and p.name.startswith("LUNG1-"))

    def case_paths(self, base: Path, case_id: str) -> tuple[Path, Path]:
        folder = base / case_id
        masks = sorted(folder.glob("*_reviewer.nii*")) if folder.is_dir() else []
        if len(masks) > 1:
            raise DataError(
                f"{folder}: {len(masks)} *_reviewer masks ({[m.name for m in masks]}); expected one"
            )
        label = masks[0] if masks else folder / f"{case_id}_effusion_reviewer.nii.gz"
        return _nii(folder, case_id), label


@register_source
@dataclass
class LIDCIDRI(Source):
    """images/LIDC-IDRI-XXXX.nii.gz and masks/LIDC-IDRI-XXXX.nii.gz (NIfTI export of nodule consensus masks)."""

    name: ClassVar[str] = "lidc_idri"
    description: ClassVar[str] = "LIDC-IDRI lung nodules, as NIfTI image/mask pairs (1010 CTs)"
    dirname: ClassVar[str] = "LIDC-IDRI_nifti"
    lesion: ClassVar[str] = "nodule"

    def case_ids(self, base: Path) -> list[str]:
        return _stems(base / "images")

    def case_paths(self, base: Path, case_id: str) -> tuple[Path, Path]:
        return _nii(base / "images", case_id), _nii(base / "masks", case_id)
