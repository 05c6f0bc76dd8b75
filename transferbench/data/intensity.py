"""CT intensity conventions in one place: the HU window, the body threshold and storage detection.

Volumes are stored either in Hounsfield units or, like the radiopaedia half of COVID-19-CT-Seg, already
windowed to [-1250, 250] HU and rescaled to 0..255; ``storage_of`` tells them apart by their range, so the
checks, the fingerprint and the preprocessing agree on every file.
"""

from __future__ import annotations

import numpy as np
import torch

from transferbench.errors import DataError

HU_WINDOW = (-1250.0, 250.0)
BODY_THRESHOLD = 0.2  # normalised intensity of about -950 HU: separates air from the body


def storage_of(image: torch.Tensor | np.ndarray, name: str = "image") -> str:
    """``"u8"`` for volumes stored as 0..255, ``"hu"`` for raw Hounsfield units; else a clear error.

    A volume within [0, 1] is refused rather than read as 0..255: it was normalised by some other tool with
    a window we cannot know, and reading it as 0..255 would divide it by 255 a second time.
    """
    lo, hi = float(image.min()), float(image.max())
    if lo >= 0.0 and hi <= 1.0:
        raise DataError(
            f"{name}: intensities within [{lo:.3g}, {hi:.3g}]: an image already normalised to 0..1 (float "
            "storage), whose HU window is unknown. Store the CT in HU, or windowed to -1250..250 HU and rescaled "
            "to 0..255 (the radiopaedia convention)"
        )
    if lo >= 0.0 and hi <= 255.0:
        return "u8"
    if lo <= -500.0 and hi <= 4095.0:
        return "hu"
    raise DataError(
        f"{name}: intensity range [{lo:.1f}, {hi:.1f}] matches neither CT in HU (minimum below -500, air) "
        "nor 0..255 windowed storage"
    )
