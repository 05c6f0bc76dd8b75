"""Writing figures: the Agg backend, a colour-blind-safe palette, PNG at 200 dpi beside a PDF, atomically.

Every figure of the package goes through ``save_figure``: a PNG for screens and a PDF (vector) to paste
into a paper, both without timestamps so reruns are byte-identical. The Okabe-Ito palette (distinguishable
with the common colour-vision deficiencies) is the default colour cycle, and ``radiological`` orients an
axial slice the way radiologists read it.
"""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from cycler import cycler  # noqa: E402

from transferbench.files import atomic_write_bytes  # noqa: E402

DPI = 200
# Okabe & Ito (2008): blue, orange, bluish green, vermillion, reddish purple, sky blue, yellow, black
OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
plt.rcParams["axes.prop_cycle"] = cycler(color=OKABE_ITO)


def radiological(axial: np.ndarray) -> np.ndarray:
    """An axial slice of a RAS-canonical (x, y) array for display: anterior up, the patient's right on the
    viewer's left (the radiological convention)."""
    return np.rot90(axial)[:, ::-1]


def save_figure(fig, path: str | Path) -> list[Path]:
    """``path`` (PNG, 200 dpi) and the same name with ``.pdf``; returns both paths; closes ``fig``."""
    path = Path(path)
    png, pdf = io.BytesIO(), io.BytesIO()
    fig.savefig(png, format="png", dpi=DPI, bbox_inches="tight", metadata={"Software": None})
    fig.savefig(pdf, format="pdf", bbox_inches="tight", metadata={"CreationDate": None, "Producer": None})
    plt.close(fig)
    out = [path, path.with_suffix(".pdf")]
    atomic_write_bytes(out[0], png.getvalue())
    atomic_write_bytes(out[1], pdf.getvalue())
    return out
