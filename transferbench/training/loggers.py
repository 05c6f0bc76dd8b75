"""Loggers: CSV always; W&B offline unless the user has configured W&B (API key or ``WANDB_MODE``).

W&B as its users expect it: project and entity settable (``--wandb '{project: p, entity: e}'``, a sweep
file's ``wandb:``), one W&B run per training whose id is unique per results folder and stable across
resumes, the run's checkpoint and per-case table logged as artifacts, and the pretrainings a fine-tune starts
from declared with ``use_artifact`` (``uses``), so W&B's lineage graph shows the sweep's sharing.
"""

from __future__ import annotations

import hashlib
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

    def __init__(
        self,
        offline: bool | None = None,
        project: str | None = None,
        uses: list[str] | None = None,
        **kwargs,
    ) -> None:
        if offline is None:
            # an explicit WANDB_MODE (e.g. ``disabled`` in tests, ``offline``) is left for wandb to apply
            offline = False if os.environ.get("WANDB_MODE") else not wandb_configured()
        super().__init__(offline=offline, project=project or "transferbench", **kwargs)
        self.uses = list(uses or [])  # W&B run ids whose checkpoint artifacts this training starts from


def wandb_id(run_id: str, scope: str | None = None) -> str:
    """A W&B run id for a sweep run id, unique per ``scope`` (the results folder): W&B forbids
    ``/ \\ # ? % :`` and ids over 64 characters, ours may hold ``>``; a long id keeps its start and a hash."""
    full = run_id if scope is None else f"{run_id}-{hashlib.sha1(scope.encode()).hexdigest()[:8]}"
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", full)
    return safe if len(safe) <= 64 else f"{safe[:43]}-{hashlib.sha1(safe.encode()).hexdigest()[:20]}"


def checkpoint_artifact(run_id: str) -> str:
    """The name of a training's checkpoint artifact, by its W&B run id."""
    return f"checkpoint-{run_id}"


def build_loggers(
    root: str | Path,
    group: str | None = None,
    name: str | None = None,
    tags: list[str] | None = None,
    job_type: str | None = None,
    id: str | None = None,
    project: str | None = None,
    entity: str | None = None,
    uses: list[str] | None = None,
) -> list:
    """The run's loggers, in its folder: CSV (``logs/version_N/metrics.csv``, what the sweep reads) and W&B
    (offline unless configured) in ``project`` / ``entity`` with the sweep's group, the run id as name, tags
    for its axes, the phase as ``job_type`` and, given ``id`` (a W&B id from :func:`wandb_id`, stable for
    the run and its results folder), that id with resume allowed, so that a resumed run continues its own
    W&B run; ``uses``: the W&B ids of the trainings whose checkpoints it starts from."""
    from pytorch_lightning.loggers import CSVLogger

    root = Path(root)
    wandb = {"id": id, "resume": "allow"} if id else {}
    if entity:
        wandb["entity"] = entity
    return [
        CSVLogger(save_dir=str(root), name="logs", flush_logs_every_n_steps=1),
        WandbLogger(
            save_dir=str(root), group=group or root.name, name=name or root.name, tags=tags, job_type=job_type,
            project=project, uses=uses, **wandb,
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


def declare_inputs(logger: WandbLogger) -> None:
    """At the start of a training: W&B summaries (best ``val/dice``, last test means) and the checkpoint
    artifacts it starts from. W&B cannot resolve an artifact offline, so an offline run records the names
    in its config (``uses_artifacts``) and an online one calls ``use_artifact`` on each."""
    run = logger.experiment
    if _mode(run) == "disabled":
        return
    run.define_metric("val/dice", summary="max")
    run.define_metric("train/loss", summary="min")
    names = [f"{checkpoint_artifact(u)}:latest" for u in logger.uses]
    if not names:
        return
    run.config.update({"uses_artifacts": names}, allow_val_change=True)
    if _mode(run) == "online":
        for name in names:
            run.use_artifact(name)


def log_run_artifacts(logger: WandbLogger, checkpoint: Path | None, per_case: Path | None) -> None:
    """The training's checkpoint (a reference to the file, not a copy: checkpoints can be large) and its
    per-case table (a copy) as artifacts of its W&B run."""
    import wandb

    run = logger.experiment
    if _mode(run) == "disabled":
        return
    if checkpoint is not None and checkpoint.is_file():
        art = wandb.Artifact(checkpoint_artifact(run.id), type="model", metadata={"file": checkpoint.name})
        art.add_reference(checkpoint.resolve().as_uri(), checksum=True)
        run.log_artifact(art)
    if per_case is not None and per_case.is_file():
        art = wandb.Artifact(f"per_case-{run.id}", type="results")
        art.add_file(str(per_case))
        run.log_artifact(art)


def _mode(run) -> str:
    """online, offline or disabled (W&B disabled gives a stand-in run whose calls do nothing)."""
    settings = getattr(run, "settings", None)
    mode = str(getattr(settings, "mode", "disabled"))
    return "offline" if mode == "online" and getattr(settings, "_offline", False) else mode
