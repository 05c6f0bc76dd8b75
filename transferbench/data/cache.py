"""Disk cache of preprocessed volumes, keyed by the files' identity and the preprocessing settings.

Like nnU-Net's preprocessed folder: each case is validated (``check_pair``) and preprocessed once, then
read back as plain tensors (``torch.load(weights_only=True)``). A changed file, spacing or preprocessing
version gives a new key, so a stale cache is never used. Files are written atomically.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path

import torch

from transferbench.data.io import check_pair
from transferbench.data.sources import Case
from transferbench.data.transforms import preprocess_transforms
from transferbench.files import atomic_write_bytes

PREPROCESS_VERSION = 2


def default_cache_dir(root: str | Path) -> Path:
    """``<root>/.transferbench_cache`` when the data root is writable, else ``~/.cache/transferbench``."""
    env = os.environ.get("TRANSFERBENCH_CACHE")
    if env:
        return Path(env)
    candidate = Path(root) / ".transferbench_cache"
    try:
        candidate.mkdir(parents=True, exist_ok=True)
        return candidate
    except OSError:
        return Path.home() / ".cache" / "transferbench"


def _file_id(path: Path | None) -> list:
    if path is None:  # an unlabelled image
        return []
    st = path.stat()
    return [str(path.resolve()), st.st_size, st.st_mtime_ns]


class PreprocessedCache:
    """Preprocess ``Case`` objects to tensors at ``target_spacing``, once."""

    def __init__(self, cache_dir: str | Path, target_spacing: tuple[float, float, float]) -> None:
        self.target_spacing = tuple(float(s) for s in target_spacing)
        signature = json.dumps({"spacing": self.target_spacing, "version": PREPROCESS_VERSION})
        self.dir = Path(cache_dir) / "preprocessed" / hashlib.sha1(signature.encode()).hexdigest()[:12]
        self.transform = preprocess_transforms(self.target_spacing)
        self.image_transform = preprocess_transforms(self.target_spacing, keys=("image",))

    def path_for(self, case: Case) -> Path:
        key = json.dumps([case.source, case.case_id, _file_id(case.image), _file_id(case.label)])
        return self.dir / f"{case.source}__{case.case_id}__{hashlib.sha1(key.encode()).hexdigest()[:12]}.pt"

    def get(self, case: Case, label_values: set[int]) -> dict:
        """The case as ``{"image": (1, X, Y, Z) float, "label": (1, X, Y, Z) uint8, "case_id", ...}``,
        memory-mapped from the cache file (pages are read when touched and belong to the page cache)."""
        return load_cached(self.ensure(case, label_values))

    def ensure(self, case: Case, label_values: set[int]) -> Path:
        """The case's cache file, preprocessed and written first if it is not there yet."""
        path = self.path_for(case)
        if not path.is_file():
            self._write(case, label_values, path)
        return path

    def _write(self, case: Case, label_values: set[int], path: Path) -> None:
        summary = check_pair(case.image, case.label, label_values)
        if case.label is None:  # an unlabelled image: an empty label keeps every cached item alike
            d = self.image_transform({"image": str(case.image)})
            d["label"] = torch.zeros_like(d["image"].as_tensor())
        else:
            d = self.transform({"image": str(case.image), "label": str(case.label)})
        label = d["label"].as_tensor() if hasattr(d["label"], "as_tensor") else d["label"]
        item = {
            "image": d["image"].as_tensor().contiguous(),
            "label": label.round().to(torch.uint8).contiguous(),
            "case_id": case.case_id,
            "source": case.source,
            "spacing": torch.tensor(self.target_spacing),
            "original_spacing": torch.tensor(summary["spacing"]),
        }
        buf = io.BytesIO()
        torch.save(item, buf)
        atomic_write_bytes(path, buf.getvalue())


def load_cached(path: str | Path) -> dict:
    """A cached case, its tensors memory-mapped (``torch.load(mmap=True, weights_only=True)``)."""
    return torch.load(path, weights_only=True, mmap=True)


class LoadCached:
    """Transform: a reference ``{"cached": path, "label_shift": k, ...}`` to the case's tensors, read from
    the cache when an item is drawn, so a DataModule holds paths, not volumes (memory stays flat in the
    number of cases). ``intensity`` applies the ``nnunet`` pipeline's CT normalisation on the way;
    ``images_only`` empties every label (self-supervised pretraining never reads one)."""

    def __init__(self, intensity: dict | None = None, images_only: bool = False) -> None:
        self.intensity, self.images_only = intensity, images_only

    def __call__(self, ref: dict) -> dict:
        item = load_cached(ref["cached"])
        shift = ref.get("label_shift", 0)
        if self.images_only:
            item["label"] = torch.zeros_like(item["label"])
        elif shift:
            item["label"] = item["label"] * (1 + shift)
        if self.intensity:
            from transferbench.data.nnunet import ct_normalise

            item["image"] = ct_normalise(item["image"], self.intensity)
        return {**item, **{k: v for k, v in ref.items() if k not in ("cached", "label_shift")}}
