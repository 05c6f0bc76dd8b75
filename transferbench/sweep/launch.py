"""Launchers: run a plan locally (sequential or N processes) or on Slurm through submitit.

Both hand each run to ``execute_run``, which skips finished runs and resumes interrupted ones, so any
launcher can be stopped and started again. A run whose dependency failed is recorded as failed without
training; every other run still goes ahead.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path

from transferbench.sweep.execute import _failed, execute_run, read_result, worker_init
from transferbench.sweep.plan import Plan, Run


class Progress:
    """Line-based progress (works in a terminal, a log file and a Slurm output): done / total, current, ETA."""

    def __init__(self, plan: Plan, stream=None) -> None:
        self.total = len(plan.runs)
        self.done = 0
        self.failed = 0
        self.trained_s: list[float] = []
        self.start = time.time()
        self.stream = stream or sys.stderr
        self.workers = 1

    def started(self, run: Run) -> None:
        print(f"[{self.done}/{self.total}] start {run.id}{self._eta()}", file=self.stream, flush=True)

    def finished(self, run: Run, result: dict) -> None:
        self.done += 1
        status = result["status"]
        if result.get("skipped"):
            what = "already done"
        elif status == "done":
            self.trained_s.append(result["wall_s"])
            what = f"done in {result['wall_s']:.0f} s"
        else:
            self.failed += 1
            what = f"FAILED: {result.get('error', '')[:200]}"
        print(f"[{self.done}/{self.total}] {run.id}: {what}{self._eta()}", file=self.stream, flush=True)

    def _eta(self) -> str:
        elapsed = time.time() - self.start
        left = self.total - self.done
        if not self.trained_s or not left:
            return f" | elapsed {_fmt(elapsed)}"
        per_run = sum(self.trained_s) / len(self.trained_s)
        return f" | elapsed {_fmt(elapsed)} | ETA {_fmt(per_run * left / self.workers)}"


def _fmt(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    return f"{m}m{s:02d}s"


def _dep_failed(run: Run, results: dict[str, dict]) -> str | None:
    for d in run.deps:
        if d in results and results[d]["status"] != "done":
            return d
    return None


def _skip_record(run: Run, dep: str, results_dir: str | Path, error: str | None = None) -> dict:
    """Record (in ``failed.json``) a run that cannot train because a run it needs failed."""
    return _failed(
        run.folder(results_dir), run.to_dict(), error or f"not run: its pretraining {dep} failed", 0.0
    )


def run_local(plan: Plan, jobs: int = 1, progress: Progress | None = None) -> dict[str, dict]:
    """Run the plan on this machine; ``jobs`` > 1 runs that many processes, each with its share of cores."""
    progress = progress or Progress(plan)
    progress.workers = max(1, jobs)
    results: dict[str, dict] = {}
    # pretrainings first (in plan order, so a chain's stages stay in order): the fine-tunes waiting on them
    # then fill every worker until the end instead of queueing behind a late pretraining
    pending = sorted(plan.runs, key=lambda r: r.kind != "pretrain")
    if jobs <= 1:
        for run in pending:
            dep = _dep_failed(run, results)
            if dep:
                results[run.id] = _skip_record(run, dep, plan.spec.results_dir)
            else:
                if read_result(run.folder(plan.spec.results_dir)) is None:
                    progress.started(run)
                results[run.id] = execute_run(run.to_dict())
            progress.finished(run, results[run.id])
        return results
    threads = max(1, (os.cpu_count() or 1) // jobs)
    ctx = mp.get_context("spawn")
    with ProcessPoolExecutor(jobs, mp_context=ctx, initializer=worker_init, initargs=(threads,)) as pool:
        running: dict[Future, Run] = {}
        while pending or running:
            for run in list(pending):
                if len(running) >= jobs:
                    break
                dep = _dep_failed(run, results)
                if dep:
                    pending.remove(run)
                    results[run.id] = _skip_record(run, dep, plan.spec.results_dir)
                    progress.finished(run, results[run.id])
                elif all(d in results for d in run.deps):
                    pending.remove(run)
                    if read_result(run.folder(plan.spec.results_dir)) is None:
                        progress.started(run)
                    running[pool.submit(execute_run, run.to_dict(), threads)] = run
            if not running:
                continue
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for fut in finished:
                run = running.pop(fut)
                results[run.id] = fut.result()
                progress.finished(run, results[run.id])
    return results


def run_submitit(
    plan: Plan, cluster: str | None = None, parameters: dict | None = None, progress: Progress | None = None
) -> dict[str, dict]:
    """One job per run, submitted level by level as job arrays.

    On Slurm, every level is submitted at once and depends (``afterany``) on the previous level's jobs, so
    the whole sweep is queued in one go; each job checks its own dependencies' results. With submitit's
    ``local`` or ``debug`` executors (no scheduler), levels are run one after the other.
    """
    import submitit

    progress = progress or Progress(plan)
    folder = Path(plan.spec.results_dir) / "submitit"
    executor = submitit.AutoExecutor(folder=str(folder), cluster=cluster)
    executor.update_parameters(**(parameters or {}))
    results: dict[str, dict] = {}
    levels = plan.levels()
    is_slurm = executor.cluster == "slurm"
    submitted: list[tuple[list[Run], list]] = []
    previous_ids: list[str] = []
    for level in levels:
        todo = [r for r in level if read_result(r.folder(plan.spec.results_dir)) is None]
        for r in level:
            if r not in todo:
                results[r.id] = {**read_result(r.folder(plan.spec.results_dir)), "skipped": True}  # type: ignore[dict-item]
                progress.finished(r, results[r.id])
        if not is_slurm:
            runnable = []
            for r in todo:
                dep = _dep_failed(r, results)
                if dep:
                    results[r.id] = _skip_record(r, dep, plan.spec.results_dir)
                    progress.finished(r, results[r.id])
                else:
                    runnable.append(r)
            todo = runnable
        if not todo:
            continue
        if is_slurm and previous_ids:
            executor.update_parameters(
                slurm_additional_parameters={"dependency": "afterany:" + ":".join(previous_ids)}
            )
        jobs = executor.map_array(execute_run, [r.to_dict() for r in todo])
        for r in todo:
            progress.started(r)
        if is_slurm:
            previous_ids = [j.job_id for j in jobs]
            submitted.append((todo, jobs))
        else:
            for r, job in zip(todo, jobs):
                results[r.id] = _job_result(r, job, plan.spec.results_dir)
                progress.finished(r, results[r.id])
    for todo, jobs in submitted:
        for r, job in zip(todo, jobs):
            results[r.id] = _job_result(r, job, plan.spec.results_dir)
            progress.finished(r, results[r.id])
    return results


def _job_result(run: Run, job, results_dir: str | Path) -> dict:
    try:
        return job.result()
    except Exception as err:  # noqa: BLE001 - a job that died (e.g. killed by the scheduler) is a failed run
        error = f"job {job.job_id} failed: {(str(err).splitlines() or [''])[0][:300]}"
        return _skip_record(run, "", results_dir, error)
