"""The LightningCLI of ``transferbench fit|validate|test|predict``: SegmentationModule + CTSegDataModule.

Takes command-line arguments (``--config FILE``, dotted overrides) or a resolved :class:`RunConfig` (what
the sweep executor passes: no YAML is read again). Builds the run's strategy once, lets it fix the data it
trains on, and adds the callbacks that write the run folder (``training.callbacks``).
"""

from __future__ import annotations

import inspect
from pathlib import Path

from pytorch_lightning.callbacks import LearningRateMonitor, ModelCheckpoint
from pytorch_lightning.cli import LightningArgumentParser, LightningCLI, SaveConfigCallback, _InstantiatorFn

from transferbench.data.datamodule import CTSegDataModule
from transferbench.errors import RunFolderError, StrategyError, UsageError
from transferbench.quiet import quiet_upstream
from transferbench.run_folder import RunFolder
from transferbench.strategies import create_strategy
from transferbench.training.callbacks import PredictionWriter, TestResultsWriter, TransferReport, WandbRecords
from transferbench.training.loggers import build_loggers, log_config
from transferbench.training.module import SegmentationModule
from transferbench.training.run_config import RunConfig


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


class TransferbenchCLI(LightningCLI):
    """Links values data and model must share, adds checkpointing, the run-folder callbacks and a test
    right after ``fit``.

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
        parser.add_argument(
            "--wandb",
            type=dict | None,
            default=None,
            help="W&B settings of the run: {project: ..., entity: ..., group: ..., name: ..., tags: [...]} "
            "(a sweep sets them from its `wandb:` key).",
        )
        parser.add_argument(
            "--overwrite",
            type=bool,
            default=False,
            help="fit: replace a previous run in trainer.default_root_dir (its checkpoints, logs, results) "
            "instead of refusing to mix with it; --ckpt_path resumes it instead.",
        )
        parser.add_argument(
            "--save_predictions",
            type=bool,
            default=False,
            help="Also write each test prediction as predictions/<case>.nii.gz in the run folder.",
        )

    def __init__(self, *args, strategy=None, **kwargs) -> None:
        self._given_strategy = strategy  # a RunConfig's own strategy object
        super().__init__(*args, **kwargs)

    def parse_arguments(self, parser, args) -> None:
        """Parse, then check a given checkpoint before Lightning reads its hyper-parameters."""
        super().parse_arguments(parser, args)
        sub = self.config.get("subcommand")
        cfg = self.config[sub] if sub else self.config
        if cfg.get("ckpt_path"):  # every subcommand: resume, test or predict these weights
            check_checkpoint(str(cfg.ckpt_path))

    def _run_config(self):
        return self.config[self.subcommand] if self.subcommand else self.config

    def before_instantiate_classes(self) -> None:
        """Build the strategy (once, before anything else) and give the DataModule the data it trains on."""
        cfg = self._run_config()
        self.run_strategy = self._given_strategy or create_strategy(cfg.get("strategy"))
        defaults = inspect.signature(CTSegDataModule).parameters
        for key, value in self.run_strategy.data_overrides().items():
            current = cfg.data.get(key)
            if current not in (defaults[key].default, value):
                raise StrategyError(
                    f"strategy {self.run_strategy.name!r} sets data.{key}={value!r}; the config says {current!r}"
                )
            cfg.data[key] = value
        if cfg.get("checkpoint") is not None and cfg.checkpoint.get("dirpath") is None:
            cfg.checkpoint.dirpath = str(Path(cfg.trainer.default_root_dir or ".") / "checkpoints")
        if self.subcommand == "fit":
            self._claim_run_folder(cfg)

    def _claim_run_folder(self, cfg) -> None:
        """One run per folder: a previous run there is resumed (``--ckpt_path``), replaced
        (``--overwrite true``) or the fit is refused before anything is built. Mixing them would leave the
        old ``last.ckpt`` beside the new run's ``last-v1.ckpt`` and config."""
        folder = RunFolder(cfg.trainer.default_root_dir or ".")
        if cfg.get("ckpt_path"):
            return
        previous = folder.run_files()
        if not previous:
            return
        if cfg.get("overwrite"):
            folder.clear_run_files()
            return
        shown = ", ".join(str(p.relative_to(folder.path)) for p in previous[:5])
        shown += ", ..." if len(previous) > 5 else ""
        if not folder.last_checkpoint.is_file():  # a failed attempt: nothing to resume, say what to delete
            raise RunFolderError(
                f"{folder.path}: holds files of an earlier fit that left no checkpoint ({shown}); nothing can be "
                "resumed. Replace them with --overwrite true (or delete them), or write this run elsewhere "
                "with --trainer.default_root_dir DIR"
            )
        raise RunFolderError(
            f"{folder.path}: holds a previous run ({shown}). Resume it with --ckpt_path "
            f"{folder.last_checkpoint}, replace it with --overwrite true, or write this run elsewhere with "
            "--trainer.default_root_dir DIR"
        )

    def _add_instantiators(self) -> None:
        """The module receives the strategy object built in ``before_instantiate_classes`` (the config, as
        saved and checkpointed, keeps its plain form)."""
        super()._add_instantiators()
        lightning = _InstantiatorFn(cli=self, key="model")

        def build(class_type, *args, applied_instantiation_links: dict, **kwargs):
            kwargs["strategy"] = self.run_strategy
            return lightning(
                class_type, *args, applied_instantiation_links=applied_instantiation_links, **kwargs
            )

        self.parser.add_instantiator(build, SegmentationModule, subclasses=True, prepend=True)

    def instantiate_trainer(self, **kwargs):
        cfg = self._run_config()
        logged: list = []  # with our loggers: learning rates per parameter group, W&B records
        if self._get(self.config_init, "trainer", default={}).get("logger") in (None, True):
            kwargs["logger"] = build_loggers(cfg.trainer.default_root_dir or ".", **(cfg.get("wandb") or {}))
            logged = [LearningRateMonitor(logging_interval="epoch"), WandbRecords()]
        configured = self._get(self.config_init, "trainer", default={}).get("callbacks") or []
        kwargs["callbacks"] = [  # the config's own callbacks (`--trainer.callbacks+`) are kept
            *(configured if isinstance(configured, list) else [configured]),
            *(kwargs.get("callbacks") or []),
            *logged,
            TransferReport(),
            TestResultsWriter(bool(cfg.get("save_predictions", False))),
            PredictionWriter(),
        ]
        return super().instantiate_trainer(**kwargs)

    def before_fit(self) -> None:
        if self.trainer.is_global_zero:  # other ranks hold a dummy W&B experiment
            log_config(self.trainer.loggers, self._run_config().as_dict())

    def after_fit(self) -> None:
        if self._run_config().get("test_after_fit", True) and not self.trainer.interrupted:
            self.trainer.test(self.model, datamodule=self.datamodule)


