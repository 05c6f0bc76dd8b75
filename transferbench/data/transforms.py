"""CT preprocessing and patch sampling as MONAI dictionary transforms.

Deterministic part (cached): load -> HU window [-1250, 250] mapped to [0, 1] -> RAS orientation ->
resample to the target spacing -> crop to the body. Volumes stored as 0..255 (the radiopaedia half of
COVID-19-CT-Seg, already windowed to the same range) are detected from their intensity range and mapped
to the same scale, so both storage conventions end up identical.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

import torch
from monai.config import KeysCollection
from monai.transforms import (
    Compose,
    CropForegroundd,
    EnsureTyped,
    LoadImaged,
    MapTransform,
    Orientationd,
    RandCropByPosNegLabeld,
    RandFlipd,
    RandScaleIntensityd,
    RandShiftIntensityd,
    Spacingd,
    SpatialPadd,
)

from transferbench.data.intensity import BODY_THRESHOLD, HU_WINDOW, storage_of


class CTNormalized(MapTransform):
    """Map HU (window ``HU_WINDOW``) or 0..255 storage to [0, 1]; the storage is detected per volume."""

    def __init__(self, keys: KeysCollection, window: tuple[float, float] = HU_WINDOW) -> None:
        super().__init__(keys)
        self.window = window

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict:
        d = dict(data)
        for key in self.key_iterator(d):
            img = d[key]
            name = str(getattr(img, "meta", {}).get("filename_or_obj", key))
            if storage_of(img, name) == "u8":
                d[key] = img / 255.0
            else:
                lo, hi = self.window
                d[key] = (img.clamp(lo, hi) - lo) / (hi - lo)
        return d


def _is_body(x: torch.Tensor) -> torch.Tensor:
    return x > BODY_THRESHOLD


def preprocess_transforms(
    target_spacing: Sequence[float], keys: Sequence[str] = ("image", "label")
) -> Compose:
    """Deterministic, invertible preprocessing shared by training, validation and test."""
    keys = list(keys)
    modes = ["bilinear" if k == "image" else "nearest" for k in keys]
    return Compose(
        [
            LoadImaged(keys, image_only=True, ensure_channel_first=True),
            CTNormalized("image"),  # window before resampling, so 0..255 and HU storage interpolate alike
            Orientationd(keys, axcodes="RAS", labels=(("L", "R"), ("P", "A"), ("I", "S"))),
            Spacingd(keys, pixdim=tuple(target_spacing), mode=modes),
            CropForegroundd(keys, source_key="image", select_fn=_is_body, margin=2, allow_smaller=True),
            EnsureTyped(keys, dtype=torch.float32, track_meta=True),
        ]
    )


def inference_transforms(
    target_spacing: Sequence[float], intensity: Mapping[str, float] | None = None
) -> Compose:
    """The image's preprocessing for prediction (invertible: the prediction maps back through it), with
    nnU-Net's CT normalisation appended when the run used the ``nnunet`` pipeline (its ``intensity``)."""
    pre = preprocess_transforms(target_spacing, keys=("image",))
    if intensity is None:
        return pre
    from transferbench.data.nnunet import NNUNetCTNormalized

    return Compose([*pre.transforms, NNUNetCTNormalized("image", intensity)])


def train_patch_transforms(
    patch_size: Sequence[int], samples_per_volume: int, pos_fraction: float
) -> Compose:
    """Random patches balanced between lesion and background centres, flips and intensity jitter."""
    keys = ["image", "label"]
    return Compose(
        [
            SpatialPadd(keys, spatial_size=tuple(patch_size)),
            RandCropByPosNegLabeld(
                keys,
                label_key="label",
                spatial_size=tuple(patch_size),
                pos=pos_fraction,
                neg=1.0 - pos_fraction,
                num_samples=samples_per_volume,
                allow_smaller=False,
            ),
            RandFlipd(keys, prob=0.5, spatial_axis=0),
            RandScaleIntensityd("image", factors=0.1, prob=0.5),
            RandShiftIntensityd("image", offsets=0.05, prob=0.5),
            EnsureTyped(keys, dtype=torch.float32, track_meta=False),
        ]
    )
