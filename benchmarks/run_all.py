"""`make bench`: every benchmark, each measured side by side in one run."""

from __future__ import annotations

import sys
import warnings

warnings.filterwarnings("ignore")


def main() -> None:
    from benchmarks import (
        bench_ceiling,
        bench_flops,
        bench_gpu,
        bench_intervals,
        bench_large_source,
        bench_loader,
        bench_memory,
        bench_models,
        bench_plateau,
        bench_profile,
        bench_sweep,
        bench_trainer_overhead,
    )

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
    d = bench_sweep.shared_pretraining()
    line = (
        f"(d) shared pretraining    default sweep trains {d['trainings']} times | naive plan {d['naive_trainings']} "
        f"| ratio {d['naive_trainings'] / d['trainings']:.2f}x"
    )
    if "actual_s" in d:
        line += (
            f"; measured on results/synthetic: {d['actual_s'] / 60:.1f} min vs {d['naive_s'] / 60:.1f} min naive "
            f"(ratio {d['naive_s'] / d['actual_s']:.2f}x)"
        )
    print(line, flush=True)
    e = bench_sweep.fixed_cost()
    print(
        f"(e) fixed cost per run    new process start -> first training step {e['fresh_s']:.1f} s | in a warm "
        f"sweep worker {e['warm_s']:.1f} s | ratio {e['ratio']:.1f}x",
        flush=True,
    )
    f = bench_models.run()
    print(
        f"(f) models on CPU presets nCoVSegNet {f['ncov_slices_per_s']:.1f} slices/s (192x160) | UNet3D "
        f"{f['unet_patches_per_s']:.1f} patches/s (64x64x32); inference per volume {tuple(f['volume_shape'])}: "
        f"nCoVSegNet {f['ncov_infer_s']:.2f} s | UNet3D {f['unet_infer_s']:.2f} s "
        f"(ratio {f['unet_infer_s'] / f['ncov_infer_s']:.2f}x)",
        flush=True,
    )

    g = bench_profile.phase_profile()
    parts = ", ".join(f"{k} {v:.1f} s ({100 * v / g['wall_s']:.0f}%)" for k, v in g["phases"].items())
    print(
        f"(g) one default-sweep run (U-Net scratch, {g['steps']} steps, 1 thread) {g['wall_s']:.1f} s: {parts}",
        flush=True,
    )
    h = bench_profile.channels_last()
    print(
        f"(h) U-Net training step   default memory format {h['default_s'] * 1e3:.0f} ms | channels_last_3d "
        f"{h['channels_last_s'] * 1e3:.0f} ms | ratio {h['ratio']:.2f}x; its heaviest convolution (forward + weight "
        f"gradient) {h['layer_default_s'] * 1e3:.1f} vs {h['layer_channels_last_s'] * 1e3:.1f} ms, "
        f"{h['layer_ratio']:.2f}x",
        flush=True,
    )
    i = bench_ceiling.run()
    print(
        "(i) ground-truth ceiling  DSC of the reference through each geometry, synthetic test cases (mean / min): "
        + " | ".join(f"{k} {m:.3f} / {lo:.3f}" for k, (m, lo) in i.items())
        + " (nCoVSegNet target >= 0.9)",
        flush=True,
    )
    j = bench_gpu.run()
    if j is None:
        print(
            "(j) GPU benchmark         skipped: no CUDA device (run `make bench` on a GPU machine)",
            flush=True,
        )
    else:
        print(
            f"(j) GPU benchmark         {j['device']}, UNet3D benchmark preset {j['patch']} bf16, batch "
            f"{j['batch']}: {j['no_loading_patches_per_s']:.1f} patches/s without data loading (GPU busy "
            f"{100 * j['no_loading_busy']:.0f}%) | {j['loading_patches_per_s']:.1f} patches/s with the nnunet "
            f"pipeline's loader, {j['workers']} workers (GPU busy {100 * j['loading_busy']:.0f}%) | ratio "
            f"{j['loading_patches_per_s'] / j['no_loading_patches_per_s']:.2f}",
            flush=True,
        )
    print("(k) interval calibration (statistics, not speed): ", end="", flush=True)
    bench_intervals.main()
    sys.argv = sys.argv[:1]  # bench_large_source.main and bench_plateau.main read their arguments from there
    print("(p) ", end="", flush=True)
    bench_plateau.main()
    bench_large_source.main()
    bench_flops.main()
    o = bench_profile.validation_overlap()
    print(
        f"(o) one validation pass   {o['cases']} held-out cases at overlap {o['overlap']} {o['test_overlap_s']:.2f} s | "
        f"at the sweep's validation overlap {o['val_overlap']} {o['val_overlap_s']:.2f} s | ratio {o['ratio']:.2f}x",
        flush=True,
    )


if __name__ == "__main__":
    main()
