"""Execute one planned run, idempotently: skip when finished, resume from ``last.ckpt`` when interrupted.

The run folder's records go through the results store: ``run.yaml`` (the run's overlay on its base config,
with its output location), what ``fit`` writes there, and finally ``result.json`` (finished) or
``failed.json`` (the error; retried by the next invocation).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import time
import traceback

import yaml

from transferbench.run_folder import RunFolder
from transferbench.sweep.plan import Run
from transferbench.sweep.store import ResultsStore


def execute_run(run: Run, threads: int | None = None, quiet: bool = True) -> dict:
    """Run (or resume, or skip) one planned run; returns its result record (never raises)."""
    store = ResultsStore(run.results_dir)
    done = store.result(run)
    if done is not None:
        return {**done, "skipped": True}
    for dep in run.deps:
        if store.result(dep) is None:
            return store.record_failed(run, f"dependency {dep} has not finished")
    if threads:
        import torch

        torch.set_num_threads(threads)
    folder = store.folder(run)
    folder.write_text(RunFolder.OVERLAY, yaml.safe_dump(run.config.output_overlay(), sort_keys=False))
    resumed = folder.last_checkpoint.is_file()
    folder.file(RunFolder.FAILED).unlink(missing_ok=True)
    start = time.time()
    log_path = folder.file(RunFolder.LOG)
    try:
        from transferbench.training.cli import run_lightning

        with open(log_path, "a") as log, _maybe_quiet(log, quiet):
            cli = run_lightning(run.config, ckpt_path=str(folder.last_checkpoint) if resumed else None)
        if cli.trainer.interrupted:
            raise RuntimeError("training was interrupted")
    except BaseException as err:  # noqa: BLE001 - a failing run is recorded, the sweep goes on
        if isinstance(err, KeyboardInterrupt):
            raise
        detail = "".join(traceback.format_exception_only(type(err), err)).strip()
        if isinstance(err, SystemExit):
            detail = f"configuration error (exit {err.code}); see {log_path}"
        return store.record_failed(run, detail, time.time() - start, traceback.format_exc())
    return store.record_done(run, _result(run, folder, time.time() - start, resumed, cli.trainer))


def _result(run: Run, folder: RunFolder, wall: float, resumed: bool, trainer) -> dict:
    """The finished run's record: identity, cost, learning curve, test summary, transfer counts."""
    result = {
        **run.record("done"),
        "deps": run.deps,
        "wall_s": round(wall, 2),
        "resumed": resumed,
        "epochs": int(trainer.current_epoch),
        "global_step": int(trainer.global_step),
        "val_curve": folder.val_curve(),
        "checkpoint": str(folder.last_checkpoint),
    }
    metrics = folder.read_json(RunFolder.TEST_METRICS)
    if metrics is not None:
        result["test"] = metrics
    transfer = folder.read_json(RunFolder.TRANSFER)
    if transfer is not None:
        result["params"] = transfer["params"]
        result["transfer"] = [
            {k: (len(v) if isinstance(v, list) else v) for k, v in r.items()} for r in transfer["reports"]
        ]
    return result


@contextlib.contextmanager
def _maybe_quiet(log, quiet: bool):
    if not quiet:
        yield
        return
    with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        handler = logging.StreamHandler(log)
        root = logging.getLogger("pytorch_lightning")
        saved = root.handlers[:]
        root.handlers = [handler]
        try:
            yield
        finally:
            root.handlers = saved


def worker_init(threads: int) -> None:
    """Process-pool initialiser: a share of the cores per worker, no interactive W&B prompts."""
    import torch

    torch.set_num_threads(threads)
    os.environ.setdefault("WANDB_SILENT", "true")
    with contextlib.redirect_stdout(io.StringIO()):
        import transferbench.training.cli  # noqa: F401  (import once per worker, not once per run)
