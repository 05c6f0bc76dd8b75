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


def inspect_pair(
    image_path: str | Path,
    label_path: str | Path,
    label_values: set[int],
    deep: bool = True,
    atol_mm: float = 1e-3,
) -> tuple[dict, list[tuple[Path, str]]]:
    """Every problem of an image/label pair (not only the first), and a summary of what was readable.

    Headers: both readable, same shape and affine (within ``atol_mm``). With ``deep`` also the voxels:
    complete (not truncated), finite, intensities stored as HU or 0..255, label values in ``label_values``.
    """
    from transferbench.data.transforms import storage_of  # transforms import this module

    image_path, label_path = Path(image_path), Path(label_path)
    summary: dict = {}
    problems: list[tuple[Path, str]] = []

    def attempt(path: Path, fn):
        try:
            return fn()
        except DataError as err:
            problems.append((path, str(err).removeprefix(f"{path}: ")))
            return None

    img = attempt(image_path, lambda: load_nifti(image_path))
    lab = attempt(label_path, lambda: load_nifti(label_path))
    if img is not None:
        summary["shape"] = tuple(int(v) for v in img.shape[:3])
        summary["spacing"] = tuple(float(v) for v in img.header.get_zooms()[:3])
    if img is not None and lab is not None:
        if img.shape[:3] != lab.shape[:3] or len(img.shape) != len(lab.shape):
            problems.append(
                (
                    label_path,
                    f"label shape {lab.shape} does not match image {image_path.name} shape {img.shape}",
                )
            )
        elif not np.allclose(img.affine, lab.affine, atol=atol_mm):
            problems.append(
                (
                    label_path,
                    f"label affine does not match image {image_path.name} (image spacing "
                    f"{tuple(round(float(v), 4) for v in img.header.get_zooms()[:3])}, label spacing "
                    f"{tuple(round(float(v), 4) for v in lab.header.get_zooms()[:3])}; max difference "
                    f"{np.abs(img.affine - lab.affine).max():.4g})",
                )
            )
    if not deep:
        return summary, problems
    image = attempt(image_path, lambda: read_array(image_path, img)) if img is not None else None
    if image is not None:
        finite = np.isfinite(image)
        if not finite.all():
            problems.append((image_path, f"{int((~finite).sum())} voxels are NaN or infinite"))
        elif image.size:
            summary["intensity"] = (float(image.min()), float(image.max()))
            try:
                summary["storage"] = storage_of(image, str(image_path))
            except DataError as err:
                problems.append((image_path, str(err).removeprefix(f"{image_path}: ")))
    label = attempt(label_path, lambda: read_array(label_path, lab)) if lab is not None else None
    if label is not None:
        values = set(np.unique(label).astype(int).tolist())
        summary["labels"] = sorted(values)
        if not np.allclose(label, np.round(label)) or not values <= label_values:
            problems.append(
                (
                    label_path,
                    f"unexpected label values {sorted(values - label_values)}; expected a subset of "
                    f"{sorted(label_values)}",
                )
            )
    return summary, problems


def check_pair(
    image_path: str | Path,
    label_path: str | Path,
    label_values: set[int],
    atol_mm: float = 1e-3,
) -> dict:
    """Validate an image/label pair before any training; one :class:`DataError` lists every problem."""
    summary, problems = inspect_pair(image_path, label_path, label_values, atol_mm=atol_mm)
    if problems:
        raise DataError("; ".join(f"{path}: {msg}" for path, msg in problems))
    return summary


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
