"""The public benchmark's fixed folds (shipped as package data) and how a run picks its cases."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

from transferbench.errors import DataError

SPLIT_FILE = "covid19_ct_seg_benchmark.json"


@cache
def benchmark_splits() -> dict:
    """The fold file of Ma et al. 2021, exactly as shipped in ``transferbench/resources``."""
    return json.loads(resources.files("transferbench.resources").joinpath(SPLIT_FILE).read_text())


def covid_fold(fold: int, scheme: str = "folds_4_train") -> dict[str, list[str]]:
    """Train/test case ids of one fold of COVID-19-CT-Seg (Task 1: 4 training, 16 test cases)."""
    folds = benchmark_splits()["covid19_ct_seg"].get(scheme)
    if folds is None:
        raise DataError(f"{SPLIT_FILE}: no fold scheme {scheme!r}; expected folds_4_train or folds_16_train")
    if not 0 <= fold < len(folds):
        raise DataError(f"{SPLIT_FILE}: fold {fold} does not exist; {scheme} has folds 0..{len(folds) - 1}")
    return {"train": list(folds[fold]["train"]), "test": list(folds[fold]["test"])}


def label_budget(train: list[str], n: int, seed: int) -> list[str]:
    """The first ``n`` of a seed-fixed permutation of a fold's training cases: nested in ``n`` (the 1-case
    set lies inside the 2-case set) and the same for every strategy of a seed, so label-budget curves
    compare like with like."""
    import numpy as np

    if not 1 <= n <= len(train):
        raise DataError(
            f"data.train_cases={n}: the fold has {len(train)} training cases; use 1..{len(train)}"
        )
    order = np.random.default_rng(seed).permutation(len(train))
    return [sorted(train)[i] for i in order[:n]]


def source_split(source: str, available: list[str], val_fraction: float = 0.2) -> dict[str, list[str]]:
    """Train/val ids of a non-COVID source: the benchmark's split where it has one, else a fixed 80/20.

    Only cases present on disk are kept, so a subset (such as the synthetic benchmark's) uses the benchmark
    assignment of the cases it has.
    """
    have = set(available)
    split = benchmark_splits()["sources"].get(source)
    if split is not None:
        train = [c for c in split["train"] if c in have]
        val = [c for c in split["val"] if c in have]
        extra = sorted(have - set(train) - set(val))
        train += extra  # cases the split file does not list are training cases
    else:
        ordered = sorted(have)
        n_val = max(1, round(len(ordered) * val_fraction)) if len(ordered) > 1 else 0
        train, val = ordered[: len(ordered) - n_val], ordered[len(ordered) - n_val :]
    return {"train": train, "val": val}
