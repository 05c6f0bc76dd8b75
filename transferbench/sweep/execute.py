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
from transferbench.sweep import interrupt
from transferbench.sweep.runs import Run
from transferbench.sweep.store import ResultsStore


def execute_run(run: Run, threads: int | None = None, quiet: bool = True) -> dict:
    """Run (or resume, or skip) one planned run; returns its result record (raises only KeyboardInterrupt,
    after recording the run as interrupted). A lock in the run folder keeps a second process out of it."""
    from filelock import FileLock, Timeout

    store = ResultsStore(run.results_dir)
    done = store.result(run)
    if done is not None:
        return {**done, "skipped": True}
    locks = store.root / ".locks"  # beside the run folders: a run folder holds only what the run wrote
    locks.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(locks / f"{run.id}.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        return {
            **run.record("failed"),
            "error": f"{store.folder(run).path}: another process is training this run",
        }
    try:
        return _execute(run, store, threads, quiet)
    finally:
        lock.release()


def _execute(run: Run, store: ResultsStore, threads: int | None, quiet: bool) -> dict:
    done = store.result(run)  # finished while this process waited for the folder
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
    if resumed and (problem := _unreadable(folder.last_checkpoint)):
        return store.record_failed(
            run,
            f"{folder.last_checkpoint}: the interrupted attempt's checkpoint cannot be read ({problem}); delete "
            f"it to train this run from the start (or delete {folder.path} to forget the run), then run the "
            "sweep again",
        )
    if not resumed:  # what an attempt that died before its first checkpoint left is replaced, not mixed
        folder.clear_run_files()
    folder.file(RunFolder.FAILED).unlink(missing_ok=True)
    ledger = _begin_attempt(folder, resumed)
    start = time.time()
    log_path = folder.file(RunFolder.LOG)
    try:
        from transferbench.training.cli import run_lightning

        with open(log_path, "a") as log, _maybe_quiet(log, quiet):
            cli = run_lightning(run.config, ckpt_path=str(folder.last_checkpoint) if resumed else None)
        if cli.trainer.interrupted:
            raise RuntimeError("training was interrupted")
    except BaseException as err:  # noqa: BLE001 - a failing run is recorded, the sweep goes on
        if isinstance(err, KeyboardInterrupt) or interrupt.requested():  # Lightning's SystemExit after Ctrl-C
            _end_attempt(folder, ledger, time.time() - start)
            store.record_interrupted(run, time.time() - start)
            raise KeyboardInterrupt from None
        detail = "".join(traceback.format_exception_only(type(err), err)).strip()
        if isinstance(err, SystemExit):
            detail = f"configuration error (exit {err.code}); see {log_path}"
        _end_attempt(folder, ledger, time.time() - start)
        if not folder.last_checkpoint.is_file():  # nothing to resume: no empty logs or W&B folders left
            from transferbench.training.loggers import finish_wandb

            finish_wandb()
            folder.clear_run_files()
        return store.record_failed(run, detail, time.time() - start, traceback.format_exc())
    finally:
        from transferbench.training.loggers import finish_wandb

        finish_wandb()  # one W&B run per training, also in a worker that goes on to the next run
    ledger = _end_attempt(folder, ledger, time.time() - start)
    result = _result(run, folder, time.time() - start, resumed, cli.trainer)
    return store.record_done(
        run, {**result, "attempts": ledger["attempts"], "wall_total_s": ledger["wall_s"]}
    )


ATTEMPTS = "attempts.json"


def _begin_attempt(folder: RunFolder, resumed: bool) -> dict:
    """Count this attempt; an earlier one that never recorded its end was killed: its time counts up to
    its last checkpoint (what it left of use), so ``wall_total_s`` is the compute the result cost."""
    ledger = folder.read_json(ATTEMPTS) or {"attempts": 0, "wall_s": 0.0, "started": None}
    if ledger.get("started") is not None:
        end = folder.last_checkpoint.stat().st_mtime if resumed else ledger["started"]
        ledger["wall_s"] += max(0.0, end - ledger["started"])
    ledger.update(attempts=ledger["attempts"] + 1, started=time.time())
    folder.write_json(ATTEMPTS, ledger)
    return ledger


def _end_attempt(folder: RunFolder, ledger: dict, wall: float) -> dict:
    ledger = {**ledger, "wall_s": round(ledger["wall_s"] + wall, 2), "started": None}
    folder.write_json(ATTEMPTS, ledger)
    return ledger


def _unreadable(checkpoint) -> str | None:
    """Why a checkpoint cannot be resumed from (None when it loads)."""
    import torch

    try:
        torch.load(checkpoint, map_location="cpu", weights_only=True)  # as Lightning's resume loads it
    except Exception as err:  # noqa: BLE001 - truncated zip, bad pickle, empty file...
        return f"{type(err).__name__}: {err}"
    return None


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
        "plateau_epochs": getattr(trainer.lightning_module, "plateau_epochs", None),
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
    interrupt.die_with_parent()
    with contextlib.redirect_stdout(io.StringIO()):
        import transferbench.training.cli  # noqa: F401  (import once per worker, not once per run)
