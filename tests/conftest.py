"""Shared fixtures: one small synthetic benchmark per test session, and helpers to write NIfTI files."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

os.environ.setdefault("WANDB_MODE", "disabled")
if os.environ.get("PYTEST_XDIST_WORKER"):  # `make test` runs two workers on two cores: one thread each
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="session", autouse=True)
def calibration_cache(tmp_path_factory):
    """Sweeps measure this machine's step costs and cache them: in a session folder, not the user's cache."""
    os.environ["TRANSFERBENCH_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))


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


@pytest.fixture(scope="session")
def trained_run(synthetic_root, tmp_path_factory):
    """A tiny trained U-Net run folder (one epoch), for the tests that predict with one; read-only."""
    run = tmp_path_factory.mktemp("run") / "unet"
    from transferbench.cli.main import main

    code = main([
        "fit", "--config", "synthetic_unet3d", "--data.root", str(synthetic_root),
        "--data.prepare_synthetic", "false", "--model.net.init_args.preset", "tiny",
        "--data.patch_size", "[32, 32, 16]", "--data.target_spacing", "[6, 6, 9]",
        "--trainer.max_epochs", "1", "--data.iterations_per_epoch", "2", "--trainer.logger", "false",
        "--trainer.enable_progress_bar", "false", "--test_after_fit", "false",
        "--model.test_mirror_axes", "[0]", "--trainer.default_root_dir", str(run),
    ])  # fmt: skip
    assert code == 0
    return run
