"""Execute one planned run, idempotently: skip when finished, resume from ``last.ckpt`` when interrupted.

A run folder holds ``run.yaml`` (the overlay on the base config), what ``fit`` writes there, and finally
``result.json``, written atomically as the last step: its presence is what "finished" means. A run that
raises leaves ``failed.json`` with the error instead, and is retried by the next invocation.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import time
import traceback
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from transferbench.data.io import atomic_write_text

RESULT = "result.json"
FAILED = "failed.json"


def read_result(folder: Path) -> dict | None:
    path = folder / RESULT
    return json.loads(path.read_text()) if path.is_file() else None


def val_curve(folder: Path) -> list[tuple[int, float]]:
    """(epoch, val/dice) over every attempt's CSV log, later attempts winning for a repeated epoch."""
    curve: dict[int, float] = {}
    for log in sorted(
        (folder / "logs").glob("version_*/metrics.csv"), key=lambda p: int(p.parent.name.split("_")[1])
    ):
        df = pd.read_csv(log)
        if "val/dice" not in df:
            continue
        for epoch, dice in df[["epoch", "val/dice"]].dropna().itertuples(index=False):
            curve[int(epoch)] = float(dice)
    return sorted(curve.items())


def execute_run(run: dict[str, Any], threads: int | None = None, quiet: bool = True) -> dict:
    """Run (or resume, or skip) one planned run; returns its result record (never raises)."""
    folder = Path(run["overlay"]["trainer"]["default_root_dir"])
    done = read_result(folder)
    if done is not None:
        return {**done, "skipped": True}
    for dep in run.get("deps", []):
        dep_folder = folder.parent / dep
        if read_result(dep_folder) is None:
            return _failed(folder, run, f"dependency {dep} has not finished", attempt_s=0.0)
    if threads:
        import torch

        torch.set_num_threads(threads)
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(folder / "run.yaml", yaml.safe_dump(run["overlay"], sort_keys=False))
    last = folder / "checkpoints" / "last.ckpt"
    args = ["fit", "--config", run["base_config"], "--config", str(folder / "run.yaml")]
    resumed = last.is_file()
    if resumed:
        args += ["--ckpt_path", str(last)]
    (folder / FAILED).unlink(missing_ok=True)
    start = time.time()
    log_path = folder / "fit.log"
    try:
        from transferbench.cli.lightning import run_lightning

        with open(log_path, "a") as log, _maybe_quiet(log, quiet):
            cli = run_lightning(args)
        if cli.trainer.interrupted:
            raise RuntimeError("training was interrupted")
    except BaseException as err:  # noqa: BLE001 - a failing run is recorded, the sweep goes on
        if isinstance(err, KeyboardInterrupt):
            raise
        detail = "".join(traceback.format_exception_only(type(err), err)).strip()
        if isinstance(err, SystemExit):
            detail = f"configuration error (exit {err.code}); see {log_path}"
        return _failed(folder, run, detail, attempt_s=time.time() - start, tb=traceback.format_exc())
    wall = time.time() - start
    result = {
        **_identity_fields(run, "done"),
        "deps": run.get("deps", []),
        "wall_s": round(wall, 2),
        "resumed": resumed,
        "epochs": int(cli.trainer.current_epoch),
        "val_curve": val_curve(folder),
        "checkpoint": str(last),
    }
    metrics = folder / "test_metrics.json"
    if metrics.is_file():
        result["test"] = json.loads(metrics.read_text())
    transfer = folder / "transfer.json"
    if transfer.is_file():
        meta = json.loads(transfer.read_text())
        result["params"] = meta["params"]
        result["transfer"] = [
            {k: (len(v) if isinstance(v, list) else v) for k, v in r.items()} for r in meta["reports"]
        ]
    atomic_write_text(folder / RESULT, json.dumps(result, indent=1))
    return result


@contextlib.contextmanager
def _maybe_quiet(log, quiet: bool):
    if not quiet:
        yield
        return
    with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        import logging

        handler = logging.StreamHandler(log)
        root = logging.getLogger("pytorch_lightning")
        saved = root.handlers[:]
        root.handlers = [handler]
        try:
            yield
        finally:
            root.handlers = saved


def _identity_fields(run: dict, status: str) -> dict:
    return {
        "id": run["id"],
        "status": status,
        **{k: run[k] for k in ("kind", "model", "strategy", "source", "fold", "seed")},
    }


def _failed(folder: Path, run: dict, error: str, attempt_s: float, tb: str = "") -> dict:
    record = {
        **_identity_fields(run, "failed"),
        "error": error,
        "attempt_s": round(attempt_s, 2),
    }
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(folder / FAILED, json.dumps({**record, "traceback": tb}, indent=1))
    return record


def worker_init(threads: int) -> None:
    """Process-pool initialiser: a share of the cores per worker, no interactive W&B prompts."""
    import torch

    torch.set_num_threads(threads)
    os.environ.setdefault("WANDB_SILENT", "true")
    with contextlib.redirect_stdout(io.StringIO()):
        import transferbench.cli.lightning  # noqa: F401  (import once per worker, not once per run)
