"""Launchers: run a plan locally (sequential or N processes) or on Slurm through submitit.

Both take the plan's ``Run`` objects and hand each to ``execute_run``, which skips finished runs and
resumes interrupted ones, so any launcher can be stopped and started again. Finished runs are found once,
up front, through the results store. A run whose dependency failed is recorded as failed without
training; every other run still goes ahead.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import sys
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path

from transferbench.sweep.execute import execute_run, worker_init
from transferbench.sweep.runs import Plan, Run
from transferbench.sweep.store import ResultsStore


class Progress:
    """Line-based progress (works in a terminal, a log file and a Slurm output): done / total, current, ETA."""

    def __init__(self, plan: Plan, stream=None, estimates: dict[str, float] | None = None) -> None:
        self.total = len(plan.runs)
        self.done = 0
        self.failed = 0
        self.trained_s: list[float] = []
        self.start = time.time()
        self.stream = stream or sys.stderr
        self.workers = 1
        # the dry run's estimate per run, rescaled by how the finished runs compared with theirs
        self.estimates = dict(estimates or {})
        self.left = set(self.estimates)
        self.estimated_done = 0.0

    def started(self, run: Run) -> None:
        print(f"[{self.done}/{self.total}] start {run.id}{self._eta()}", file=self.stream, flush=True)

    def finished(self, run: Run, result: dict) -> None:
        self.done += 1
        self.left.discard(run.id)
        status = result["status"]
        if result.get("skipped"):
            what = "already done"
        elif status == "done":
            self.trained_s.append(result["wall_s"])
            self.estimated_done += self.estimates.get(run.id, 0.0)
            what = f"done in {result['wall_s']:.0f} s"
        else:
            self.failed += 1
            error = " ".join(str(result.get("error", "")).split())  # whole, on one line: it names the file
            what = f"FAILED: {error} (details: {Path(run.results_dir) / 'runs' / run.id / 'failed.json'})"
        print(f"[{self.done}/{self.total}] {run.id}: {what}{self._eta()}", file=self.stream, flush=True)

    def _eta(self) -> str:
        elapsed = time.time() - self.start
        left = self.total - self.done
        if not left:
            return f" | elapsed {_fmt(elapsed)}"
        if self.estimates:  # measured costs, corrected by the ratio seen so far (1 before the first run)
            ratio = sum(self.trained_s) / self.estimated_done if self.estimated_done else 1.0
            remaining = ratio * sum(self.estimates[r] for r in self.left)
        elif self.trained_s:
            remaining = sum(self.trained_s) / len(self.trained_s) * left
        else:
            return f" | elapsed {_fmt(elapsed)}"
        return f" | elapsed {_fmt(elapsed)} | ETA {_fmt(remaining / self.workers)}"


def _fmt(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    return f"{m}m{s:02d}s"


class Book:
    """The launcher's ledger: results so far, through the store, with progress lines."""

    def __init__(self, plan: Plan, progress: Progress | None) -> None:
        self.store = ResultsStore(plan.spec.results_dir)
        self.progress = progress or Progress(plan)
        self.results: dict[str, dict] = {}

    def pending(self, runs: list[Run]) -> list[Run]:
        """The runs that have not finished; finished ones are booked as skipped (one read each)."""
        todo = []
        for run in runs:
            done = self.store.result(run)
            if done is None:
                todo.append(run)
            else:
                self.book(run, {**done, "skipped": True})
        return todo

    def book(self, run: Run, result: dict) -> None:
        self.results[run.id] = result
        self.progress.finished(run, result)

    def blocked(self, run: Run, error: str | None = None) -> bool:
        """Book ``run`` as failed when a run it needs failed (or ``error`` says why); True if so."""
        dep = next((d for d in run.deps if d in self.results and self.results[d]["status"] != "done"), None)
        if dep is None and error is None:
            return False
        self.book(run, self.store.record_failed(run, error or f"not run: its pretraining {dep} failed"))
        return True


