"""(d) Compute saved by shared pretraining, (e) fixed cost per run (process start to first training step).

(d) plans the default sweep and counts trainings against a naive plan in which every target run trains
its own pretraining chain; when the committed results exist, the same comparison in measured seconds.
(e) times a fresh ``transferbench fit`` process from its start to the first training batch, and the same
in a warm sweep worker (imports done), which is how the local launcher runs each run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import pytorch_lightning as pl

from benchmarks.common import ensure_data

STAMP_ENV = "TRANSFERBENCH_FIRST_STEP_FILE"


class FirstStep(pl.Callback):
    """Writes the wall-clock time of the first training batch to ``$TRANSFERBENCH_FIRST_STEP_FILE`` and stops."""

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        Path(os.environ[STAMP_ENV]).write_text(repr(time.time()))
        trainer.should_stop = True


def shared_pretraining(results: Path = Path("results/synthetic")) -> dict:
    from transferbench.sweep.plan import make_plan
    from transferbench.sweep.spec import load_spec

    plan = make_plan(load_spec("synthetic"))
    out = {"trainings": len(plan.runs), "naive_trainings": plan.naive_trainings()}
    runs_csv = results / "runs.csv"
    if runs_csv.is_file():
        runs = pd.read_csv(runs_csv)
        done = runs[runs.status == "done"]
        out["actual_s"] = float(done.wall_s.sum())
        target = done[done.kind == "finetune"]
        out["naive_s"] = float(target.wall_s.sum() + target.pretrain_wall_s.fillna(0).sum())
    return out


def _args(root: str, out: str) -> list[str]:
    return [
        "fit", "--config", "synthetic_unet3d", "--data.root", root, "--trainer.default_root_dir", out,
        "--trainer.logger", "false", "--test_after_fit", "false", "--trainer.enable_progress_bar", "false",
        "--data.target_spacing", "[6, 6, 9]", "--data.patch_size", "[32, 32, 16]",
        "--trainer.callbacks+", "benchmarks.bench_sweep.FirstStep", "--trainer.num_sanity_val_steps", "0",
        "--overwrite", "true",  # one folder for every repeat: each replaces the last
    ]  # fmt: skip


def fixed_cost(repeats: int = 3) -> dict:
    root = str(ensure_data())
    env = {**os.environ, "WANDB_MODE": "disabled"}
    fresh, warm = [], []
    with tempfile.TemporaryDirectory() as tmp:
        stamp = Path(tmp) / "first_step"
        env[STAMP_ENV] = os.environ[STAMP_ENV] = str(stamp)
        cmd = [sys.executable, "-m", "transferbench.cli.main", *_args(root, tmp)]
        for _ in range(repeats):
            start = time.time()
            subprocess.run(cmd, env=env, check=True, capture_output=True)
            fresh.append(float(stamp.read_text()) - start)
        from transferbench.cli.main import main

        main(_args(root, tmp))  # warm the imports, as a sweep worker does
        for _ in range(repeats):
            start = time.time()
            main(_args(root, tmp))
            warm.append(float(stamp.read_text()) - start)
    return {"fresh_s": min(fresh), "warm_s": min(warm), "ratio": min(fresh) / min(warm)}


if __name__ == "__main__":
    print(json.dumps({**shared_pretraining(), **fixed_cost()}, indent=1))
