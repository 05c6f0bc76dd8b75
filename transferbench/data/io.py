"""NIfTI reading and writing with errors that name the file and say what was expected."""

from __future__ import annotations

import functools
import zlib
from pathlib import Path

import nibabel as nib
import numpy as np

from transferbench.data.intensity import storage_of
from transferbench.errors import DataError
from transferbench.files import atomic_path


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


def inspect_pair_once(
    image_path: str | Path, label_path: str | Path | None, label_values: set[int], deep: bool = True
) -> tuple[dict, list[tuple[Path, str]]]:
    """``inspect_pair``, remembered per file identity (path, size, modification time) within a process, so a
    run that checks its test cases before training, and a sweep worker running many runs on the same
    files, read each file once."""

    def identity(p: str | Path | None) -> tuple:
        if p is None:
            return None, None, None
        try:
            st = Path(p).stat()
            return str(p), st.st_size, st.st_mtime_ns
        except OSError:
            return str(p), None, None

    return _inspect_cached(identity(image_path), identity(label_path), frozenset(label_values), deep)


@functools.lru_cache(maxsize=4096)
def _inspect_cached(image: tuple, label: tuple, label_values: frozenset, deep: bool):
    return inspect_pair(image[0], label[0], set(label_values), deep=deep)


def inspect_pair(
    image_path: str | Path,
    label_path: str | Path | None,
    label_values: set[int],
    deep: bool = True,
    atol_mm: float = 1e-3,
) -> tuple[dict, list[tuple[Path, str]]]:
    """Every problem of an image/label pair (not only the first), and a summary of what was readable.

    Headers: both readable, same shape and affine (within ``atol_mm``). With ``deep`` also the voxels:
    complete (not truncated), finite, intensities stored as HU or 0..255, label values in ``label_values``.
    Without a label (an unlabelled source's image) only the image is checked.
    """
    image_path = Path(image_path)
    label_path = Path(label_path) if label_path is not None else None
    summary: dict = {}
    problems: list[tuple[Path, str]] = []

    def attempt(path: Path, fn):
        try:
            return fn()
        except DataError as err:
            problems.append((path, str(err).removeprefix(f"{path}: ")))
            return None

    img = attempt(image_path, lambda: load_nifti(image_path))
    lab = attempt(label_path, lambda: load_nifti(label_path)) if label_path is not None else None
    if img is not None:
        summary["shape"] = tuple(int(v) for v in img.shape[:3])
        summary["spacing"] = tuple(float(v) for v in img.header.get_zooms()[:3])
    if img is not None and lab is not None:
        problems += _header_problems(img, lab, image_path, label_path, atol_mm)
    if not deep:
        return summary, problems
    image = attempt(image_path, lambda: read_array(image_path, img)) if img is not None else None
    if image is not None:
        problems += [(image_path, m) for m in _image_problems(image, str(image_path), summary)]
    label = attempt(label_path, lambda: read_array(label_path, lab)) if lab is not None else None
    if label is not None:
        problems += [(label_path, m) for m in _label_problems(label, label_values, summary)]
    return summary, problems


def _label_problems(label: np.ndarray, label_values: set[int], summary: dict) -> list[str]:
    """Labels must be finite integer class indices among ``label_values``; each failure says which."""
    finite = np.isfinite(label)
    if not finite.all():
        return [
            f"{int((~finite).sum())} label voxels are NaN or infinite; labels must be integer class indices"
        ]
    fractional = label != np.round(label)
    if fractional.any():
        examples = ", ".join(f"{v:g}" for v in np.unique(label[fractional])[:3])
        return [
            f"{int(fractional.sum())} label voxels are not integers (e.g. {examples}): a probability or "
            f"interpolated mask? Labels must be integer class indices, a subset of {sorted(label_values)}"
        ]
    values = set(np.unique(label).astype(int).tolist())
    summary["labels"] = sorted(values)
    if not values <= label_values:
        return [
            f"unexpected label values {sorted(values - label_values)}; expected a subset of {sorted(label_values)}"
        ]
    return []


def _header_problems(img, lab, image_path: Path, label_path: Path, atol_mm: float) -> list[tuple[Path, str]]:
    """Image and label must share shape and affine (the label belongs to this image's grid)."""
    if img.shape[:3] != lab.shape[:3] or len(img.shape) != len(lab.shape):
        return [
            (label_path, f"label shape {lab.shape} does not match image {image_path.name} shape {img.shape}")
        ]
    if not np.allclose(img.affine, lab.affine, atol=atol_mm):
        zooms = [tuple(round(float(v), 4) for v in x.header.get_zooms()[:3]) for x in (img, lab)]
        return [(label_path, f"label affine does not match image {image_path.name} (image spacing {zooms[0]}, "
                 f"label spacing {zooms[1]}; max difference {np.abs(img.affine - lab.affine).max():.4g})")]  # fmt: skip
    return []


def _image_problems(image: np.ndarray, name: str, summary: dict) -> list[str]:
    """Voxels finite and stored as HU or 0..255; the intensity range and storage go into ``summary``."""
    finite = np.isfinite(image)
    if not finite.all():
        return [f"{int((~finite).sum())} voxels are NaN or infinite"]
    if not image.size:
        return []
    summary["intensity"] = (float(image.min()), float(image.max()))
    try:
        summary["storage"] = storage_of(image, name)
    except DataError as err:
        return [str(err).removeprefix(f"{name}: ")]
    return []


def check_pair(
    image_path: str | Path,
    label_path: str | Path | None,
    label_values: set[int],
    atol_mm: float = 1e-3,
) -> dict:
    """Validate an image/label pair before any training; one :class:`DataError` lists every problem."""
    summary, problems = inspect_pair(image_path, label_path, label_values, atol_mm=atol_mm)
    if problems:
        raise DataError("; ".join(f"{path}: {msg}" for path, msg in problems))
    return summary


def save_nifti(path: Path, array: np.ndarray, affine: np.ndarray) -> None:
    """Save atomically (``.nii`` or ``.nii.gz`` by suffix)."""
    img = nib.Nifti1Image(array, affine)
    img.header.set_xyzt_units("mm")
    img.set_qform(affine, code=1)
    img.set_sform(affine, code=1)
    suffix = ".nii.gz" if path.name.endswith(".nii.gz") else ".nii"  # nibabel picks compression by suffix
    with atomic_path(path, suffix) as tmp:
        nib.save(img, str(tmp))
