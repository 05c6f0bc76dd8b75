"""Loggers: CSV always; W&B offline unless the user has configured W&B (API key or ``WANDB_MODE``)."""

from __future__ import annotations

import json
import netrc
import os
import re
import sys
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


def wandb_id(run_id: str) -> str:
    """A W&B run id for a sweep run id: W&B forbids ``/ \\ # ? % :`` and long ids, ours may hold ``>``."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", run_id)
    return safe if len(safe) <= 64 else f"{safe[:51]}-{safe[-12:]}"


def build_loggers(
    root: str | Path,
    group: str | None = None,
    name: str | None = None,
    tags: list[str] | None = None,
    job_type: str | None = None,
    id: str | None = None,
) -> list:
    """The run's loggers, in its folder: CSV (``logs/version_N/metrics.csv``, what the sweep reads) and W&B
    (offline unless configured) with the sweep's group, the run id as name, tags for its axes, the phase
    as ``job_type`` and, given ``id`` (the sweep's stable run id), that id with resume allowed, so that a
    resumed run continues its own W&B run."""
    from pytorch_lightning.loggers import CSVLogger

    root = Path(root)
    wandb = {"id": wandb_id(id), "resume": "allow"} if id else {}
    return [
        CSVLogger(save_dir=str(root), name="logs", flush_logs_every_n_steps=1),
        WandbLogger(
            save_dir=str(root), group=group or root.name, name=name or root.name, tags=tags, job_type=job_type,
            **wandb,
        ),
    ]  # fmt: skip


def wandb_loggers(loggers) -> list[WandbLogger]:
    return [lg for lg in loggers if isinstance(lg, _WandbLogger)]


def log_config(loggers, config: dict) -> None:
    """The full resolved run config (network, trainer, seed, data, strategy) into each W&B run's config."""
    plain = json.loads(json.dumps(config, default=str))
    for lg in wandb_loggers(loggers):
        lg.experiment.config.update(plain, allow_val_change=True)


def finish_wandb() -> None:
    """End the process's current W&B run, so that the next training in a reused worker starts its own
    (Lightning's WandbLogger otherwise reuses the run in progress)."""
    wandb = sys.modules.get("wandb")
    if wandb is not None and getattr(wandb, "run", None) is not None:
        wandb.finish()
