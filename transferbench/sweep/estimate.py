"""How long a plan takes on this machine, from measured costs (``sweep --dry-run`` and the progress ETA).

A run costs ``steps x step_s + tests x infer_s + validations x val_infer_s + STARTUP_S``: ``step_s`` is one
optimiser step of the run's own network, loss, patch and batch (forward, backward, update), ``infer_s`` one
sliding-window inference of a volume of the target's size at the run's spacing with the run's test-time
overlap and flips, ``val_infer_s`` the same at its validation overlap; ``inferences`` counts the test cases
and every validation pass over the validation cases. Both are measured here by a short calibration (about 10 s a
network shape) with the thread count the runs use, and cached per machine and shape, because a 2-core VM and
a workstation differ by 10x and the same machine by 2x from one day to another (the cache says when it was
measured; ``--recalibrate`` measures again).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path

from transferbench.files import atomic_write_text
from transferbench.sweep.runs import Plan, Run

STARTUP_S = 4.0  # process-level cost of one run (config, data check, checkpoint writes), measured ~3-5 s
CALIBRATION_STEPS = 12
CACHE_VERSION = 2  # 2: validation inferences timed apart (their own window overlap)


def cache_path() -> Path:
    """``$TRANSFERBENCH_CACHE_DIR/calibration.json``, else under ``$XDG_CACHE_HOME`` or ``~/.cache``."""
    base = os.environ.get("TRANSFERBENCH_CACHE_DIR")
    if base:
        return Path(base) / "calibration.json"
    return (
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        / "transferbench"
        / "calibration.json"
    )


def machine_key(threads: int, jobs: int = 1) -> str:
    """What the costs belong to: the processor, its core count, torch's version, the threads per run and
    how many runs share the machine."""
    import torch

    cpu = platform.processor() or platform.machine()
    key = f"{platform.node()}|{cpu}|{os.cpu_count()}|torch {torch.__version__}|{threads} thread(s)"
    return key + (f"|{jobs} jobs" if jobs > 1 else "")


@dataclass(frozen=True)
class Shape:
    """The part of a run's config that decides its step and inference cost."""

    net: str  # the network's config, as JSON
    patch: tuple[int, ...]
    batch: int  # patches (or slices) per optimiser step
    roi: tuple[int, ...]
    sw_batch: int
    mirror: int  # test-time flips
    pretext: str | None = None  # a self-supervised step also corrupts its batch
    overlap: float = 0.5  # of the test-time sliding windows
    val_overlap: float = 0.5  # of the validation windows
    channels_last: bool = False  # the network's memory layout (``model.channels_last``)

    @classmethod
    def of(cls, run: Run) -> Shape:
        cfg = run.config.resolved
        model, data = cfg.get("model") or {}, cfg.get("data") or {}
        patch = tuple(int(v) for v in data.get("patch_size") or (64, 64, 32))
        per_step = int(data.get("batch_size") or 1) * (
            int(data.get("samples_per_volume") or 2) if len(patch) == 3 else 1
        )
        axes = model.get("test_mirror_axes") or ()
        overlap = float(model.get("sw_overlap", 0.5))
        val_overlap = model.get("val_sw_overlap")
        return cls(
            net=json.dumps(model.get("net"), sort_keys=True),
            patch=patch,
            batch=per_step,
            roi=tuple(int(v) for v in model.get("roi_size") or patch),
            sw_batch=int(model.get("sw_batch_size") or 2),
            mirror=2 ** len(axes),
            pretext=model.get("pretext"),
            overlap=overlap,
            val_overlap=overlap if val_overlap is None else float(val_overlap),
            channels_last=bool(model.get("channels_last", False)),
        )

    def key(self) -> str:
        return hashlib.sha256(repr(self).encode()).hexdigest()[:16]


def _network(shape: Shape):
    from jsonargparse import ArgumentParser

    from transferbench.models.base import SegmentationNet

    parser = ArgumentParser()
    parser.add_argument("--net", type=SegmentationNet)
    cfg = parser.parse_object({"net": json.loads(shape.net)})
    return parser.instantiate_classes(cfg).net


