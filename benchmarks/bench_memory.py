"""(c) Peak resident memory of a synthetic `transferbench fit` (with its test), in a child process. Target <= 4 GB."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile

from benchmarks.common import ensure_data


def run() -> dict:
    root = ensure_data()
    with tempfile.TemporaryDirectory() as tmp:
        logger = json.dumps(
            {"class_path": "pytorch_lightning.loggers.CSVLogger", "init_args": {"save_dir": tmp}}
        )
        cmd = [
            sys.executable, "-m", "transferbench.cli.main", "fit", "--config", "synthetic_unet3d",
            "--data.root", str(root), "--trainer.max_epochs", "2", "--data.iterations_per_epoch", "10",
            "--trainer.check_val_every_n_epoch", "1", "--trainer.default_root_dir", tmp,
            "--trainer.logger", logger,
            "--trainer.enable_progress_bar", "false",
        ]  # fmt: skip
        env = {**os.environ, "WANDB_MODE": "disabled"}
        subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024**2  # ru_maxrss is in KiB on Linux
    return {"peak_rss_gb": peak_gb, "target_gb": 4.0, "ratio_to_target": peak_gb / 4.0}


if __name__ == "__main__":
    print(run())
