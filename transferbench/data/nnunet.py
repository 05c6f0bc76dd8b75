"""nnU-Net v2's 3d_fullres training pipeline with MONAI transforms (``data.pipeline: nnunet``).

Read from MIC-DKFZ/nnUNet: ``CTNormalization`` (default_normalization_schemes.py), ``nnUNetTrainer.
get_training_transforms`` and ``configure_rotation_dummyDA_mirroring_and_inital_patch_size``; numbers in
``shared/reference/nnunet-pipeline.md``. Axes here are (x, y, z); nnU-Net's are (z, y, x).

- CT normalisation: clip to the training set's foreground 0.5 / 99.5 percentiles, subtract the foreground
  mean, divide by the foreground sd (``foreground_intensity_hu`` of the fingerprint).
- Spatial: rotation [p 0.2] and scaling 0.7..1.4 [p 0.2] on a larger initial patch, then the centre crop.
  Rotation +-30 degrees about every axis, or, when the patch is anisotropic (``max(patch) / patch_z > 3``,
  as the COVID-19 benchmark's 192 x 160 x 56), nnU-Net's "dummy 2D": in-plane rotation +-180 degrees only.
- Intensity: Gaussian noise [0.1], Gaussian blur sigma 0.5..1 [0.2 x 0.5 per channel], brightness
  0.75..1.25 [0.15], contrast 0.75..1.25 [0.15, range kept], low resolution 0.5..1 [0.25 x 0.5 per
  channel], gamma 0.7..1.5 on the inverted image [0.1] and on the image [0.3], statistics retained.
- Mirroring along x, y and z [0.5 each]. Foreground oversampling 0.33 (``pos_fraction``).

Deviations, named: the normalisation is applied to the cached volume, which was windowed to -1250..250 HU
and resampled first (nnU-Net clips before resampling; the two differ only next to voxels beyond the
percentiles, and bounds outside the window are held at the window); each patch is centred on foreground
with probability 0.33 independently (nnU-Net forces the last ``round(0.33 * B)`` patches of a batch, 1 of 2
at batch 2); MONAI draws the noise sd uniformly in [0, sqrt(0.1)] where nnU-Net draws the variance in
[0, 0.1]; MONAI zooms (scale > 1 enlarges) where nnU-Net scales coordinates (the inverse; the range
0.7..1.4 is close to symmetric under inversion); low-resolution simulation also acts along z in dummy 2D
mode; the rotation and scaling interpolate with MONAI's bilinear / nearest, not nnU-Net's cubic spline.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Hashable, Mapping, Sequence

import numpy as np
import torch
from monai.config import KeysCollection
from monai.transforms import (
    CenterSpatialCropd,
    Compose,
    EnsureTyped,
    MapTransform,
    RandAdjustContrastd,
    RandCropByPosNegLabeld,
    RandFlipd,
    RandGaussianNoised,
    RandGaussianSmoothd,
    RandRotated,
    RandScaleIntensityd,
    RandScaleIntensityFixedMeand,
    RandSimulateLowResolutiond,
    RandZoomd,
    SpatialPadd,
)

from transferbench.data.intensity import HU_WINDOW
from transferbench.errors import DataError

ANISO_PATCH = 3.0  # nnU-Net's ANISO_THRESHOLD for dummy-2D augmentation
FOREGROUND_OVERSAMPLING = 0.33  # nnUNetTrainer.oversample_foreground_percent
SCALE_RANGE = (0.7, 1.4)
INITIAL_PATCH_MIN_SCALE = 0.85  # nnU-Net sizes the initial patch for scales (0.85, 1.25)


def intensity_properties(fingerprint: dict) -> dict[str, float]:
    """The four numbers ``CTNormalization`` needs, from a fingerprint; a clear error when they are missing."""
    fg = fingerprint.get("foreground_intensity_hu") or {}
    props = {k: fg.get(k) for k in ("p00_5", "p99_5", "mean", "std")}
    if any(v is None or not math.isfinite(float(v)) for v in props.values()):
        raise DataError(
            f"fingerprint of {fingerprint.get('source')}: no foreground intensities (no labelled voxel in the "
            "training cases), which nnU-Net's CT normalisation needs"
        )
    return {k: float(v) for k, v in props.items()}


def ct_normalise(x01: torch.Tensor, props: Mapping[str, float]) -> torch.Tensor:
    """nnU-Net's ``CTNormalization`` of a volume stored windowed to [0, 1] (``HU_WINDOW``)."""
    lo_w, hi_w = HU_WINDOW
    hu = x01 * (hi_w - lo_w) + lo_w
    lo, hi = max(props["p00_5"], lo_w), min(props["p99_5"], hi_w)
    return (hu.clamp(lo, hi) - props["mean"]) / max(props["std"], 1e-8)


class NNUNetCTNormalized(MapTransform):
    """``ct_normalise`` on ``keys`` with the given intensity properties (``intensity_properties``)."""

    def __init__(self, keys: KeysCollection, props: Mapping[str, float]) -> None:
        super().__init__(keys)
        self.props = dict(props)

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = ct_normalise(d[key], self.props)
        return d


def dummy_2d(patch_size: Sequence[int]) -> bool:
    """nnU-Net's rule: rotate in plane only when the patch is much shorter along z."""
    return max(patch_size) / patch_size[2] > ANISO_PATCH


