"""Shared setup for the benchmarks: the default synthetic data and the CPU preset network."""

from __future__ import annotations

import os
from pathlib import Path

DATA_ROOT = Path(os.environ.get("TRANSFERBENCH_BENCH_DATA", "data/synthetic"))


def ensure_data() -> Path:
    from transferbench.data.synthetic import prepare_synthetic

    prepare_synthetic(DATA_ROOT, verbose=False)
    return DATA_ROOT


def datamodule(**overrides):
    from transferbench.data.datamodule import CTSegDataModule

    kwargs = {
        "root": str(ensure_data()),
        "iterations_per_epoch": 40,
        "target_spacing": (4.0, 4.0, 6.0),
    } | overrides
    dm = CTSegDataModule(**kwargs)
    dm.setup("fit")
    return dm


def default_scratch_run():
    """The default sweep's first U-Net scratch target run (its step-matched baseline), as planned: the run
    the profile and FLOP benchmarks measure."""
    from transferbench.sweep.plan import make_plan
    from transferbench.sweep.spec import load_spec

    return next(
        r
        for r in make_plan(load_spec("synthetic")).runs
        if r.kind == "finetune" and r.strategy.startswith("scratch") and r.model == "unet3d"
    )
