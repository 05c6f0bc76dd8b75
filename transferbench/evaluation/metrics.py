"""Per-case 3D segmentation metrics in millimetres: DSC, NSD (DeepMind definition) and HD95.

Surface metrics use MONAI (``compute_surface_dice`` with sub-voxel surface elements, which is the
surface-distance package's definition; ``compute_hausdorff_distance``) with the voxel spacing from the
image header. Empty-mask conventions follow the public benchmark:

- both masks empty: DSC and NSD undefined (NaN, counted separately by the leaderboard), HD95 NaN;
- exactly one mask empty: DSC 0, NSD 0, and HD95 set to the image diagonal in mm (the worst possible
  distance) so that failed cases are penalised instead of silently dropped from the mean.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from monai.metrics import compute_hausdorff_distance, compute_surface_dice

METRIC_COLUMNS = ("dsc", "nsd", "hd95_mm", "gt_ml", "pred_ml")


def _onehot(mask: np.ndarray) -> torch.Tensor:
    m = torch.as_tensor(np.ascontiguousarray(mask), dtype=torch.bool)
    return torch.stack([~m, m])[None].float()


def case_metrics(
    pred: np.ndarray,
    gt: np.ndarray,
    spacing: Sequence[float],
    tolerance_mm: float = 3.0,
) -> dict[str, float]:
    """Metrics of one binary prediction against its reference, both on the same voxel grid."""
    pred, gt = np.asarray(pred) > 0, np.asarray(gt) > 0
    if pred.shape != gt.shape:
        raise ValueError(f"prediction shape {pred.shape} differs from reference shape {gt.shape}")
    spacing = [float(s) for s in spacing[: gt.ndim]]
    voxel_ml = float(np.prod(spacing)) / 1000.0
    out = {"gt_ml": float(gt.sum()) * voxel_ml, "pred_ml": float(pred.sum()) * voxel_ml}
    n_pred, n_gt = int(pred.sum()), int(gt.sum())
    if n_pred == 0 and n_gt == 0:
        return {"dsc": math.nan, "nsd": math.nan, "hd95_mm": math.nan, **out}
    if n_pred == 0 or n_gt == 0:
        diagonal = float(np.linalg.norm(np.array(gt.shape) * np.array(spacing)))
        return {"dsc": 0.0, "nsd": 0.0, "hd95_mm": diagonal, **out}
    dsc = 2.0 * float(np.logical_and(pred, gt).sum()) / (n_pred + n_gt)
    yp, yt = _onehot(pred), _onehot(gt)
    nsd = compute_surface_dice(
        yp, yt, class_thresholds=[tolerance_mm], include_background=False, spacing=spacing, use_subvoxels=True
    )
    hd95 = compute_hausdorff_distance(yp, yt, include_background=False, percentile=95, spacing=spacing)
    return {"dsc": dsc, "nsd": float(nsd.item()), "hd95_mm": float(hd95.item()), **out}


def dice_score(pred: torch.Tensor, gt: torch.Tensor) -> float:
    """Plain foreground Dice of two binary tensors (NaN when both are empty); for validation monitoring."""
    p, g = pred.bool(), gt.bool()
    denom = int(p.sum() + g.sum())
    return math.nan if denom == 0 else 2.0 * float((p & g).sum()) / denom
