"""``transferbench fit|validate|test|predict``: LightningCLI over SegmentationModule and CTSegDataModule."""

from __future__ import annotations

from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.cli import LightningArgumentParser, LightningCLI

from transferbench.data.datamodule import CTSegDataModule
from transferbench.training.module import SegmentationModule


class TransferbenchCLI(LightningCLI):
    """Links values data and model must share, adds checkpointing and a test right after ``fit``."""

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.link_arguments("data.patch_size", "model.roi_size")
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

    def after_fit(self) -> None:
        if self.config[self.subcommand].get("test_after_fit", True) and not self.trainer.interrupted:
            self.trainer.test(self.model, datamodule=self.datamodule)


def run_lightning(args: list[str]) -> TransferbenchCLI:
    return TransferbenchCLI(
        SegmentationModule,
        CTSegDataModule,
        args=args,
        save_config_kwargs={"overwrite": True},
        parser_kwargs={"default_env": False},
    )
