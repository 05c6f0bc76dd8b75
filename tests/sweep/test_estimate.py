"""The dry run's time estimate: measured costs, cached per machine, used by the progress ETA."""

from __future__ import annotations

import dataclasses
import io
import json

from tests.sweep.test_sweep import write_spec
from transferbench.sweep import estimate as est
from transferbench.sweep.launch import Progress, _fmt
from transferbench.sweep.plan import make_plan
from transferbench.sweep.spec import load_spec


def test_estimate_scales_with_steps_and_is_cached(synthetic_root, tmp_path, monkeypatch):
    monkeypatch.setenv("TRANSFERBENCH_CACHE_DIR", str(tmp_path / "cache"))
    plan = make_plan(load_spec(write_spec(tmp_path, synthetic_root)))
    seconds = est.estimate(plan, threads=1)
    assert set(seconds) == {r.id for r in plan.runs} and all(v > est.STARTUP_S for v in seconds.values())
    cache = json.loads(est.cache_path().read_text())
    (costs,) = [v for k, v in cache.items() if k != "version"]
    assert len(costs) == 1  # one network shape: calibrated once for every run of it
    cost = next(iter(costs.values()))
    run = plan.runs[0]
    assert seconds[run.id] == est.run_seconds(run, cost)
    assert est.run_seconds(run, cost) < est.run_seconds(dataclasses.replace(run, steps=run.steps * 2), cost)
    calls = []
    monkeypatch.setattr(
        est, "calibrate", lambda *a: calls.append(a) or {"step_s": 1.0, "infer_s": 1.0, "val_infer_s": 1.0}
    )
    est.estimate(plan, threads=1)
    assert not calls  # cached: nothing measured again
    est.estimate(plan, threads=1, recalibrate=True)
    assert len(calls) == 1
    assert est.wall_seconds({"a": 10.0, "b": 10.0, "c": 40.0}, jobs=2) == 40.0  # never below the longest
    assert est.wall_seconds({"a": 30.0, "b": 30.0}, jobs=2) == 30.0


def test_progress_eta_rescales_the_estimate_by_the_finished_runs(synthetic_root, tmp_path):
    plan = make_plan(load_spec(write_spec(tmp_path, synthetic_root)))
    ids = [r.id for r in plan.runs]
    out = io.StringIO()
    progress = Progress(plan, out, {i: 10.0 for i in ids})
    progress.finished(plan.runs[0], {"status": "done", "wall_s": 20.0})  # twice as slow as estimated
    left = len(ids) - 1
    assert f"ETA {_fmt(2 * 10.0 * left)}" in out.getvalue()


def test_dry_run_prints_the_estimated_time(synthetic_root, tmp_path, monkeypatch, capsys):
    from transferbench.cli.main import main

    monkeypatch.setenv("TRANSFERBENCH_CACHE_DIR", str(tmp_path / "cache"))
    assert main(["sweep", "--config", str(write_spec(tmp_path, synthetic_root)), "--dry-run"]) == 0
    err = capsys.readouterr().err
    assert "estimated time on this machine:" in err and "optimiser steps" in err


def test_runs_side_by_side_are_timed_side_by_side(synthetic_root, tmp_path, monkeypatch):
    """With --jobs 2 the calibration times two runs at once (each in its own process) and caches that
    under its own key: two runs share the machine's memory bandwidth, one alone is faster."""
    monkeypatch.setenv("TRANSFERBENCH_CACHE_DIR", str(tmp_path / "cache"))
    plan = make_plan(load_spec(write_spec(tmp_path, synthetic_root)))
    seconds = est.estimate(plan, threads=1, jobs=2)
    assert seconds and all(v > est.STARTUP_S for v in seconds.values())
    cache = json.loads(est.cache_path().read_text())
    assert [k for k in cache if k != "version"] == [est.machine_key(1, 2)] and est.machine_key(1, 2).endswith(
        "|2 jobs"
    )
    assert "2 at once" in est.describe(plan, seconds, jobs=2, threads=1)


def test_validations_are_costed_at_their_own_overlap(synthetic_root, tmp_path):
    """A run's validation passes use ``val_sw_overlap`` (tiles, in the default sweep) and its tests
    ``sw_overlap``: the estimate counts and times them apart."""
    model = {"sw_overlap": 0.5, "val_sw_overlap": 0.0}
    spec = write_spec(
        tmp_path, synthetic_root, overrides={"model": model, "data": {"patch_size": [32, 32, 16]}}
    )
    run = next(r for r in make_plan(load_spec(spec)).runs if r.kind == "finetune")
    shape = est.Shape.of(run)
    assert (shape.overlap, shape.val_overlap) == (0.5, 0.0)
    tests, validations = est.inferences(run)
    assert tests == 16 and validations == 2 * 4  # 2 passes over the fold's 4 training cases
    cost = est.calibrate(shape, (64, 64, 32), threads=1)
    assert 0 < cost["val_infer_s"] < cost["infer_s"]  # 8 tiles vs 27 windows of the same volume
    seconds = est.run_seconds(run, cost)
    expected = run.steps * cost["step_s"] + 16 * cost["infer_s"] + 8 * cost["val_infer_s"] + est.STARTUP_S
    assert seconds == expected


def test_the_calibration_times_the_runs_memory_layout(synthetic_root, tmp_path, monkeypatch):
    """``model.channels_last`` changes a step's cost (docs/benchmarks.md (h)): the calibration times the
    network in the run's layout and caches it under its own shape."""
    from tests.training.test_memory_format import in_channels_last
    from transferbench.training.module import SegmentationModule

    def shape_of(channels_last: bool) -> est.Shape:
        spec = write_spec(tmp_path, synthetic_root, overrides={"model": {"channels_last": channels_last}})
        return est.Shape.of(next(r for r in make_plan(load_spec(spec)).runs if r.kind == "finetune"))

    contiguous, last = shape_of(False), shape_of(True)
    assert (contiguous.channels_last, last.channels_last) == (False, True) and contiguous.key() != last.key()
    layouts = []
    outputs = SegmentationModule.outputs

    def record(self, x):
        layouts.append(in_channels_last(self.net))
        return outputs(self, x)

    monkeypatch.setattr(est, "CALIBRATION_STEPS", 3)
    monkeypatch.setattr(SegmentationModule, "outputs", record)
    est.calibrate(dataclasses.replace(last, patch=(16, 16, 16), roi=(16, 16, 16)), (16, 16, 16), threads=1)
    assert layouts and all(layouts)
