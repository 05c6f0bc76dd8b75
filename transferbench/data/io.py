"""NIfTI reading and writing with errors that name the file and say what was expected."""

from __future__ import annotations

import os
import tempfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import nibabel as nib
import numpy as np


class DataError(ValueError):
    """A problem with the data on disk; the message names the file and what was expected."""


def load_nifti(path: str | Path) -> nib.Nifti1Image:
    """Open a NIfTI file, turning nibabel's varied failures into one :class:`DataError`."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        return nib.load(str(path))
    except Exception as err:  # nibabel raises many types for a bad header
        raise DataError(f"{path}: not a readable NIfTI file ({type(err).__name__}: {err})") from err


def read_array(path: str | Path, img: nib.Nifti1Image | None = None) -> np.ndarray:
    """Read the voxel data; a truncated or corrupt file raises :class:`DataError` naming it."""
    img = img if img is not None else load_nifti(path)
    try:
        return np.asarray(img.dataobj)
    except (EOFError, OSError, ValueError, zlib.error) as err:
        raise DataError(f"{path}: voxel data is truncated or corrupt ({type(err).__name__}: {err})") from err


def check_pair(
    image_path: str | Path,
    label_path: str | Path,
    label_values: set[int],
    atol_mm: float = 1e-3,
) -> dict:
    """Validate an image/label pair before any training; returns a short summary of the case.

    Checks: both readable and complete, same shape, same affine (within ``atol_mm``), finite image voxels,
    label values within ``label_values``.
    """
    img, lab = load_nifti(image_path), load_nifti(label_path)
    if img.shape[:3] != lab.shape[:3] or len(img.shape) != len(lab.shape):
        raise DataError(
            f"{label_path}: label shape {lab.shape} does not match image {image_path} shape {img.shape}"
        )
    if not np.allclose(img.affine, lab.affine, atol=atol_mm):
        raise DataError(
            f"{label_path}: label affine does not match image {image_path} "
            f"(image spacing {img.header.get_zooms()[:3]}, label spacing {lab.header.get_zooms()[:3]}; "
            f"max difference {np.abs(img.affine - lab.affine).max():.4g})"
        )
    image = read_array(image_path, img)
    if not np.isfinite(image).all():
        raise DataError(f"{image_path}: {int((~np.isfinite(image)).sum())} voxels are NaN or infinite")
    label = read_array(label_path, lab)
    values = set(np.unique(label).astype(int).tolist())
    if not np.allclose(label, np.round(label)) or not values <= label_values:
        raise DataError(
            f"{label_path}: unexpected label values {sorted(values - label_values)}; expected a subset of "
            f"{sorted(label_values)}"
        )
    return {
        "shape": tuple(int(s) for s in img.shape[:3]),
        "spacing": tuple(float(s) for s in img.header.get_zooms()[:3]),
        "intensity": (float(image.min()), float(image.max())),
        "labels": sorted(values),
    }


@contextmanager
def atomic_path(path: Path, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path in ``path``'s folder; on success rename it to ``path``, else delete it.

    Readers never see half a file, and an interrupted write leaves nothing behind.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def save_nifti(path: Path, array: np.ndarray, affine: np.ndarray) -> None:
    """Save atomically (``.nii`` or ``.nii.gz`` by suffix)."""
    img = nib.Nifti1Image(array, affine)
    img.header.set_xyzt_units("mm")
    img.set_qform(affine, code=1)
    img.set_sform(affine, code=1)
    suffix = ".nii.gz" if path.name.endswith(".nii.gz") else ".nii"  # nibabel picks compression by suffix
    with atomic_path(path, suffix) as tmp:
        nib.save(img, str(tmp))
