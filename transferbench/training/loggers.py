"""Loggers: CSV always; W&B offline unless the user has configured W&B (API key or ``WANDB_MODE``)."""

from __future__ import annotations

import netrc
import os
from pathlib import Path

from pytorch_lightning.loggers import WandbLogger as _WandbLogger


def wandb_configured() -> bool:
    """True when W&B can sync: an API key in the environment or in ``~/.netrc`` (``wandb login``)."""
    if os.environ.get("WANDB_API_KEY") or os.environ.get("WANDB_MODE", "").lower() == "online":
        return True
    try:
        return netrc.netrc(str(Path.home() / ".netrc")).authenticators("api.wandb.ai") is not None
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        return False


class WandbLogger(_WandbLogger):
    """Lightning's WandbLogger with ``offline=None`` meaning: online only if W&B is configured.

    Offline runs are written under ``save_dir/wandb`` and can be uploaded later with ``wandb sync``.
    """

    def __init__(self, offline: bool | None = None, project: str = "transferbench", **kwargs) -> None:
        if offline is None:
            # an explicit WANDB_MODE (e.g. ``disabled`` in tests, ``offline``) is left for wandb to apply
            offline = False if os.environ.get("WANDB_MODE") else not wandb_configured()
        super().__init__(offline=offline, project=project, **kwargs)


def build_loggers(
    root: str | Path, group: str | None = None, name: str | None = None, tags: list[str] | None = None
) -> list:
    """The run's loggers, in its folder: CSV (``logs/version_N/metrics.csv``, what the sweep reads) and W&B
    (offline unless configured) with the sweep's group, the run id as name and tags for its axes."""
    from pytorch_lightning.loggers import CSVLogger

    root = Path(root)
    return [
        CSVLogger(save_dir=str(root), name="logs", flush_logs_every_n_steps=1),
        WandbLogger(save_dir=str(root), group=group or root.name, name=name or root.name, tags=tags),
    ]
