"""LIDC-IDRI export route: a tiny DICOM series and a pylidc-schema annotation database built here."""

from __future__ import annotations

import numpy as np
import pytest

pydicom = pytest.importorskip("pydicom")
sq = pytest.importorskip("sqlalchemy")

from transferbench.data.check import check_dataset  # noqa: E402
from transferbench.data.io import load_nifti  # noqa: E402
from transferbench.data.lidc import import_pylidc, prepare_lidc  # noqa: E402
from transferbench.errors import DataError  # noqa: E402

PID = "LIDC-IDRI-0001"
STUDY, SERIES = "1.2.826.0.1.3680043.8.498.1", "1.2.826.0.1.3680043.8.498.2"
N_SLICES, SIZE = 8, 32
ZS = [-40.0 + 2.0 * k for k in range(N_SLICES)]


def _slice(path, pixels: np.ndarray, z: float, number: int) -> None:
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.PatientID, ds.Modality = STUDY, SERIES, PID, "CT"
    ds.InstanceNumber = number
    ds.ImagePositionPatient = [-16.0, -20.0, z]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.PixelSpacing = [1.0, 1.0]
    ds.SliceThickness = 2.0
    ds.Rows, ds.Columns = pixels.shape
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.RescaleIntercept, ds.RescaleSlope = -1024, 1
    ds.PixelData = pixels.astype(np.int16).tobytes()
    ds.save_as(path, enforce_file_format=True)


def _square(x0, x1, y0, y1) -> str:
    """An LIDC edge map: closed polygon of (x, y) = (column, row) points."""
    pts = [(x, y0) for x in range(x0, x1)] + [(x1, y) for y in range(y0, y1)]
    pts += [(x, y1) for x in range(x1, x0, -1)] + [(x0, y) for y in range(y1, y0, -1)]
    return "\n".join(f"{x},{y}" for x, y in pts)


@pytest.fixture()
def lidc(tmp_path):
    """DICOM series (rows = y, columns = x; HU = k * 10 + x) plus two readers' outlines of one nodule on
    slices 3-5 (reader 1: x 8..20, reader 2: x 12..24, y 8..20) and a second nodule seen by reader 1 only."""
    series_dir = tmp_path / "dicom" / PID / STUDY / SERIES
    series_dir.mkdir(parents=True)
    for k, z in enumerate(ZS):
        pixels = 1024 + 10 * k + np.tile(np.arange(SIZE), (SIZE, 1))  # row r, column c: HU 10 k + c
        _slice(series_dir / f"{k + 1:06d}.dcm", pixels, z, k + 1)
    pl = import_pylidc()
    from pylidc._Base import Base
    from sqlalchemy.orm import sessionmaker

    engine = sq.create_engine(f"sqlite:///{tmp_path / 'annotations.sqlite'}")
    Base.metadata.create_all(engine)
    contours = []
    for ann, (x0, x1, y0, y1, ks) in enumerate(
        [(8, 20, 8, 20, (3, 4, 5)), (12, 24, 8, 20, (3, 4, 5)), (4, 10, 24, 30, (1, 2))], 1
    ):
        contours += [
            {
                "annotation_id": ann,
                "inclusion": True,
                "image_z_position": ZS[k],
                "dicom_file_name": "",
                "coords": _square(x0, x1, y0, y1),
            }
            for k in ks
        ]
    with engine.begin() as conn:
        conn.execute(
            pl.Scan.__table__.insert(),
            [
                {
                    "id": 1,
                    "study_instance_uid": STUDY,
                    "series_instance_uid": SERIES,
                    "patient_id": PID,
                    "slice_thickness": 2.0,
                    "pixel_spacing": 1.0,
                    "contrast_used": False,
                    "is_from_initial": False,
                    "sorted_dicom_file_names": "",
                }
            ],
        )
        conn.execute(pl.Zval.__table__.insert(), [{"scan_id": 1, "val": z} for z in ZS])
        conn.execute(
            pl.Annotation.__table__.insert(),
            [{"id": i, "scan_id": 1, "_nodule_id": f"n{i}"} for i in (1, 2, 3)],
        )
        conn.execute(pl.Contour.__table__.insert(), contours)
    return tmp_path, sessionmaker(bind=engine)()


@pytest.mark.parametrize("clevel", [0.5, 1.0])
def test_export_consensus_masks_and_geometry(lidc, clevel):
    root, session = lidc
    report = prepare_lidc(root / "dicom", root / "out", clevel=clevel, session=session, verbose=False)
    assert report.written == [PID] and not report.problems
    image, mask = (
        load_nifti(root / "out/images" / f"{PID}.nii.gz"),
        load_nifti(root / "out/masks" / f"{PID}.nii.gz"),
    )
    img, m = np.asarray(image.dataobj), np.asarray(mask.dataobj)
    assert img.shape == m.shape == (SIZE, SIZE, N_SLICES)  # NIfTI axes: column (x), row (y), slice
    assert img[7, 3, 5] == 10 * 5 + 7  # HU = stored - 1024, slice order by z
    # world position of voxel (x=16, y=14, k=4): DICOM LPS (-16 + 16, -20 + 14, z4) -> RAS (0, 6, z4)
    np.testing.assert_allclose(image.affine @ [16, 14, 4, 1], [0.0, 6.0, ZS[4], 1.0])
    np.testing.assert_allclose(mask.affine, image.affine)
    assert m[16, 14, 4] == 1  # both readers
    assert m[10, 14, 4] == (1 if clevel <= 0.5 else 0)  # reader 1 only
    assert m[22, 14, 4] == (1 if clevel <= 0.5 else 0)  # reader 2 only
    assert m[28, 14, 4] == 0 and m[16, 14, 0] == 0 and m[16, 14, 7] == 0
    assert m[7, 27, 1] == 1  # the second nodule: its single reader is its whole cluster
    assert check_dataset("lidc_idri", root / "out").ok
    again = prepare_lidc(root / "dicom", root / "out", clevel=clevel, session=session, verbose=False)
    assert again.skipped == [PID] and not again.written  # resumable


def test_series_with_missing_slices_is_reported(lidc):
    root, session = lidc
    folder = root / "dicom" / PID / STUDY / SERIES
    (folder / "000004.dcm").unlink()
    report = prepare_lidc(root / "dicom", root / "out", session=session, verbose=False)
    assert not report.written
    [(where, msg)] = report.problems
    assert where == str(folder) and "missing slices" in msg and "z -36.00 -> -32.00 mm" in msg


def test_bad_inputs(tmp_path):
    with pytest.raises(DataError, match="LIDC-IDRI DICOM folder not found"):
        prepare_lidc(tmp_path / "nope", tmp_path / "out")
    with pytest.raises(DataError, match="consensus level"):
        prepare_lidc(tmp_path, tmp_path / "out", clevel=0.0)
