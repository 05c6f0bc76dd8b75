"""Every planned run's config through the parser ``fit`` uses, at planning time (nothing is built).

A typo in a sweep's ``overrides``, ``budget`` or ``models.<label>`` entries would otherwise pass
``--dry-run`` and fail every run later as a configuration error. Runs whose configs differ only in seed,
output paths and pretrained checkpoints share one check.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import logging

from transferbench.errors import SpecError


def _shape(config: dict) -> str:
    """What makes two run configs parse alike: the config without seed, output paths and checkpoints."""
    c = copy.deepcopy(config)
    c.pop("seed_everything", None)
    (c.get("trainer") or {}).pop("default_root_dir", None)
    if isinstance(c.get("strategy"), dict):
        c["strategy"].pop("pretrained", None)
    return json.dumps(c, sort_keys=True, default=str)


def validate_run_configs(plan) -> None:
    """Raise ``SpecError`` naming the sweep file, the run and the key ``fit`` would refuse."""
    from pytorch_lightning.cli import LightningArgumentParser  # noqa: F401  (the parser fit uses)

    from transferbench.data.datamodule import CTSegDataModule
    from transferbench.training.cli import TransferbenchCLI
    from transferbench.training.module import SegmentationModule

    class ParseOnly(TransferbenchCLI):
        def before_instantiate_classes(self) -> None:  # no strategy, no run-folder claim
            pass

        def instantiate_classes(self) -> None:  # nothing built
            pass

    seen: set[str] = set()
    parser = None
    quiet = logging.getLogger("lightning_fabric.utilities.seed")
    level, quiet.level = quiet.level, logging.WARNING
    try:
        for run in plan.runs:
            config = run.config.lightning_config()
            key = _shape(config)
            if key in seen:
                continue
            seen.add(key)
            try:
                if parser is None:
                    with contextlib.redirect_stderr(io.StringIO()):
                        cli = ParseOnly(SegmentationModule, CTSegDataModule, args=copy.deepcopy(config), run=False,
                                        parser_kwargs={"default_env": False, "exit_on_error": False},
                                        auto_configure_optimizers=False)  # fmt: skip
                    parser = cli.parser
                else:
                    parser.parse_object(copy.deepcopy(config))
            except Exception as err:  # noqa: BLE001 - jsonargparse's ArgumentError and friends
                message = " ".join(str(err).split())
                raise SpecError(
                    f"{plan.spec.path}: run {run.id} (model {run.model!r}, strategy {run.strategy!r}) has a config "
                    f"`fit` refuses: {message}. It comes from the sweep's `overrides`, `budget` or "
                    f"`models.{run.model}` entries (or its base_config)"
                ) from None
    finally:
        quiet.level = level