def check_checkpoint(path: str) -> None:
    """A checkpoint to resume or test: a local file torch loads with ``weights_only=True`` (Lightning would
    fetch a URL and unpickle it with ``weights_only=False``: refused); one error naming the file otherwise."""
    import torch

    if "://" in path:
        raise RunFolderError(f"--ckpt_path {path}: remote checkpoints are not loaded (their pickles could run "
                             "code); download the file, check it, and pass its local path")  # fmt: skip
    if not Path(path).is_file():
        raise RunFolderError(f"--ckpt_path {path}: no such file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - truncated zip, text file, foreign pickle...
        raise RunFolderError(
            f"{path}: not a readable PyTorch checkpoint ({type(err).__name__}: {err})"
        ) from None
    if not isinstance(state, dict) or "state_dict" not in state:
        raise RunFolderError(f"{path}: a PyTorch file but not a Lightning checkpoint (no state_dict)")


LIGHTNING_OPTIMISER_ARGS = ("--optimizer", "--lr_scheduler")


def refuse_optimizer_overrides(args: list[str]) -> None:
    """Lightning's ``--optimizer`` / ``--lr_scheduler`` would replace the module's optimiser, and with it the
    strategy's per-part learning rates (``encoder_lr_scale``, frozen parts) and the schedule: refused."""
    given = [a for a in args if a.split("=")[0].split(".")[0] in LIGHTNING_OPTIMISER_ARGS]
    if given:
        raise UsageError(
            f"{given[0]}: not taken, it would silently replace the strategy's parameter groups and schedule. "
            "Set the optimiser through the module: --model.optimizer {sgd,adam,adamw} --model.lr LR "
            "--model.weight_decay WD --model.lr_schedule {poly,wsd,cosine,constant,adjust_lr}"
        )


def run_lightning(args: list[str] | RunConfig, ckpt_path: str | None = None) -> TransferbenchCLI:
    """Run a subcommand from command-line arguments, or ``fit`` a resolved :class:`RunConfig`."""
    strategy = None
    if isinstance(args, RunConfig):
        strategy = args.strategy_object
        args = {"subcommand": "fit", "fit": {**args.lightning_config(), "ckpt_path": ckpt_path}}
    quiet_upstream()  # also in sweep workers, which do not pass through main()
    if isinstance(args, list):
        refuse_optimizer_overrides(args)
    return TransferbenchCLI(
        SegmentationModule,
        CTSegDataModule,
        args=args,
        save_config_callback=RunFolderConfig,
        save_config_kwargs={"overwrite": True, "config_filename": RunFolder.CONFIG},
        parser_kwargs={"default_env": False},
        auto_configure_optimizers=False,
        strategy=strategy,
    )
