"""`make bench`: the three foundation benchmarks, each measured side by side in one run."""

from __future__ import annotations

import warnings

warnings.filterwarnings("ignore")


def main() -> None:
    from benchmarks import bench_loader, bench_memory, bench_trainer_overhead

    a = bench_trainer_overhead.run()
    print(
        f"(a) training throughput  plain loop {a['plain_steps_per_s']:.2f} steps/s | Lightning Trainer "
        f"{a['trainer_steps_per_s']:.2f} steps/s | ratio {a['ratio']:.3f} (target >= 0.95)",
        flush=True,
    )
    b = bench_loader.run(a["consumed_patches_per_s"])
    print(
        f"(b) data loader          produces {b['loader_patches_per_s']:.1f} patches/s | training consumes "
        f"{b['consumed_patches_per_s']:.1f} patches/s | ratio {b['ratio']:.1f}x (target >= 5x)",
        flush=True,
    )
    c = bench_memory.run()
    print(
        f"(c) peak memory of a synthetic fit + test: {c['peak_rss_gb']:.2f} GB (target <= 4 GB)", flush=True
    )


if __name__ == "__main__":
    main()
