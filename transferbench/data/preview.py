"""A PNG with one axial slice per domain and the lesion outlined: a quick look at what a source contains."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np

from transferbench.data.intensity import HU_WINDOW
from transferbench.data.sources import create_source
from transferbench.plots import new_figure, radiological, save_figure, styled

PANELS = (
    ("covid19_ct_seg", "coronacases_001", "COVID-19 (coronacases, HU)"),
    ("covid19_ct_seg", "radiopaedia_4_85506_1", "COVID-19 (radiopaedia, 0..255)"),
    ("msd_lung_tumor", None, "MSD lung tumour"),
    ("structseg_gtv", None, "StructSeg GTV"),
    ("nsclc_pleural_effusion", None, "NSCLC pleural effusion"),
    ("lidc_idri", None, "LIDC-IDRI nodules"),
    ("positive_control", None, "positive control"),
    ("negative_control", None, "negative control (mask not its image's)"),
    ("anatomy_control", None, "anatomy control (lungs)"),
)


def _ras(path: Path) -> tuple[np.ndarray, tuple[float, ...]]:
    img = nib.as_closest_canonical(nib.load(str(path)))
    return np.asarray(img.dataobj, dtype=np.float32), img.header.get_zooms()[:3]


@styled
def render_preview(root: str | Path, out: str | Path) -> Path:
    """Write ``out`` (PNG): per domain, the axial slice with the most lesion voxels, HU window -1250..250."""
    columns = 5
    rows = -(-len(PANELS) // columns)
    fig, axes = new_figure(rows, columns, figsize=(3.2 * columns, 3.4 * rows), squeeze=False)
    for ax in axes.ravel()[len(PANELS) :]:
        ax.axis("off")
    for ax, (name, case_id, title) in zip(axes.ravel(), PANELS):
        source = create_source(name)
        cases = {c.case_id: c for c in source.find_cases(root)}
        case = cases[case_id] if case_id else next(iter(cases.values()))
        image, spacing = _ras(case.image)
        label, _ = _ras(case.label)
        if image.min() >= 0 and image.max() <= 255:  # 0..255 storage: already windowed
            image = image / 255.0 * (HU_WINDOW[1] - HU_WINDOW[0]) + HU_WINDOW[0]
        k = int(np.argmax((label > 0).sum(axis=(0, 1))))
        sl, ml = radiological(image[:, :, k]), radiological(label[:, :, k] > 0)
        ax.imshow(sl, cmap="gray", vmin=HU_WINDOW[0], vmax=HU_WINDOW[1], aspect=spacing[1] / spacing[0])
        if ml.any():
            ax.contour(ml, levels=[0.5], colors=["#E69F00"], linewidths=1.0)
        ax.set_title(f"{title}\n{case.case_id}", fontsize=8)
        ax.axis("off")
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_figure(fig, out)
    return out
