"""Figures a researcher can paste into a paper: labelled colour bars, hatched missing cells, the radiological
convention with a legend, NSD and HD95 beside DSC, PNG and PDF."""

from __future__ import annotations

import numpy as np
import pandas as pd

from transferbench.evaluation import figures
from transferbench.plots import OKABE_ITO, radiological, save_figure


def _capture(monkeypatch) -> list:
    shown = []
    monkeypatch.setattr(figures, "save", lambda fig, path: shown.append(fig))
    return shown


def test_heatmap_labels_its_colour_bar_and_hatches_missing_cells(monkeypatch):
    board = pd.DataFrame(
        [
            {"model": "m", "strategy": "finetune", "source": "a", "dsc_diff_scratch_matched": 0.1, "verdict": "better"},
            {"model": "m", "strategy": "encoder", "source": "b", "dsc_diff_scratch_matched": -0.05, "verdict": "too few seeds"},
        ]
    )  # fmt: skip
    shown = _capture(monkeypatch)
    figures.heatmap(board, "m", None)
    (fig,) = shown
    colourbar = [ax for ax in fig.axes if ax.get_ylabel() == "DSC difference to scratch_matched"]
    assert colourbar  # labelled
    ax = fig.axes[0]
    hatched = [p for p in ax.patches if p.get_hatch() == "///"]
    assert len(hatched) == 2  # finetune / b and encoder / a were not run
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["not run"]


def test_per_case_figure_has_dsc_nsd_and_hd95_panels(monkeypatch):
    rows = [{"model": "m", "strategy": s, "source": "-", "case": f"c{i}", "dsc": 0.5 + 0.01 * i, "nsd_3mm": 0.6,
             "hd95_mm": 10.0 + i} for s in ("scratch", "finetune") for i in range(5)]  # fmt: skip
    shown = _capture(monkeypatch)
    figures.distributions(pd.DataFrame(rows), "m", None)
    (fig,) = shown
    assert [ax.get_ylabel() for ax in fig.axes] == [
        "per-case DSC",
        "per-case NSD at 3mm",
        "per-case HD95 (mm)",
    ]


def test_radiological_convention():
    """RAS array: x grows toward the patient's right, y toward anterior. Displayed: right on the viewer's
    left, anterior at the top (as the data preview)."""
    axial = np.zeros((5, 4))
    axial[4, 0] = 1  # patient's far right, posterior
    shown = radiological(axial)
    assert shown.shape == (4, 5) and shown[3, 0] == 1  # bottom row (posterior), left column (right side)


def test_every_figure_in_png_at_200_dpi_and_pdf(tmp_path):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1], color=OKABE_ITO[0])
    png, pdf = save_figure(fig, tmp_path / "f.png")
    assert png.read_bytes()[:4] == b"\x89PNG" and pdf.read_bytes()[:4] == b"%PDF"
    from tests.sweep.test_sweep import png_dpi

    assert png_dpi(png) >= 200
