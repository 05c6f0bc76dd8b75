"""Writing figures: a colour-blind-safe palette, PNG at 200 dpi beside a PDF, atomically, no global state.

Every figure of the package is made by ``new_figure`` and written by ``save_figure``: a PNG for screens and
a PDF (vector) to paste into a paper, both without timestamps so reruns are byte-identical. Figures are
made outside pyplot, so importing or using the package neither switches the caller's backend nor opens a
window in a notebook, and the Okabe-Ito palette (distinguishable with the common colour-vision
deficiencies) is the colour cycle of our axes only. ``radiological`` orients an axial slice the way
radiologists read it.
"""

from __future__ import annotations

import functools
import io
from pathlib import Path

import matplotlib
import numpy as np
from cycler import cycler
from matplotlib.figure import Figure

from transferbench.files import atomic_write_bytes

DPI = 200
# Okabe & Ito (2008): blue, orange, bluish green, vermillion, reddish purple, sky blue, yellow, black
OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
STYLE = {"axes.prop_cycle": cycler(color=OKABE_ITO)}


def styled(draw):
    """Run a figure-drawing function inside the package's style: colours such as a boxplot's median ("C1")
    are resolved when an artist is made, so the style must hold while drawing, and only then."""

    @functools.wraps(draw)
    def wrapper(*args, **kwargs):
        with matplotlib.rc_context(STYLE):
            return draw(*args, **kwargs)

    return wrapper


def new_figure(*grid: int, figsize: tuple[float, float] | None = None, **subplot_kw):
    """``(fig, axes)`` as ``plt.subplots`` gives them, on a figure pyplot does not manage, with our palette."""
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=figsize)
        axes = fig.subplots(*grid, **subplot_kw)
    return fig, axes


def radiological(axial: np.ndarray) -> np.ndarray:
    """An axial slice of a RAS-canonical (x, y) array for display: anterior up, the patient's right on the
    viewer's left (the radiological convention)."""
    return np.rot90(axial)[:, ::-1]


def save_figure(fig, path: str | Path) -> list[Path]:
    """``path`` (PNG, 200 dpi) and the same name with ``.pdf``; returns both paths."""
    path = Path(path)
    png, pdf = io.BytesIO(), io.BytesIO()
    fig.savefig(png, format="png", dpi=DPI, bbox_inches="tight", metadata={"Software": None})
    fig.savefig(pdf, format="pdf", bbox_inches="tight", metadata={"CreationDate": None, "Producer": None})
    out = [path, path.with_suffix(".pdf")]
    atomic_write_bytes(out[0], png.getvalue())
    atomic_write_bytes(out[1], pdf.getvalue())
    return out
