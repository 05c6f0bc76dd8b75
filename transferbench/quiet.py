"""The known upstream messages that say nothing about a run, filtered in one place (``quiet_upstream``).

Each entry names where it comes from and why it is noise here. Anything else still reaches the user.
W&B's own terminal warnings (``anonymous setting``, ``git root``) come from its service process and are
left alone.
"""

from __future__ import annotations

import logging
import warnings

# (category, message regex, why)
WARNINGS = [
    (UserWarning, r".*NvImgCodecPydicomReader.*", "MONAI: no GPU DICOM decoder; we read NIfTI only"),
    (FutureWarning, r".*always_return_as_numpy.*", "MONAI: its own get_edge_surface_distance passes it"),
    (
        Warning,
        r".*isinstance\(treespec, LeafSpec\)`? is deprecated.*",
        "Lightning's pytree shim on new torch",
    ),
    (UserWarning, r".*LightningCLI's args parameter is intended.*", "main() passes resolved arguments"),
]
# (logger name, substring, why)
LOG_LINES = [
    ("monai.data.nvimgcodec_pydicom_plugin", "nvImageCodec is not available", "as the warning above"),
    ("pytorch_lightning.utilities.rank_zero", "litlogger", "an advertisement printed on every fit"),
]


class _DropContaining(logging.Filter):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def filter(self, record: logging.LogRecord) -> bool:
        return self.text not in record.getMessage()


def quiet_upstream() -> None:
    """Install the filters (idempotent); called by the command line before anything is imported."""
    for category, message, _ in WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=category)
    for name, text, _ in LOG_LINES:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropContaining) and f.text == text for f in logger.filters):
            logger.addFilter(_DropContaining(text))
