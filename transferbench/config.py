"""Nested configuration helpers shared by configs, sweeps and runs: merging and (cached) YAML reading."""

from __future__ import annotations

import copy
from functools import lru_cache
from pathlib import Path

import yaml


def deep_merge(base: dict, update: dict) -> dict:
    """``update`` over ``base``, recursively for mappings (lists and scalars are replaced)."""
    out = copy.deepcopy(base)
    for k, v in update.items():
        out[k] = (
            deep_merge(out[k], v)
            if isinstance(v, dict) and isinstance(out.get(k), dict)
            else copy.deepcopy(v)
        )
    return out


@lru_cache(maxsize=64)
def _read(path: str, mtime_ns: int) -> dict:
    return yaml.safe_load(Path(path).read_text()) or {}


def read_yaml(path: str | Path) -> dict:
    """A YAML mapping, parsed once per file version (a sweep reads each base config once); a copy."""
    p = Path(path)
    return copy.deepcopy(_read(str(p.resolve()), p.stat().st_mtime_ns))
