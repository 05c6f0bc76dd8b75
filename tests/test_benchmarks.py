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


def test_the_plateau_rule_flags_scatter_less_often_than_the_gain_alone_and_still_finds_a_rise():
    from benchmarks import bench_plateau

    cells = {(r["sd"], r["per_quarter"]): r for r in bench_plateau.run(curves=300)}
    flat = cells[(0.03, 0.0)]
    assert flat["rule"] <= 0.08 < flat["gain"]  # about 4% vs 17%
    assert cells[(0.011, 0.04)]["rule"] >= 0.95  # a clear rise is still caught
