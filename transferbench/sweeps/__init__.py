"""Packaged sweep files (``transferbench sweep --config NAME``); a sweep is named by its file stem."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from transferbench.errors import SpecError


def packaged_sweeps() -> dict[str, Path]:
    folder = resources.files(__name__)
    return {Path(str(p)).stem: Path(str(p)) for p in folder.iterdir() if str(p).endswith(".yaml")}


def find_sweep(value: str | Path) -> Path | None:
    """A sweep file: ``value`` as a path, else a packaged sweep name."""
    p = Path(value)
    return p if p.is_file() else packaged_sweeps().get(str(value))


def resolve_sweep_path(path: str | Path) -> Path:
    found = find_sweep(path)
    if found is None:
        raise SpecError(
            f"{path}: no such sweep file (packaged sweeps: {', '.join(sorted(packaged_sweeps()))})"
        )
    return found
