"""The benchmarks that have a contract beyond `make bench`'s printout."""

from __future__ import annotations


def test_gpu_benchmark_skips_cleanly_without_cuda(monkeypatch):
    import torch

    from benchmarks import bench_gpu

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert bench_gpu.run() is None


def test_the_profiled_run_is_in_the_default_plan():
    """The profile and FLOP benchmarks measure a scratch run the default sweep plans (it once planned a plain
    ``scratch`` and the benchmarks stopped with StopIteration when it no longer did)."""
    from benchmarks.common import default_scratch_run

    run = default_scratch_run()
    assert run.strategy.startswith("scratch") and run.steps > 0
