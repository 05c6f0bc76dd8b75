"""Sources a sweep uses only when they are under its data root (``optional_sources``), such as an unlabelled
pool a site may not have: absent, the source and every row that needs it leave the plan, with a note."""

from __future__ import annotations

from pathlib import Path

from transferbench.data.sources import create_source
from transferbench.errors import DataError, SpecError


def present(source: str, root: str) -> bool:
    """Whether ``root`` holds any case of ``source``."""
    if not Path(root).is_dir():
        return False
    src = create_source(source)
    try:
        return bool(src.case_ids(src.locate(root)))
    except (DataError, OSError):
        return False


def drop_absent_sources(raw: dict, where: str, data_root: str, notes: list[str]) -> None:
    """Remove the ``optional_sources`` absent under ``data_root`` from ``raw`` (sources, source sets and
    strategy entries; an entry left without sources goes), noting each."""
    optional = raw.pop("optional_sources", None) or []
    sources = raw.get("sources") or {}
    unknown = [label for label in optional if label not in sources]
    if not isinstance(optional, list) or unknown:
        raise SpecError(f"{where}: `optional_sources`: a list of labels under `sources`, got {optional!r}")
    for label in [lab for lab in optional if not present(sources[lab], data_root)]:
        notes.append(
            f"note: optional source {label} ({sources[label]}) is not under {data_root}: its rows are left out"
        )
        del sources[label]
        for name, members in list((raw.get("source_sets") or {}).items()):
            if label in members:
                del raw["source_sets"][name]
        kept = []
        for item in raw.get("strategies") or []:
            if isinstance(item, dict) and isinstance(item.get("sources"), list) and label in item["sources"]:
                item["sources"] = [s for s in item["sources"] if s != label]
                if not item["sources"]:
                    continue
            kept.append(item)
        raw["strategies"] = kept
