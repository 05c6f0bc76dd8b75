"""Shared fixtures: one small synthetic benchmark per test session, and helpers to write NIfTI files."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

os.environ.setdefault("WANDB_MODE", "disabled")
warnings.filterwarnings("ignore", category=FutureWarning)


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory) -> Path:
    from transferbench.data.synthetic import prepare_synthetic

    root = tmp_path_factory.mktemp("synthetic")
    prepare_synthetic(root, seed=0, n_source_cases=5, verbose=False)
    return root


def write_nifti(path: Path, array: np.ndarray, spacing=(1.0, 1.0, 1.0), affine=None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    aff = np.diag([*spacing, 1.0]) if affine is None else affine
    nib.save(nib.Nifti1Image(array, aff), str(path))
    return path


@pytest.fixture
def nifti_pair(tmp_path):
    """A valid HU image with a binary label, 24^3 voxels."""
    rng = np.random.default_rng(0)
    image = rng.integers(-1000, 200, (24, 24, 24)).astype(np.int16)
    label = np.zeros((24, 24, 24), np.uint8)
    label[8:14, 8:14, 8:14] = 1
    return write_nifti(tmp_path / "img.nii.gz", image), write_nifti(tmp_path / "lab.nii.gz", label)
