"""Packaged ``fit`` configs (``transferbench configs``); a config is named by its file stem."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def packaged_configs() -> dict[str, Path]:
    folder = resources.files(__name__)
    return {Path(str(p)).stem: Path(str(p)) for p in folder.iterdir() if str(p).endswith(".yaml")}


def find_config(value: str, relative_to: Path | None = None) -> Path | None:
    """A config file: ``value`` as a path (or relative to ``relative_to``), else a packaged config name."""
    for p in (Path(value), *([relative_to / value] if relative_to else [])):
        if p.is_file():
            return p
    return packaged_configs().get(value)
