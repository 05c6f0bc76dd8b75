"""Matplotlib set-up shared by the figure modules (``transferbench.plots``): the Agg backend, the palette
and the writer of every figure (PNG at 200 dpi and PDF)."""

from __future__ import annotations

from pathlib import Path

from transferbench.plots import OKABE_ITO, radiological, save_figure

__all__ = ["OKABE_ITO", "radiological", "save"]


def save(fig, path: Path) -> None:
    """Write ``fig`` as PNG and PDF atomically (no timestamps, so reruns are byte-identical) and close it."""
    save_figure(fig, path)