def run_local(
    plan: Plan, jobs: int = 1, progress: Progress | None = None, threads: int = 1
) -> dict[str, dict]:
    """Run the plan on this machine; ``jobs`` > 1 runs that many processes. Every run computes with
    ``threads`` threads whatever ``jobs`` is: the thread count changes a convolution's summation order and
    so the numbers, which must not depend on how many runs share the machine."""
    book = Book(plan, progress)
    book.progress.workers = max(1, jobs)
    # pretrainings first (in plan order, so a chain's stages stay in order): the fine-tunes waiting on them
    # then fill every worker until the end instead of queueing behind a late pretraining
    pending = book.pending(sorted(plan.runs, key=lambda r: r.kind != "pretrain"))
    if jobs <= 1:
        for run in pending:
            if not book.blocked(run):
                book.progress.started(run)
                book.book(run, execute_run(run, threads))
        return book.results
    ctx = mp.get_context("spawn")
    pool = ProcessPoolExecutor(jobs, mp_context=ctx, initializer=worker_init, initargs=(threads,))
    running: dict[Future, Run] = {}
    try:
        while pending or running:
            for run in list(pending):
                if len(running) >= jobs:
                    break
                if book.blocked(run):
                    pending.remove(run)
                elif all(d in book.results for d in run.deps):
                    pending.remove(run)
                    book.progress.started(run)
                    running[pool.submit(execute_run, run, threads)] = run
            if not running:
                continue
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for fut in finished:
                book.book(running.pop(fut), fut.result())
    except KeyboardInterrupt:
        _stop_workers(pool)  # dead before their runs are marked: no worker writes after this
        for run in running.values():
            book.store.record_interrupted(run)
        raise
    pool.shutdown()
    return book.results


def _stop_workers(pool: ProcessPoolExecutor) -> None:
    """Kill the pool's workers at once (their runs resume from the last checkpoint) and wait for them."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    for p in processes:
        with contextlib.suppress(ProcessLookupError, AttributeError):
            p.kill()
    for p in processes:
        p.join(timeout=10)
    pool.shutdown(wait=False, cancel_futures=True)


def run_submitit(
    plan: Plan,
    cluster: str | None = None,
    parameters: dict | None = None,
    progress: Progress | None = None,
    detach: bool = False,
) -> dict[str, dict]:
    """One job per run, submitted level by level as job arrays.

    On Slurm, every level is submitted at once and depends (``afterany``) on the previous level's jobs, so
    the whole sweep is queued in one go; each job checks its own dependencies' results. The user's
    ``slurm_additional_parameters`` (account, qos, ...) reach every level. With ``detach`` it returns once
    everything is queued (no results: `sweep --status` and `leaderboard` collect them later); otherwise it
    waits for every job. With submitit's ``local`` or ``debug`` executors (no scheduler), levels are run one
    after the other.
    """
    import submitit

    book = Book(plan, progress)
    executor = submitit.AutoExecutor(folder=str(Path(plan.spec.results_dir) / "submitit"), cluster=cluster)
    executor.update_parameters(**(parameters or {}))
    is_slurm = executor.cluster == "slurm"
    submitted: list[tuple[list[Run], list]] = []
    previous_ids: list[str] = []
    for level in plan.levels():
        todo = book.pending(level)
        if not is_slurm:
            todo = [r for r in todo if not book.blocked(r)]
        if not todo:
            continue
        if is_slurm and previous_ids:
            executor.update_parameters(slurm_additional_parameters=_with_dependency(parameters, previous_ids))
        jobs = executor.map_array(execute_run, todo)
        for r in todo:
            book.progress.started(r)
        if is_slurm:
            previous_ids = [j.job_id for j in jobs]
            submitted.append((todo, jobs))
        else:
            for r, job in zip(todo, jobs):
                _collect(book, r, job)
    if detach:
        if not is_slurm:
            raise ValueError(
                "--detach needs a scheduler (cluster slurm): other executors run in this process"
            )
        return {}
    for todo, jobs in submitted:
        for r, job in zip(todo, jobs):
            _collect(book, r, job)
    return book.results


def _with_dependency(parameters: dict | None, previous_ids: list[str]) -> dict:
    """The user's ``slurm_additional_parameters`` (account, qos, ...) plus this level's dependency on the
    previous one: submitit replaces the whole dict on every update, so it is rebuilt, never replaced."""
    extra = dict((parameters or {}).get("slurm_additional_parameters") or {})
    after = "afterany:" + ":".join(previous_ids)
    extra["dependency"] = f"{extra['dependency']},{after}" if extra.get("dependency") else after
    return extra


def _collect(book: Book, run: Run, job) -> None:
    try:
        book.book(run, job.result())
    except Exception as err:  # noqa: BLE001 - a job that died (e.g. killed by the scheduler) is a failed run
        book.blocked(run, f"job {job.job_id} failed: {(str(err).splitlines() or [''])[0][:300]}")
