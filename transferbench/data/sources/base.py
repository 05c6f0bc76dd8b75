"""Source registry and base class: where a public dataset keeps its cases on disk, and what labels mean.

A source is one decorated class (the package's one registry mechanism). It finds cases in the dataset's
*own* layout (and the common variants users have, listed in ``accepted``), so the same code reads the real
download and the synthetic benchmark, which is written through :meth:`Source.case_paths` in exactly that
layout. Its metadata are class keywords::

    @register_source
    class MySource(Source, name="my_source", dirname="MyDataset", description="one line"):
        \"\"\"<case>/image.nii.gz and <case>/label.nii.gz (the expected layout, one line).\"\"\"
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from transferbench.errors import DataError
from transferbench.registry import Registry

SOURCES: Registry[type[Source]] = Registry("dataset source")
register_source = SOURCES.register()


def list_sources() -> list[str]:
    return SOURCES.names()


def source_class(name: str) -> type[Source]:
    return SOURCES.get(name)


def create_source(name: str, **kwargs) -> Source:
    return SOURCES.create(name, **kwargs)


@dataclass(frozen=True)
class Case:
    """One image with its label file (None for an unlabelled source's images); ``case_id`` is the id used
    by the benchmark's split file."""

    case_id: str
    image: Path
    label: Path | None
    source: str


@dataclass
class Source:
    """Base class. Subclasses pass their metadata as class keywords and implement ``case_paths`` and
    ``case_ids``; the docstring's first line is the expected layout (shown in layout errors).

    Class keywords: ``name`` (registry name), ``description`` (one line), ``dirname`` (the folder the
    synthetic benchmark writes, the canonical one), ``aliases`` (other folder names downloads have),
    ``label_values``, ``accepted`` (the on-disk variants read, one line each, for ``data sources -v``).
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    dirname: ClassVar[str] = ""
    aliases: ClassVar[tuple[str, ...]] = ()
    label_values: ClassVar[set[int]] = {0, 1}
    accepted: ClassVar[tuple[str, ...]] = ()
    labelled: ClassVar[bool] = True  # False: images only (a pool for self-supervised pretraining)

    def __init_subclass__(
        cls,
        name: str = "",
        description: str = "",
        dirname: str = "",
        aliases: tuple[str, ...] = (),
        label_values: set[int] | None = None,
        accepted: tuple[str, ...] = (),
        labelled: bool = True,
        **kwargs,
    ) -> None:
        super().__init_subclass__(**kwargs)
        cls.name, cls.description, cls.dirname, cls.labelled = name, description, dirname, labelled
        cls.aliases, cls.accepted = tuple(aliases), tuple(accepted)
        if label_values is not None:
            cls.label_values = set(label_values)

    @property
    def num_classes(self) -> int:
        """Output channels a network needs for this source's labels (background included)."""
        return len(self.label_values)

    def locate(self, root: str | Path) -> Path:
        """The dataset folder: ``root/<dirname or alias>`` if present, else ``root`` itself."""
        root = Path(root)
        if not root.is_dir():
            raise DataError(f"{root}: data root does not exist (expected the {self.name} dataset folder)")
        for name in (self.dirname, *self.aliases):
            if (root / name).is_dir():
                return root / name
        return root

    def case_paths(self, base: Path, case_id: str) -> tuple[Path, Path | None]:
        """(image, label) of a case; the label is None for an unlabelled source."""
        raise NotImplementedError

    def case_ids(self, base: Path) -> list[str]:
        raise NotImplementedError

    def scan(self, root: str | Path) -> tuple[Path, list[Case], list[tuple[Path, str]]]:
        """Every case found under ``root`` and every layout problem, without stopping at the first."""
        base = self.locate(root)
        ids = self.case_ids(base)
        problems: list[tuple[Path, str]] = []
        if not ids:
            found = sorted(p.name for p in base.iterdir())[:12]
            problems.append(
                (base, f"no {self.name} cases found. {self.layout_help()} Found instead: {found}")
            )
        cases = []
        for cid in ids:
            try:
                image, label = self.case_paths(base, cid)
            except DataError as err:
                path, _, msg = str(err).partition(": ")
                problems.append((Path(path), msg))
                continue
            missing = [p for p in (image, label) if p is not None and not p.is_file()]
            problems += [(p, f"missing file of case {cid} ({self.layout_help()})") for p in missing]
            if not missing:
                cases.append(Case(cid, image, label, self.name))
        return base, cases, problems

    def find_cases(self, root: str | Path) -> list[Case]:
        """All complete cases under ``root``; a wrong layout raises one message listing what is wrong."""
        _, cases, problems = self.scan(root)
        if problems:
            raise DataError("; ".join(f"{path}: {msg}" for path, msg in problems))
        return cases

    @classmethod
    def layout_help(cls) -> str:
        return f"Expected layout: {cls.__doc__.strip().splitlines()[0]}"


NIFTI = re.compile(r"(.+)\.nii(\.gz)?$")


def nii(folder: Path, stem: str) -> Path:
    """``stem.nii.gz`` or, if only that exists, ``stem.nii`` (both are common in the wild)."""
    gz = folder / f"{stem}.nii.gz"
    return gz if gz.exists() or not (folder / f"{stem}.nii").exists() else folder / f"{stem}.nii"


def nifti_files(folder: Path) -> dict[str, Path]:
    """``{stem: path}`` of the NIfTI files in ``folder``, ignoring hidden files (macOS ``._`` forks)."""
    if not folder.is_dir():
        return {}
    out = {}
    for p in sorted(folder.iterdir()):
        m = NIFTI.match(p.name)
        if not m or p.name.startswith(".") or not p.is_file():
            continue
        if m.group(1) not in out or p.name.endswith(".gz"):  # both present: the compressed file wins
            out[m.group(1)] = p
    return out


def stems(folder: Path) -> list[str]:
    return sorted(nifti_files(folder))
