"""The optimiser and learning-rate schedule of ``SegmentationModule`` (factors of the base rate per step, or
per epoch for nCoVSegNet's ``adjust_lr``)."""

from __future__ import annotations

import math
from typing import Any

import torch


def adjust_lr_factor(epoch: int, decay_epoch: int = 50, decay_rate: float = 0.1) -> float:
    """The rate's factor in 0-based ``epoch`` under the authors' compounding ``adjust_lr``: their epoch
    ``k = epoch + 1`` multiplies the current rate by ``decay_rate ** (k // decay_epoch)``, so the product
    over epochs 1..k is ``decay_rate ** sum(j // decay_epoch)``."""
    return decay_rate ** sum(j // decay_epoch for j in range(1, epoch + 2))


def wsd_decay_start(total: int, decay_fraction: float) -> int:
    """The step at which a ``wsd`` schedule of ``total`` steps begins to decay."""
    return total - max(1, round(decay_fraction * total))


def wsd_factor(step: int, total: int, decay_fraction: float, exponent: float = 0.9) -> float:
    """The rate's factor at ``step`` of ``total`` under ``wsd``: 1 until the last ``decay_fraction`` of the
    steps, then nnU-Net's poly decay to 0 over them. A run's curve before the decay shows whether training
    at the rate has stopped gaining (the plateau rule reads that part), the decay anneals."""
    start = wsd_decay_start(total, decay_fraction)
    if step < start:
        return 1.0
    return (1 - min(step - start, total - start) / (total - start)) ** exponent


def step_scheduler(opt: torch.optim.Optimizer, hp, total: int) -> torch.optim.lr_scheduler.LambdaLR:
    """The per-step ``poly``, ``wsd`` or ``cosine`` schedule of ``total`` steps, with ``hp.warmup_steps`` of
    linear warm-up in front (``hp``: the module's hyperparameters)."""
    if hp.lr_schedule == "poly":
        factor = lambda step: (1 - min(step, total) / total) ** hp.poly_exponent  # noqa: E731
    elif hp.lr_schedule == "wsd":
        factor = lambda step: wsd_factor(step, total, hp.decay_fraction, hp.poly_exponent)  # noqa: E731
    else:
        factor = lambda step: 0.5 * (1 + math.cos(math.pi * min(step, total) / total))  # noqa: E731
    warm = max(0, int(hp.warmup_steps))
    return torch.optim.lr_scheduler.LambdaLR(
        opt, lambda step: factor(step) * (min(1.0, (step + 1) / warm) if warm else 1.0)
    )


def optimisation(params: list[dict], hp, trainer) -> tuple[Any, int | None]:
    """Lightning's ``configure_optimizers`` value for the parameter groups ``params`` under the module's
    hyperparameters ``hp``, and the epochs before a ``wsd`` decay (None for other schedules)."""
    if hp.optimizer == "sgd":
        opt = torch.optim.SGD(
            params, lr=hp.lr, momentum=hp.momentum, nesterov=True, weight_decay=hp.weight_decay
        )
    elif hp.optimizer == "adam":
        opt = torch.optim.Adam(params, lr=hp.lr, weight_decay=hp.weight_decay)
    else:
        opt = torch.optim.AdamW(params, lr=hp.lr, weight_decay=hp.weight_decay)
    if hp.lr_schedule == "constant":
        return opt, None
    if hp.lr_schedule == "adjust_lr":
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda epoch: adjust_lr_factor(epoch, hp.lr_decay_epoch, hp.lr_decay_rate)
        )
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "epoch"}}, None
    total = max(1, int(trainer.estimated_stepping_batches))
    plateau_epochs = None
    if hp.lr_schedule == "wsd":
        per_epoch = trainer.num_training_batches
        if math.isfinite(per_epoch) and per_epoch > 0:
            plateau_epochs = wsd_decay_start(total, hp.decay_fraction) // int(per_epoch)
    config = {
        "optimizer": opt,
        "lr_scheduler": {"scheduler": step_scheduler(opt, hp, total), "interval": "step"},
    }
    return config, plateau_epochs
