"""``transferbench sweep``: plan, (prepare data,) run, aggregate, log the summary."""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import sys
import time
from pathlib import Path

from transferbench.errors import TransferbenchError
from transferbench.logs import LogStream, ensure_configured, log_file
from transferbench.sweep import interrupt
from transferbench.sweep.aggregate import aggregate, write_plan
from transferbench.sweep.datacheck import check_sweep_data
from transferbench.sweep.environment import record_environment
from transferbench.sweep.estimate import describe, estimate
from transferbench.sweep.launch import Progress, run_local, run_submitit
from transferbench.sweep.plan import Plan, make_plan
from transferbench.sweep.spec import load_spec
from transferbench.sweep.store import ResultsStore
from transferbench.sweep.validate import validate_run_configs

TOP_COLUMNS = ["rank", "model", "strategy", "source", "steps", "n_cases", "collapsed", "dsc_mean",
               "dsc_diff_scratch_matched", "p_holm_scratch_matched"]  # fmt: skip


def run_sweep(
    config: str,
    launcher: str | None = None,
    jobs: int | None = None,
    cluster: str | None = None,
    dry_run: bool = False,
    stream=None,
    recalibrate: bool = False,
    detach: bool = False,
    seeds: list[int] | None = None,
) -> int:
    """Returns the number of runs that did not finish (0 = complete; with ``detach``, 0 once queued);
    ``seeds`` replaces the sweep file's (``load_spec``)."""
    import os

    os.environ.setdefault("WANDB_SILENT", "true")
    ensure_configured()
    stream = stream or LogStream()
    spec = load_spec(config, seeds)
    jobs = jobs or int(spec.launcher.get("jobs", 1))
    threads = int(spec.launcher.get("threads", 1))
    if dry_run:
        plan = _plan_and_check(spec, stream, dry_run=True)
        seconds = estimate(plan, threads, recalibrate, stream, jobs)
        print(describe(plan, seconds, jobs, threads), file=stream)
        return 0
    results_dir = Path(spec.results_dir)
    with sweep_lock(results_dir), log_file(results_dir / "sweep.log"):  # one invocation; all it says, kept
        plan = _plan_and_check(spec, stream, dry_run=False)
        handlers = interrupt.install()
        try:
            failed = _run_and_aggregate(
                spec, plan, results_dir, launcher, jobs, cluster, stream, recalibrate, detach
            )
        finally:
            interrupt.restore(handlers)
    if detach:
        return failed
    log_summary_to_wandb(results_dir, spec.name, spec.wandb)
    return failed


def _plan_and_check(spec, stream, dry_run: bool):
    """Plan, prepare or check the data and validate every run's config; the plan (printed on a dry run)."""
    plan = make_plan(spec)
    print(plan.summary(), file=stream)
    for note in spec.notes:
        print(note if note.startswith("warning:") else f"note: {note}", file=stream)
    validate_run_configs(plan)
    print(f"configs: all {len(plan.runs)} run configs parse as `fit` configs", file=stream)
    if spec.prepare_synthetic and not dry_run:
        from transferbench.data.synthetic import prepare_synthetic

        prepare_synthetic(spec.data_root, verbose=False)  # no-op when present; stale data is an error
    if spec.prepare_synthetic and dry_run and not Path(spec.data_root).is_dir():
        print(f"data: {spec.data_root} is generated when the sweep runs; checked then", file=stream)
    else:
        reports = check_sweep_data(spec)
        found = ", ".join(f"{r.source} {len(r.cases)}" for r in reports)
        print(
            f"data: headers of every case checked, no problems, no test case in a pretraining source ({found} cases)",
            file=stream,
        )
    if dry_run:
        for run in plan.runs:
            deps = f" <- {', '.join(run.deps)}" if run.deps else ""
            print(f"  {run.id}{deps}", file=stream)
        print(planned_power(spec), file=stream)
    return plan


def planned_power(spec) -> str:
    """What the planned seeds can detect: from the variance components of this sweep's last leaderboard
    when there is one, else for the between-seed sds of ``docs/statistics.md``'s power section."""
    import pandas as pd

    from transferbench.evaluation import statistics as st
    from transferbench.evaluation.leaderboard import design_power, power_sentence

    n, delta = len(spec.seeds), spec.target_difference
    lines = []
    board_csv = Path(spec.results_dir) / "leaderboard.csv"
    power = design_power(pd.read_csv(board_csv), n, delta) if board_csv.is_file() else None
    if power is not None:
        lines.append(f"{power_sentence(power)} (measured in {board_csv})")
    else:
        per_sd = []
        for sd in (0.02, 0.05):
            comps = {"seed": sd**2, "case": 0.0, "resid": 0.0}
            per_sd.append(f"sd {sd:g}: power {st.seed_power(comps, n, 1, delta):.0%}, "
                          f"{st.seeds_needed(comps, 1, delta):.0f} seeds for 80%")  # fmt: skip
        lines.append(f"Power for seeds (no measured variance components in {board_csv}, so for assumed between-seed sds of the mean "
                     f"difference): {n} seeds, target difference {delta:g} DSC: {'; '.join(per_sd)}.")  # fmt: skip
    return "\n".join(lines)


