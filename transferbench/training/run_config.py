"""One run's configuration, resolved once: the value object the planner, executor and CLI all take."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from transferbench.config import deep_merge, read_yaml
from transferbench.models.registry import canonical_model_names, resolve_model_names
from transferbench.strategies import Strategy, create_strategy

# Settings that say where a run writes or how it prints, not what it computes: left out of its identity.
OUTPUT_KEYS = {
    "trainer": ("default_root_dir", "logger", "enable_progress_bar"),
    "data": ("root", "cache_dir", "prepare_synthetic", "num_workers"),
    "model": ("save_predictions", "results_dir"),
    "strategy": ("pretrained",),
}


@dataclass(frozen=True)
class RunConfig:
    """A ``fit``: base config + model overrides + phase budget + strategy + seed, merged in that order.

    Args:
        base_config: path of the base ``fit`` config.
        overrides: the model's overrides, then the sweep-wide ones (already merged).
        budget: the phase's budget (epochs, iterations per epoch, ...).
        strategy: ``{name, **args, pretrained?}``.
        seed: ``seed_everything``.
        settings: what the planner fixes on top: the data the run reads (root, dataset, fold), whether it
            tests after fitting, the progress bar, a pretraining's class count.
        output: where it writes (``root_dir``) and its W&B labels (``wandb``); not part of its identity.
    """

    base_config: str
    overrides: dict[str, Any] = field(default_factory=dict)
    budget: dict[str, Any] = field(default_factory=dict)
    strategy: dict[str, Any] = field(default_factory=lambda: {"name": "scratch"})
    seed: int = 0
    settings: dict[str, Any] = field(default_factory=dict)
    output: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def overlay(self) -> dict[str, Any]:
        """What this run changes on its base config (``run.yaml``, without the output location)."""
        overlay = deep_merge(deep_merge(self.overrides, self.budget), {"seed_everything": self.seed})
        return deep_merge(deep_merge(overlay, self.settings), {"strategy": self.strategy})

    @cached_property
    def resolved(self) -> dict[str, Any]:
        """The whole config (base file read once), model registry names resolved to import paths."""
        return resolve_model_names(deep_merge(read_yaml(self.base_config), self.overlay))

    @cached_property
    def strategy_object(self) -> Strategy:
        """The run's strategy, constructed once (the CLI uses this very object)."""
        return create_strategy(self.strategy)

    @cached_property
    def optimiser_steps(self) -> int:
        """Optimiser steps this run takes: ``trainer.max_steps`` if set, else epochs x iterations per epoch
        (divided by gradient accumulation); what compute-matched baselines are matched on."""
        trainer, data = self.resolved.get("trainer") or {}, self.resolved.get("data") or {}
        if int(trainer.get("max_steps") or -1) > 0:
            return int(trainer["max_steps"])
        per_epoch = int(data.get("iterations_per_epoch") or _default_iterations())
        return (
            int(trainer.get("max_epochs") or 1000)
            * per_epoch
            // int(trainer.get("accumulate_grad_batches") or 1)
        )

    def identity(self) -> dict[str, Any]:
        """What determines the run's outcome: the resolved config without output locations (the network
        named by its public class path, however the config names it)."""
        cfg = canonical_model_names(self.resolved)
        parts = {
            section: {k: v for k, v in (cfg.get(section) or {}).items() if k not in OUTPUT_KEYS[section]}
            for section in ("trainer", "data", "model", "strategy")
        }
        return {**parts, "seed": cfg.get("seed_everything")}

    def with_output(self, root_dir: str, wandb: dict[str, Any] | None = None) -> RunConfig:
        return dataclasses.replace(self, output={"root_dir": str(root_dir), "wandb": dict(wandb or {})})

    def _output_settings(self) -> dict[str, Any]:
        extra: dict[str, Any] = {}
        if "root_dir" in self.output:
            extra["trainer"] = {"default_root_dir": self.output["root_dir"]}
        if self.output.get("wandb"):
            extra["wandb"] = self.output["wandb"]
        return extra

    def output_overlay(self) -> dict[str, Any]:
        """``overlay`` plus the output location: with the base config, a complete ``fit`` config."""
        return deep_merge(self.overlay, self._output_settings())

    def lightning_config(self) -> dict[str, Any]:
        """The complete config LightningCLI parses: ``resolved`` plus the output location."""
        return deep_merge(self.resolved, self._output_settings())


def _default_iterations() -> int:
    import inspect

    from transferbench.data.datamodule import CTSegDataModule

    return int(inspect.signature(CTSegDataModule.__init__).parameters["iterations_per_epoch"].default)
