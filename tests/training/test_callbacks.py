"""The LightningModule writes no file: a bare ``Trainer`` leaves the run folder empty of results, and the
callbacks the CLI adds write them (transfer report, per-case rows, test metrics, predictions)."""

from __future__ import annotations

import json

import pandas as pd
import pytorch_lightning as pl

from transferbench.data.datamodule import CTSegDataModule
from transferbench.models import UNet3D
from transferbench.run_folder import RunFolder
from transferbench.training.callbacks import TestResultsWriter, TransferReport
from transferbench.training.module import SegmentationModule


def _fit_and_test(root, folder, callbacks):
    dm = CTSegDataModule(
        root=str(root), target_spacing=(6.0, 6.0, 9.0), patch_size=(32, 32, 16), iterations_per_epoch=1
    )
    module = SegmentationModule(UNet3D(preset="tiny"), roi_size=(32, 32, 16))
    trainer = pl.Trainer(
        max_epochs=1, default_root_dir=str(folder), logger=False, enable_checkpointing=False,
        enable_progress_bar=False, num_sanity_val_steps=0, limit_val_batches=0, limit_test_batches=3,
        callbacks=callbacks,
    )  # fmt: skip
    trainer.fit(module, datamodule=dm)
    trainer.test(module, datamodule=dm)
    return module


def test_a_bare_trainer_writes_no_result_files(synthetic_root, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a stray file would land in the working directory or the run folder
    module = _fit_and_test(synthetic_root, tmp_path / "bare", [])
    assert len(module.test_results) == 3 and module.test_summary["test/cases"] == 3
    written = {p.name for p in tmp_path.rglob("*") if p.is_file()}
    assert not written & {RunFolder.TRANSFER, RunFolder.PER_CASE, RunFolder.TEST_METRICS}, written


def test_the_callbacks_write_the_run_folder(synthetic_root, tmp_path):
    folder = RunFolder(tmp_path / "run")
    module = _fit_and_test(
        synthetic_root, folder.path, [TransferReport(), TestResultsWriter(save_predictions=True)]
    )
    transfer = json.loads(folder.file(RunFolder.TRANSFER).read_text())
    assert transfer["strategy"]["name"] == "scratch" and transfer["params"]["trainable"] > 0
    rows = pd.read_csv(folder.file(RunFolder.PER_CASE))
    pd.testing.assert_frame_equal(rows, module.test_results.reset_index(drop=True), check_dtype=False)
    assert json.loads(folder.file(RunFolder.TEST_METRICS).read_text()) == module.test_summary
    assert {folder.prediction(c).is_file() for c in rows["case"]} == {True}
