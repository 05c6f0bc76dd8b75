"""Ground-truth ceiling of a model's geometry: the DSC a perfect network could reach through it.

A network sees each case resampled to the training spacing (and, for a 2D network, each axial slice
resized to the slice size), and predicts at its head's stride; its prediction then travels back to the
original grid. The ceiling passes the reference mask itself through that path, as the network's ideal
output: resample (nearest, as the training target) -> per slice: resize to ``slice_size`` (bilinear) ->
average over ``head_stride`` x ``head_stride`` cells (what a stride-s head can represent) -> bilinear back
-> resize to the slice's own size -> MONAI's inverse of the preprocessing (bilinear on the soft map) ->
threshold 0.5 -> DSC against the mask as stored. A ceiling well below 1 means the geometry, not the
training, bounds a row; ``transferbench ceiling --config NAME`` prints it per case and ``make bench``
records it for the packaged synthetic configs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from monai.transforms import Invertd

from transferbench.data.io import read_array
from transferbench.data.transforms import preprocess_transforms
from transferbench.evaluation.metrics import dice_score
from transferbench.models.registry import network_class


def through_slices(volume: torch.Tensor, slice_size: Sequence[int], head_stride: int) -> torch.Tensor:
    """A (C, X, Y, Z) soft map through a 2D network's geometry, as ``SegmentationModule._slice_logits``."""
    slices = volume.permute(3, 0, 1, 2).float()  # (Z, C, X, Y)
    x = F.interpolate(slices, size=tuple(slice_size), mode="bilinear", align_corners=False)
    if head_stride > 1:
        coarse = F.avg_pool2d(x, head_stride, stride=head_stride)
        x = F.interpolate(coarse, size=tuple(slice_size), mode="bilinear", align_corners=False)
    back = F.interpolate(x, size=volume.shape[1:3], mode="bilinear", align_corners=False)
    return back.permute(1, 2, 3, 0)


def geometry_ceiling(
    image: str | Path,
    label: str | Path,
    target_spacing: Sequence[float],
    slice_size: Sequence[int] | None = None,
    head_stride: int = 1,
) -> float:
    """DSC of the reference mask of one case through the geometry (``slice_size`` None: a 3D network)."""
    transform = preprocess_transforms(tuple(float(s) for s in target_spacing))
    data = transform({"image": str(image), "label": str(label)})
    soft = (data["label"] > 0).float()
    if slice_size is not None:
        soft = through_slices(soft.as_tensor(), slice_size, head_stride)
    pred_map = data["label"].clone()
    pred_map.set_array(soft)
    inverter = Invertd(keys="pred", transform=transform, orig_keys="label", nearest_interp=False)
    back = inverter({**data, "pred": pred_map})["pred"]
    gt = read_array(label) > 0
    pred = np.asarray(back[0]) >= 0.5
    if pred.shape != gt.shape:
        raise RuntimeError(f"{label}: inverted map has shape {pred.shape}, the mask {gt.shape}")
    return dice_score(torch.from_numpy(pred), torch.from_numpy(gt))


def config_ceiling(config: dict, split: str = "test") -> pd.DataFrame:
    """Per-case ceilings of a fit config's geometry: its data (spacing: fixed, or the training cases'
    median as the run would choose it), slice size for a 2D network and the network's ``head_stride``."""
    from transferbench.data.datamodule import CTSegDataModule

    data = dict(config.get("data") or {})
    data.pop("prepare_synthetic", None)
    dm = CTSegDataModule(**data)
    cases = dm.resolve_cases()[split]
    net = network_class(config)
    size = tuple(dm.hparams.patch_size) if getattr(net, "spatial_dims", 3) == 2 else None
    stride = int(getattr(net, "head_stride", 1)) if size else 1
    spacing = dm.target_spacing
    rows = [
        {
            "case": c.case_id,
            "dsc_ceiling": geometry_ceiling(c.image, c.label, spacing, size, stride),
            "spacing": "x".join(f"{s:g}" for s in spacing),
            "slice_size": "x".join(map(str, size)) if size else "",
            "head_stride": stride,
        }
        for c in cases
    ]
    return pd.DataFrame(rows)
