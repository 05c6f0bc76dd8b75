"""The files a run writes, written by callbacks (the CLI adds them), so a bare ``Trainer`` writes nothing.

All go into ``trainer.default_root_dir`` through ``RunFolder``, on global rank zero, atomically:
``transfer.json`` (strategy, key reports, parameter counts), ``per_case_test.csv`` and ``test_metrics.json``
(after ``test``), ``predictions/<case>.nii.gz`` (test predictions when asked, and every ``predict``).
``WandbRecords`` gives W&B what it keeps of a run: summaries, inputs and outputs as artifacts.
"""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import BasePredictionWriter

from transferbench.data.io import save_nifti
from transferbench.run_folder import RunFolder
from transferbench.training.loggers import declare_inputs, log_run_artifacts, wandb_loggers
from transferbench.training.module import SegmentationModule


def run_folder(trainer: pl.Trainer) -> RunFolder:
    return RunFolder(trainer.default_root_dir)


class TransferReport(pl.Callback):
    """Writes what the strategy loaded, froze and left fresh once fitting starts (``transfer.json``)."""

    def on_fit_start(self, trainer: pl.Trainer, pl_module: SegmentationModule) -> None:
        if not trainer.is_global_zero:
            return
        trainable, total = pl_module.parameter_counts
        run_folder(trainer).write_json(
            RunFolder.TRANSFER,
            {
                "strategy": pl_module.strategy.config(),
                "params": {"total": total, "trainable": trainable},
                "reports": [r.to_dict() for r in pl_module.transfer_reports or []],
            },
        )


class TestResultsWriter(pl.Callback):
    """Per-case rows and their summary after ``test``; with ``save_predictions`` also every test mask."""

    def __init__(self, save_predictions: bool = False) -> None:
        self.save_predictions = save_predictions

    def on_test_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if self.save_predictions and outputs:  # every rank writes the cases it predicted
            save_nifti(
                run_folder(trainer).prediction(outputs["case"]), outputs["prediction"], outputs["affine"]
            )

    def on_test_end(self, trainer: pl.Trainer, pl_module: SegmentationModule) -> None:
        if not trainer.is_global_zero or pl_module.test_results is None:
            return
        folder = run_folder(trainer)
        folder.write_text(RunFolder.PER_CASE, pl_module.test_results.to_csv(index=False))
        folder.write_json(RunFolder.TEST_METRICS, pl_module.test_summary or {})
        for lg in wandb_loggers(trainer.loggers):  # the per-case scores, as a W&B Table and an artifact
            lg.log_table("test/per_case", dataframe=pl_module.test_results)
            log_run_artifacts(lg, None, folder.file(RunFolder.PER_CASE))


class WandbRecords(pl.Callback):
    """W&B summaries and the pretrainings a training starts from (at its start), its checkpoint as an
    artifact (at its end): the lineage pretrain -> fine-tune of a sweep."""

    def on_fit_start(self, trainer: pl.Trainer, pl_module: SegmentationModule) -> None:
        if trainer.is_global_zero:
            for lg in wandb_loggers(trainer.loggers):
                declare_inputs(lg)

    def on_fit_end(self, trainer: pl.Trainer, pl_module: SegmentationModule) -> None:
        if trainer.is_global_zero:
            for lg in wandb_loggers(trainer.loggers):
                log_run_artifacts(lg, run_folder(trainer).last_checkpoint, None)


class PredictionWriter(BasePredictionWriter):
    """``predict``: each volume's mask as NIfTI on its original grid, ``predictions/<case>.nii.gz``."""

    def __init__(self) -> None:
        super().__init__(write_interval="batch")

    def write_on_batch_end(
        self, trainer, pl_module, prediction, batch_indices, batch, batch_idx, dataloader_idx
    ) -> None:
        path = run_folder(trainer).prediction(prediction["case"])
        save_nifti(path, prediction.pop("prediction"), prediction.pop("affine"))
        prediction["prediction"] = str(path)  # what trainer.predict returns: the case and its file