def rotation_ranges(patch_size: Sequence[int]) -> tuple[float, float, float]:
    """Rotation ranges about x, y, z (radians): +-30 degrees each, or +-180 degrees about z in dummy 2D."""
    return (0.0, 0.0, math.pi) if dummy_2d(patch_size) else (math.pi / 6,) * 3


def _rotations(ax: np.ndarray, ay: np.ndarray, az: np.ndarray) -> np.ndarray:
    """(N, 3, 3) rotation matrices ``Rz @ Ry @ Rx`` for N angle triples."""
    n = len(ax)
    one, zero = np.ones(n), np.zeros(n)
    rx = np.stack([one, zero, zero, zero, np.cos(ax), -np.sin(ax), zero, np.sin(ax), np.cos(ax)], 1)
    ry = np.stack([np.cos(ay), zero, np.sin(ay), zero, one, zero, -np.sin(ay), zero, np.cos(ay)], 1)
    rz = np.stack([np.cos(az), -np.sin(az), zero, np.sin(az), np.cos(az), zero, zero, zero, one], 1)
    return rz.reshape(n, 3, 3) @ ry.reshape(n, 3, 3) @ rx.reshape(n, 3, 3)


def initial_patch_size(patch_size: Sequence[int], ranges: Sequence[float]) -> tuple[int, ...]:
    """The patch to crop before rotating and scaling, so the final centre crop holds no padding: the
    bounding box of the patch rotated by any angle within ``ranges`` (every degree; every 3 degrees when
    several axes rotate), divided by 0.85
    (nnU-Net's ``get_patch_size`` with scales 0.85..1.25), capped at 2x."""
    half = np.array(patch_size, float) / 2
    corners = np.array(list(itertools.product(*[(-h, h) for h in half])))  # (8, 3)
    step = 1 if sum(1 for r in ranges if r) <= 1 else 3  # degrees; 21^3 triples for +-30 degrees on 3 axes
    grids = [
        np.linspace(-r, r, 2 * math.ceil(math.degrees(r) / step) + 1) if r else np.zeros(1) for r in ranges
    ]
    angles = [g.ravel() for g in np.meshgrid(*grids, indexing="ij")]
    rotated = np.einsum("nij,cj->nci", _rotations(*angles), corners)
    extent = np.maximum(half, np.abs(rotated).max((0, 1))) / INITIAL_PATCH_MIN_SCALE
    return tuple(int(min(2 * p, math.ceil(2 * e - 1e-6))) for p, e in zip(patch_size, extent))


def nnunet_train_transforms(
    patch_size: Sequence[int],
    samples_per_volume: int,
    pos_fraction: float = FOREGROUND_OVERSAMPLING,
    props: Mapping[str, float] | None = None,
) -> Compose:
    """Training patches with nnU-Net's augmentation, from cached [0, 1] volumes (normalised first)."""
    if props is None:
        raise DataError("the nnunet pipeline needs the training set's intensity properties")
    keys = ["image", "label"]
    patch = tuple(int(p) for p in patch_size)
    rx, ry, rz = rotation_ranges(patch)
    big = initial_patch_size(patch, (rx, ry, rz))
    return Compose(
        [
            NNUNetCTNormalized("image", props),
            SpatialPadd(keys, spatial_size=big),
            RandCropByPosNegLabeld(
                keys,
                label_key="label",
                spatial_size=big,
                pos=pos_fraction,
                neg=1.0 - pos_fraction,
                num_samples=samples_per_volume,
                allow_smaller=False,
            ),  # fmt: skip
            RandRotated(
                keys,
                range_x=rx,
                range_y=ry,
                range_z=rz,
                prob=0.2,
                mode=("bilinear", "nearest"),
                padding_mode="zeros",
            ),  # fmt: skip
            RandZoomd(
                keys,
                prob=0.2,
                min_zoom=SCALE_RANGE[0],
                max_zoom=SCALE_RANGE[1],
                mode=("trilinear", "nearest"),
                padding_mode="constant",
            ),  # fmt: skip
            CenterSpatialCropd(keys, roi_size=patch),
            RandGaussianNoised("image", prob=0.1, std=math.sqrt(0.1)),
            RandGaussianSmoothd(
                "image", sigma_x=(0.5, 1.0), sigma_y=(0.5, 1.0), sigma_z=(0.5, 1.0), prob=0.1
            ),
            RandScaleIntensityd("image", factors=0.25, prob=0.15),
            RandScaleIntensityFixedMeand("image", factors=0.25, preserve_range=True, prob=0.15),
            RandSimulateLowResolutiond("image", prob=0.125, zoom_range=(0.5, 1.0)),
            RandAdjustContrastd("image", prob=0.1, gamma=(0.7, 1.5), invert_image=True, retain_stats=True),
            RandAdjustContrastd("image", prob=0.3, gamma=(0.7, 1.5), invert_image=False, retain_stats=True),
            RandFlipd(keys, prob=0.5, spatial_axis=0),
            RandFlipd(keys, prob=0.5, spatial_axis=1),
            RandFlipd(keys, prob=0.5, spatial_axis=2),
            EnsureTyped(keys, dtype=torch.float32, track_meta=False),
        ]
    )
