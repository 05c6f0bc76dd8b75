"""Per-case 3D segmentation metrics in millimetres: DSC, and NSD and HD95 as DeepMind defines them.

Both surface metrics come from one surface computation: MONAI's ``get_edge_surface_distance`` with
sub-voxel surface elements (``use_subvoxels``: the surfels and their areas of DeepMind's surface-distance
package) and the voxel spacing from the image header. NSD at tolerance t is the surfel area within t of the
other surface over the total area (``compute_surface_dice_at_tolerance``); HD95 is the larger of the two
directed surfel-*area-weighted* 95th percentiles (``compute_robust_hausdorff``), not the percentile of voxel
distances (MONAI's ``compute_hausdorff_distance``, which differs by up to a third on small lesions).

Empty masks:

- both empty: DSC, NSD and HD95 undefined (NaN; the leaderboard counts such cases);
- exactly one empty: DSC 0 and NSD 0 (a complete miss), HD95 undefined (NaN): no distance exists, and any
  stand-in (DeepMind's inf, the image diagonal) would make HD95 means depend on the image extent and be
  dominated by failures. Such cases are left out of HD95 means and counted (``hd95_undefined`` in the test
  summary); DSC and NSD already penalise them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from monai.metrics.utils import get_edge_surface_distance

METRIC_COLUMNS = ("dsc", "nsd", "hd95_mm", "gt_ml", "pred_ml")


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
        return {"dsc": 0.0, "nsd": 0.0, "hd95_mm": math.nan, **out}
    dsc = 2.0 * float(np.logical_and(pred, gt).sum()) / (n_pred + n_gt)
    d_gt, a_gt, d_pred, a_pred = surface_distances(pred, gt, spacing)
    nsd = (a_gt[d_gt <= tolerance_mm].sum() + a_pred[d_pred <= tolerance_mm].sum()) / (
        a_gt.sum() + a_pred.sum()
    )
    hd95 = max(robust_percentile(d_gt, a_gt, 95.0), robust_percentile(d_pred, a_pred, 95.0))
    return {"dsc": dsc, "nsd": float(nsd), "hd95_mm": hd95, **out}


def surface_distances(
    pred: np.ndarray, gt: np.ndarray, spacing: Sequence[float]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(distances gt -> pred surface, gt surfel areas, distances pred -> gt surface, pred surfel areas), mm
    and mm^2, for two non-empty binary masks (DeepMind's surfels, via MONAI)."""
    (edges_pred, edges_gt), (d_pred, d_gt), (a_pred, a_gt) = get_edge_surface_distance(
        torch.as_tensor(np.ascontiguousarray(pred)),
        torch.as_tensor(np.ascontiguousarray(gt)),
        spacing=list(spacing),
        use_subvoxels=True,
        symmetric=True,
    )
    return (
        d_gt.numpy().astype(np.float64),
        a_gt[edges_gt].numpy().astype(np.float64),
        d_pred.numpy().astype(np.float64),
        a_pred[edges_pred].numpy().astype(np.float64),
    )


def robust_percentile(distances: np.ndarray, areas: np.ndarray, percent: float) -> float:
    """The ``percent`` percentile of surface distances weighted by surfel area (DeepMind's
    ``compute_robust_hausdorff``, one direction): the smallest distance whose cumulative area share reaches it."""
    if len(distances) == 0:
        return math.nan
    order = np.argsort(distances, kind="stable")
    cum = np.cumsum(areas[order]) / np.sum(areas)
    idx = int(np.searchsorted(cum, percent / 100.0))
    return float(distances[order][min(idx, len(distances) - 1)])


def dice_score(pred: torch.Tensor, gt: torch.Tensor) -> float:
    """Plain foreground Dice of two binary tensors (NaN when both are empty); for validation monitoring."""
    p, g = pred.bool(), gt.bool()
    denom = int(p.sum() + g.sum())
    return math.nan if denom == 0 else 2.0 * float((p & g).sum()) / denom
