"""One run, one folder: the layout of ``<default_root_dir>/`` in one place.

The training callbacks write the run's own files through it (``transfer.json``, ``per_case_test.csv``,
``test_metrics.json``, ``predictions/``); the sweep's results store adds its records (``run.yaml``,
``fit.log``, ``result.json`` written last and atomically = finished, ``failed.json``) and reads everything
back through it, so no other module spells a file name of a run folder.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd

from transferbench.files import atomic_write_text


class RunFolder:
    """The files of one run (``fit`` writes them; the sweep store records their outcome)."""

    CONFIG = "config.yaml"
    TRANSFER = "transfer.json"
    PER_CASE = "per_case_test.csv"
    TEST_METRICS = "test_metrics.json"
    OVERLAY = "run.yaml"
    LOG = "fit.log"
    RESULT = "result.json"
    FAILED = "failed.json"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    # ------------------------------------------------------------ locations
    def file(self, name: str) -> Path:
        return self.path / name

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def last_checkpoint(self) -> Path:
        return self.checkpoints / "last.ckpt"

    @property
    def logs(self) -> Path:
        return self.path / "logs"

    def prediction(self, case_id: str) -> Path:
        return self.path / "predictions" / f"{case_id}.nii.gz"

    # ------------------------------------------------------- previous run
    def run_files(self) -> list[Path]:
        """What a ``fit`` left here (checkpoints, logs, config, results, predictions, W&B files): a run to
        resume or replace, never to mix with a new one."""
        names = [self.CONFIG, self.TRANSFER, self.PER_CASE, self.TEST_METRICS, "predictions", "wandb"]
        found = [self.file(n) for n in names if self.file(n).exists()]
        found += sorted(self.checkpoints.glob("*.ckpt")) + sorted(self.logs.glob("version_*"))
        return found

    def clear_run_files(self) -> None:
        """Remove what :meth:`run_files` lists (the sweep's own records stay)."""
        for path in self.run_files():
            shutil.rmtree(path) if path.is_dir() else path.unlink()

    # ---------------------------------------------------------------- write
    def write_json(self, name: str, obj: dict) -> None:
        atomic_write_text(self.file(name), json.dumps(obj, indent=1))

    def write_text(self, name: str, text: str) -> None:
        atomic_write_text(self.file(name), text)

    # ----------------------------------------------------------------- read
    def read_json(self, name: str) -> dict | None:
        path = self.file(name)
        return json.loads(path.read_text()) if path.is_file() else None

    def per_case(self) -> pd.DataFrame | None:
        path = self.file(self.PER_CASE)
        return pd.read_csv(path) if path.is_file() else None

    def val_curve(self) -> list[tuple[int, float]]:
        """(epoch, val/dice) over every attempt's CSV log, later attempts winning for a repeated epoch."""
        curve: dict[int, float] = {}
        logs = sorted(self.logs.glob("version_*/metrics.csv"), key=lambda p: int(p.parent.name.split("_")[1]))
        for log in logs:
            df = pd.read_csv(log)
            if "val/dice" not in df:
                continue
            for epoch, dice in df[["epoch", "val/dice"]].dropna().itertuples(index=False):
                curve[int(epoch)] = float(dice)
        return sorted(curve.items())
