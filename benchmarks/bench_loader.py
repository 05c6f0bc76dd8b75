"""(b) Cached data loader: patches per second produced vs consumed by a training step. Target >= 5x."""

from __future__ import annotations

import time

from benchmarks.common import datamodule


def run(consumed_patches_per_s: float, batches: int = 200) -> dict:
    dm = datamodule(iterations_per_epoch=batches)
    loader = dm.train_dataloader()
    it = iter(loader)
    next(it)  # warm-up
    start, patches = time.perf_counter(), 0
    for b in it:
        patches += b["image"].shape[0]
    rate = patches / (time.perf_counter() - start)
    return {
        "loader_patches_per_s": rate,
        "consumed_patches_per_s": consumed_patches_per_s,
        "ratio": rate / consumed_patches_per_s,
    }


if __name__ == "__main__":
    print(run(5.0))
