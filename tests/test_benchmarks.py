"""The benchmarks that have a contract beyond `make bench`'s printout."""

from __future__ import annotations


def test_gpu_benchmark_skips_cleanly_without_cuda(monkeypatch):
    import torch

    from benchmarks import bench_gpu

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert bench_gpu.run() is None
