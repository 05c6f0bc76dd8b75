"""Matplotlib set-up shared by the figure modules: the Agg backend and one atomic PNG writer."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from transferbench.files import atomic_write_bytes  # noqa: E402


def save(fig, path: Path) -> None:
    """Write ``fig`` as PNG atomically (no timestamp metadata, so reruns are byte-identical) and close it."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