def calibrate(shape: Shape, volume: tuple[int, ...], threads: int) -> dict[str, float]:
    """Measured seconds per optimiser step and per test-time inference of one volume, for ``shape``."""
    import torch

    from transferbench.training.module import SegmentationModule

    saved = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        module = SegmentationModule(
            _network(shape),
            roi_size=shape.roi,
            sw_batch_size=shape.sw_batch,
            sw_overlap=shape.overlap,
            pretext=shape.pretext,
            channels_last=shape.channels_last,
        )
        opt = torch.optim.Adam(module.parameters(), 1e-3)
        gen = torch.Generator().manual_seed(0)
        image = torch.rand((shape.batch, 1, *shape.patch), generator=gen)
        label = (torch.rand((shape.batch, 1, *shape.patch), generator=gen) > 0.9).float()
        module.train()

        def step() -> None:
            if module.pretext is not None:
                loss = module.pretext.loss(module.net, image, 0)
            else:
                out = module.outputs(module.network_input(image))
                loss = module.criterion(out if isinstance(out, (list, tuple)) else [out], label)
            opt.zero_grad()
            loss.backward()
            opt.step()

        step()
        rounds = []  # the median of three rounds: a shared machine's hiccups do not set the estimate
        for _ in range(3):
            start = time.perf_counter()
            for _ in range(CALIBRATION_STEPS // 3):
                step()
            rounds.append((time.perf_counter() - start) / (CALIBRATION_STEPS // 3))
        step_s = sorted(rounds)[1]
        module.eval()
        with torch.no_grad():
            vol = torch.rand((1, 1, *volume), generator=gen)
            start = time.perf_counter()
            module.predict_logits(vol)
            infer_s = (time.perf_counter() - start) * shape.mirror
            start = time.perf_counter()
            module.predict_logits(vol, shape.val_overlap)
            val_infer_s = time.perf_counter() - start
    finally:
        torch.set_num_threads(saved)
    return {"step_s": step_s, "infer_s": infer_s, "val_infer_s": val_infer_s}


def resampled_size(image, spacing, roi) -> tuple[int, ...]:
    """A NIfTI image's size at ``spacing`` (its own without one) from its header, at least ``roi``."""
    import nibabel as nib

    header = nib.load(str(image)).header
    zooms, dims = header.get_zooms()[:3], header.get_data_shape()[:3]
    if spacing is None:
        return tuple(int(d) for d in dims)
    return tuple(max(int(round(d * z / s)), p) for d, z, s, p in zip(dims, zooms, spacing, (*roi, 1)))


def _volume(run: Run, shape: Shape) -> tuple[int, ...]:
    """A target test volume's size at the run's spacing (the first test case's header), else 3 patches."""

    from transferbench.data.sources import create_source
    from transferbench.data.splits import covid_fold

    data = run.config.resolved.get("data") or {}
    spacing = data.get("target_spacing")
    try:
        case = covid_fold(int(data.get("fold", 0)), data.get("fold_scheme", "folds_4_train"))["test"][0]
        source = create_source("covid19_ct_seg")
        found = {c.case_id: c for c in source.find_cases(data["root"])}
        return resampled_size(found[case].image, spacing, shape.roi)
    except Exception:  # noqa: BLE001 - no data yet (a dry run before generation): a typical size
        return tuple(3 * p for p in shape.roi) if len(shape.roi) == 3 else (192, 192, 48)


def side_by_side(shape: Shape, volume: tuple[int, ...], threads: int, jobs: int) -> dict[str, float]:
    """``calibrate`` in ``jobs`` processes at once, the mean of their costs: runs that share the machine
    share its memory bandwidth and caches, so one run timed alone is faster than each of ``jobs`` (measured
    here: a sweep of 2 jobs took 1.26x its single-run estimate)."""
    if jobs <= 1:
        return calibrate(shape, volume, threads)
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        measured = list(pool.map(calibrate, [shape] * jobs, [volume] * jobs, [threads] * jobs))
    return {k: sum(m[k] for m in measured) / jobs for k in measured[0]}


def costs(
    plan: Plan, threads: int, recalibrate: bool = False, stream=None, jobs: int = 1
) -> dict[str, dict[str, float]]:
    """Per run id: measured step and inference cost of its shape with ``jobs`` runs side by side
    (calibrated once per shape, machine and job count)."""
    path = cache_path()
    cache = json.loads(path.read_text()) if path.is_file() and not recalibrate else {}
    if cache.get("version") != CACHE_VERSION:
        cache = {"version": CACHE_VERSION}
    machine = cache.setdefault(machine_key(threads, jobs), {})
    out, changed = {}, False
    for run in plan.runs:
        shape = Shape.of(run)
        key = shape.key()
        if key not in machine:
            if stream is not None:
                print(f"calibrating {run.model} ({shape.patch}, {shape.batch} per step) on this machine, "
                      f"{jobs} at once ...", file=stream, flush=True)  # fmt: skip
            try:
                measured = side_by_side(shape, _volume(run, shape), threads, jobs)
            except Exception as err:  # noqa: BLE001 - a run that cannot train: the run itself reports it
                raise NotEstimated(f"{run.model} {shape.patch} does not train ({err})") from err
            machine[key] = {**measured, "measured": time.strftime("%Y-%m-%d")}
            changed = True
        out[run.id] = machine[key]
    if changed:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(cache, indent=1))
    return out


def inferences(run: Run) -> tuple[int, int]:
    """Volumes the run predicts: (test cases, validation passes x validation cases)."""
    cfg = run.config.resolved
    trainer, data = cfg.get("trainer") or {}, cfg.get("data") or {}
    epochs = int(trainer.get("max_epochs") or 1)
    passes = epochs // int(trainer.get("check_val_every_n_epoch") or 1)
    if data.get("val_source") == "synthetic_heldout":
        from transferbench.data.synthetic import N_HELDOUT

        n_val = N_HELDOUT
    elif run.kind == "pretrain":
        n_val = 3  # a source's val split (synthetic: 20% of 16 cases)
    else:
        n_val = int(data.get("train_cases") or 4)
    n_test = 16 if run.kind == "finetune" else 0
    return n_test, passes * n_val


def run_seconds(run: Run, cost: dict[str, float]) -> float:
    tests, validations = inferences(run)
    return (
        run.steps * cost["step_s"] + tests * cost["infer_s"] + validations * cost["val_infer_s"] + STARTUP_S
    )


def on_cpu(plan: Plan) -> bool:
    """Whether every run trains on the CPU: the calibration measures CPU steps only (a GPU-sized
    network's CPU step would take minutes and say nothing about the GPU)."""
    return all(
        str((r.config.resolved.get("trainer") or {}).get("accelerator", "cpu")) == "cpu" for r in plan.runs
    )


class NotEstimated(Exception):
    """A run's shape could not be timed (its configuration fails): the sweep goes on without an estimate."""


def estimate(
    plan: Plan, threads: int, recalibrate: bool = False, stream=None, jobs: int = 1
) -> dict[str, float] | None:
    """Per run id: estimated seconds of the run on this machine; None for a plan with runs on a GPU or a
    shape that does not train (said on ``stream``; the run itself then fails and is recorded)."""
    if not on_cpu(plan):
        return None
    try:
        per_cost = costs(plan, threads, recalibrate, stream, jobs)
    except NotEstimated as err:
        if stream is not None:
            print(f"time not estimated: {err}", file=stream, flush=True)
        return None
    return {run.id: run_seconds(run, per_cost[run.id]) for run in plan.runs}


def describe(plan: Plan, seconds: dict[str, float] | None, jobs: int, threads: int) -> str:
    """The dry run's time line: total steps, measured costs, estimated wall time with ``jobs`` workers."""
    if seconds is None:
        steps = sum(r.steps for r in plan.runs)
        why = "see above" if on_cpu(plan) else "trained on a GPU; the calibration times CPU runs only"
        return f"estimated time: not measured ({steps} optimiser steps, {why})"
    per_cost = costs(plan, threads, jobs=jobs)
    steps = sum(r.steps for r in plan.runs)
    parts = sorted(
        {
            (_label(r), c["step_s"], c["infer_s"], c["val_infer_s"], c["measured"])
            for r in plan.runs
            for c in [per_cost[r.id]]
        }
    )
    measured = "; ".join(
        f"{m}: {s:.3f} s a step, {i:.2f} s a test inference, {v:.2f} s a validation one (measured {d}, "
        f"{jobs} at once)"
        for m, s, i, v, d in parts
    )
    return (
        f"estimated time on this machine: {_fmt(wall_seconds(seconds, jobs))} with {jobs} job(s) of {threads} "
        f"thread(s) ({_fmt(sum(seconds.values()))} of compute, {steps} optimiser steps; {measured}; "
        f"cached in {cache_path()}, --recalibrate to measure again)"
    )


def _label(run: Run) -> str:
    """The model, and its output classes when they are not 2 (a pooled-label pretraining's own head)."""
    net = json.loads(Shape.of(run).net) or {}
    out = (net.get("init_args") or {}).get("out_channels") if isinstance(net, dict) else None
    return f"{run.model} ({out} classes)" if out and out != 2 else run.model


def _fmt(seconds: float) -> str:
    h, rest = divmod(int(seconds), 3600)
    return f"{h}h{rest // 60:02d}m" if h else f"{rest // 60}m{rest % 60:02d}s"


def wall_seconds(seconds: dict[str, float], jobs: int) -> float:
    """The plan's wall time with ``jobs`` concurrent runs: the work spread evenly over the workers, never
    less than the longest run. (Concurrent runs slow each other on a shared machine: measure with `make
    bench`.)"""
    if not seconds:
        return 0.0
    return max(sum(seconds.values()) / max(1, jobs), max(seconds.values()))