def _run_and_aggregate(
    spec, plan, results_dir: Path, launcher, jobs, cluster, stream, recalibrate, detach=False
) -> int:
    store = ResultsStore(results_dir)
    write_plan(plan, store)
    if any(store.result(r.id) is None for r in plan.runs):  # something will train here: record with what
        record_environment(results_dir)
    launcher = launcher or spec.launcher.get("name", "local")
    start = time.time()
    threads = int(spec.launcher.get("threads", 1))
    todo = Plan(spec, [r for r in plan.runs if store.result(r.id) is None])
    seconds = estimate(todo, threads, recalibrate, stream, jobs) if launcher == "local" else None
    if seconds is not None and todo.runs:
        print(describe(todo, seconds, jobs, threads).replace("estimated", "to do, estimated", 1), file=stream)
    progress = Progress(plan, stream, seconds)
    if launcher == "local":
        results = run_local(plan, jobs, progress, threads)
    elif launcher == "submitit":
        results = run_submitit(
            plan, cluster or spec.launcher.get("cluster"), spec.launcher.get("submitit"), progress, detach
        )
        if detach:
            print(
                f"sweep {spec.name}: every level queued with its dependencies; `transferbench sweep --status "
                f"{results_dir}` shows progress, `transferbench leaderboard {results_dir}` aggregates",
                file=stream,
            )
            return 0
    else:
        raise ValueError(f"unknown launcher {launcher!r}; use local or submitit")
    board = aggregate(results_dir)
    failed = [r for r in results.values() if r["status"] != "done"]
    print(
        f"sweep {spec.name}: {len(results) - len(failed)}/{len(results)} runs finished in {time.time() - start:.0f} s; "
        f"results in {results_dir}",
        file=stream,
    )
    if len(board):
        cols = [c for c in TOP_COLUMNS if c in board.columns]
        print(board[cols].head(24).to_string(index=False, float_format=lambda v: f"{v:.3g}"), file=stream)
    return len(failed)


def sweep_status(results_dir: str | Path, stream=None) -> int:
    """Counts of the planned runs by status (done, failed, interrupted, not run) from the results folder
    alone, e.g. while a detached Slurm sweep is queued; returns the number of runs not done."""
    from collections import Counter

    store = ResultsStore(results_dir)
    runs = store.read_plan()["runs"]
    status = {r["id"]: store.status(r["id"]) for r in runs}
    recorded = Path(results_dir) / "runs.csv"  # a committed results folder has the table, not the run folders
    if not (Path(results_dir) / "runs").is_dir() and recorded.is_file():
        import pandas as pd

        status.update(pd.read_csv(recorded).set_index("id")["status"].astype(str).to_dict())
        status = {r["id"]: status[r["id"]] for r in runs}
    counts = Counter(status.values())
    print(f"{results_dir}: {len(runs)} runs planned: "
          + ", ".join(f"{counts[k]} {k}" for k in ("done", "failed", "interrupted", "not run") if counts[k]),
          file=stream or sys.stdout)  # fmt: skip
    for run_id, state in status.items():
        if state == "failed":
            print(f"  failed: {run_id}: {(store.failure(run_id) or {}).get('error', '')[:200]}",
                  file=stream or sys.stdout)  # fmt: skip
    return len(runs) - counts["done"]


@contextlib.contextmanager
def sweep_lock(results_dir: Path):
    """One invocation per results folder at a time (filelock); a second one stops, naming the holder."""
    from filelock import FileLock, Timeout

    results_dir.mkdir(parents=True, exist_ok=True)
    lock, holder = FileLock(str(results_dir / ".sweep.lock")), results_dir / ".sweep.holder"
    try:
        lock.acquire(timeout=0)
    except Timeout:
        who = holder.read_text().strip() if holder.is_file() else "another process"
        raise TransferbenchError(
            f"{results_dir}: another `transferbench sweep` is running on this folder ({who}); wait for it or stop "
            "it (finished runs are kept, and the next invocation resumes)"
        ) from None
    try:
        holder.write_text(
            f"pid {os.getpid()} on {socket.gethostname()}, started {time.strftime('%Y-%m-%d %H:%M:%S')}"
        )
        yield
    finally:
        holder.unlink(missing_ok=True)
        lock.release()


def log_summary_to_wandb(results_dir: Path, name: str, settings: dict | None = None) -> None:
    """One W&B run per sweep (in the sweep's ``wandb`` project / entity) with the leaderboard as a Table and
    an artifact (with ``per_case.csv``), and the figures; offline unless W&B is configured."""
    import os

    import pandas as pd

    if os.environ.get("WANDB_MODE", "").lower() == "disabled":
        return
    import wandb

    from transferbench.training.loggers import wandb_configured

    # a re-run that changed nothing adds no second leaderboard run: remember what was logged last
    logged = results_dir / "wandb" / "leaderboard.sha256"
    files = [results_dir / "leaderboard.csv", *sorted((results_dir / "figures").glob("*.png"))]
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in files if p.is_file())).hexdigest()
    if logged.is_file() and logged.read_text().strip() == digest:
        return
    mode = os.environ.get("WANDB_MODE") or ("online" if wandb_configured() else "offline")
    settings = dict(settings or {})
    run = wandb.init(
        project=settings.get("project", "transferbench"), entity=settings.get("entity"), group=name,
        job_type="leaderboard", name=f"{name}-leaderboard", dir=str(results_dir), mode=mode, reinit="create_new",
    )  # fmt: skip
    board = pd.read_csv(results_dir / "leaderboard.csv")
    run.log({"leaderboard": wandb.Table(dataframe=board)})
    artifact = wandb.Artifact(f"leaderboard-{name}", type="results")
    for table in ("leaderboard.csv", "per_case.csv"):
        if (results_dir / table).is_file():
            artifact.add_file(str(results_dir / table))
    run.log_artifact(artifact)
    for png in sorted((results_dir / "figures").glob("*.png")):
        run.log({f"figures/{png.stem}": wandb.Image(str(png))})
    run.finish()
    logged.parent.mkdir(parents=True, exist_ok=True)
    logged.write_text(digest)
