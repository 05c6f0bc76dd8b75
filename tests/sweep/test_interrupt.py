"""Stopping, killing and interrupting: Ctrl-C at any --jobs, a killed parent, an interrupted aggregation,
colliding outside labels and a typo that only the run configs show."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.sweep.test_sweep import write_spec
from transferbench.cli.main import main

LONG = {
    "pretrain": {"trainer": {"max_epochs": 1}, "data": {"iterations_per_epoch": 2}},
    "finetune": {"trainer": {"max_epochs": 60, "check_val_every_n_epoch": 1}, "data": {"iterations_per_epoch": 4}},
}  # fmt: skip


def _start(path: Path, jobs: int) -> subprocess.Popen:
    env = {**os.environ, "WANDB_MODE": "disabled"}
    cmd = [
        sys.executable,
        "-m",
        "transferbench.cli.main",
        "sweep",
        "--config",
        str(path),
        "--jobs",
        str(jobs),
    ]
    return subprocess.Popen(cmd, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)  # fmt: skip


def _in_flight(results: Path, proc: subprocess.Popen, timeout: float = 120) -> Path:
    """A run folder whose training has written a checkpoint but not finished."""
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        for ckpt in results.glob("runs/*/checkpoints/last.ckpt"):
            if not (ckpt.parent.parent / "result.json").exists():
                return ckpt.parent.parent
        time.sleep(0.2)
    raise AssertionError("no run was in flight")


def _children(pid: int) -> list[int]:
    out = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line)
        except OSError:
            continue
        if fields.get("PPid", "").strip() == str(pid):
            out.append(int(status.parent.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "State:\tZ" not in state


@pytest.mark.parametrize("jobs", [1, 2])
def test_ctrl_c_stops_the_sweep_and_marks_the_run_interrupted(synthetic_root, tmp_path, jobs):
    path = write_spec(tmp_path, synthetic_root, name=f"stop{jobs}", budget=LONG, strategies=["scratch"])
    results = tmp_path / "results" / f"stop{jobs}"
    proc = _start(path, jobs)
    run = _in_flight(results, proc)
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal sends to the whole foreground group
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err[-2000:]
    assert err.strip().splitlines()[-1].startswith("interrupted: the runs in flight are marked interrupted")
    record = json.loads((run / "failed.json").read_text())
    assert record["status"] == "interrupted" and "configuration error" not in err
    assert not (run / "result.json").exists()
    assert not [p for p in _children(proc.pid) if _alive(p)]


def test_killing_the_parent_leaves_no_worker_alive(synthetic_root, tmp_path):
    path = write_spec(tmp_path, synthetic_root, name="orphans", budget=LONG, strategies=["scratch"])
    proc = _start(path, 2)
    _in_flight(tmp_path / "results" / "orphans", proc)
    workers = [p for p in _children(proc.pid) if _alive(p)]
    assert workers
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.time() + 10
    while time.time() < deadline and any(_alive(p) for p in workers):
        time.sleep(0.2)
    assert not any(_alive(p) for p in workers)


def test_an_interrupted_output_swap_leaves_one_complete_set(tmp_path, monkeypatch):
    from transferbench import files

    folder = tmp_path / "results"
    folder.mkdir()
    for name in ("a.csv", "b.md"):
        (folder / name).write_text("old")
    # interrupted while writing: nothing changes
    with pytest.raises(KeyboardInterrupt), files.staged_outputs(folder) as out:
        (out / "a.csv").write_text("new")
        raise KeyboardInterrupt
    assert {p.name: p.read_text() for p in folder.iterdir()} == {"a.csv": "old", "b.md": "old"}
    # Ctrl-C arriving during the moves is held until the whole new set is in place, also with other threads
    # running (any of them could take a process-directed signal)
    import threading

    threading.Thread(target=time.sleep, args=(3,), daemon=True).start()
    real = os.replace
    calls = []

    def replace(src, dst):
        if not calls:
            os.kill(os.getpid(), signal.SIGINT)
        calls.append(dst)
        real(src, dst)

    monkeypatch.setattr(files.os, "replace", replace)
    with pytest.raises(KeyboardInterrupt), files.staged_outputs(folder) as out:
        for name in ("a.csv", "b.md"):
            (out / name).write_text("new")
    assert {p.name: p.read_text() for p in folder.iterdir()} == {"a.csv": "new", "b.md": "new"}


def test_outside_labels_that_share_a_file_are_refused(tmp_path, capsys):
    results = tmp_path / "results"
    results.mkdir()
    (results / "plan.json").write_text("{}")
    csv = tmp_path / "x.csv"
    csv.write_text("case,class,dsc\n")
    assert (
        main(["leaderboard", str(results), "--external", f"ext A={csv}", "--external", f"ext-A={csv}"]) == 1
    )
    err = capsys.readouterr().err
    assert "'ext A' and 'ext-A' would both be stored as external/ext_a.csv" in err
    assert sorted(p.name for p in results.iterdir()) == ["plan.json"]


def test_a_typo_in_a_model_override_fails_the_dry_run(synthetic_root, tmp_path, capsys):
    models = {"unet3d": {"overrides": {"model": {"net": {"init_args": {"preset": "tiny"}}},
                                       "data": {"patchsize": [32, 32, 16]}}}}  # fmt: skip
    path = write_spec(tmp_path, synthetic_root, models=models)
    assert main(["sweep", "--config", str(path), "--dry-run"]) == 1
    err = capsys.readouterr().err
    assert "(model 'unet3d'" in err and "patchsize" in err and "models.unet3d" in err
