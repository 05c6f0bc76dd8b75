"""``transferbench fit|validate|test|predict``: LightningCLI over SegmentationModule and CTSegDataModule."""

from __future__ import annotations

import inspect
import warnings
from pathlib import Path

from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.cli import LightningArgumentParser, LightningCLI, SaveConfigCallback
from pytorch_lightning.loggers import CSVLogger

from transferbench.data.datamodule import CTSegDataModule
from transferbench.strategies import StrategyError, create_strategy
from transferbench.training.loggers import WandbLogger
from transferbench.training.module import SegmentationModule


class RunFolderConfig(SaveConfigCallback):
    """Saves the resolved config as ``<default_root_dir>/config.yaml``: one run, one folder."""

    def setup(self, trainer, pl_module, stage: str) -> None:
        if self.already_saved:
            return
        path = Path(trainer.default_root_dir) / self.config_filename
        if trainer.is_global_zero:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.parser.save(self.config, path, skip_none=False, overwrite=True, multifile=self.multifile)
        self.already_saved = True
        self.already_saved = trainer.strategy.broadcast(self.already_saved)


def default_loggers(root: str | Path) -> list:
    """CSV (``<root>/logs/version_N/metrics.csv``) and W&B (offline unless configured) in the run folder."""
    root = Path(root)
    return [
        CSVLogger(save_dir=str(root), name="logs", flush_logs_every_n_steps=1),
        WandbLogger(save_dir=str(root), group=root.name, name=root.name),
    ]


class TransferbenchCLI(LightningCLI):
    """Links values data and model must share, adds checkpointing and a test right after ``fit``.

    Everything a run writes lands in ``trainer.default_root_dir``: ``config.yaml``, ``checkpoints/``,
    ``logs/version_N/metrics.csv`` (unless ``trainer.logger`` is given), ``transfer.json`` and the test
    results.
    """

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.link_arguments("data.patch_size", "model.roi_size")
        parser.add_argument(
            "--strategy",
            type=dict | None,
            default=None,
            help="Transfer strategy {name: ..., **args, pretrained: path(s)} (see `transferbench strategies`); "
            "default scratch. Fields can be set one by one: --strategy.name encoder --strategy.sources "
            "msd_lung_tumor --strategy.pretrained PATH.",
        )
        parser.link_arguments("strategy", "model.strategy")
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
        parser.set_defaults(
            {
                "checkpoint.monitor": "val/dice",
                "checkpoint.mode": "max",
                "checkpoint.save_last": True,
                "checkpoint.filename": "best-{epoch:03d}",
            }
        )
        parser.add_argument(
            "--test_after_fit",
            type=bool,
            default=True,
            help="After fit, test the final weights on the test cases and write per_case_test.csv.",
        )

    def before_instantiate_classes(self) -> None:
        """Validate the strategy before anything is built, and give the DataModule the data it trains on."""
        cfg = self.config[self.subcommand] if self.subcommand else self.config
        strategy = create_strategy(cfg.get("strategy"))
        defaults = inspect.signature(CTSegDataModule).parameters
        for key, value in strategy.data_overrides().items():
            current = cfg.data.get(key)
            default = defaults[key].default
            if current not in (default, value):
                raise StrategyError(
                    f"strategy {strategy.name!r} sets data.{key}={value!r}; the config says {current!r}"
                )
            cfg.data[key] = value
        if cfg.get("checkpoint") is not None and cfg.checkpoint.get("dirpath") is None:
            cfg.checkpoint.dirpath = str(Path(cfg.trainer.default_root_dir or ".") / "checkpoints")

    def instantiate_trainer(self, **kwargs):
        if self._get(self.config_init, "trainer", default={}).get("logger") in (None, True):
            cfg = self.config[self.subcommand] if self.subcommand else self.config
            kwargs["logger"] = default_loggers(cfg.trainer.default_root_dir or ".")
        return super().instantiate_trainer(**kwargs)

    def after_fit(self) -> None:
        if self.config[self.subcommand].get("test_after_fit", True) and not self.trainer.interrupted:
            self.trainer.test(self.model, datamodule=self.datamodule)


def run_lightning(args: list[str]) -> TransferbenchCLI:
    # main() passes the (config-name resolved) arguments explicitly; Lightning warns that sys.argv differs.
    warnings.filterwarnings("ignore", message=".*LightningCLI's args parameter is intended.*")
    return TransferbenchCLI(
        SegmentationModule,
        CTSegDataModule,
        args=args,
        save_config_callback=RunFolderConfig,
        save_config_kwargs={"overwrite": True},
        parser_kwargs={"default_env": False},
    )
