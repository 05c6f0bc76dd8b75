"""(m) How far a default-sweep training step is from this machine's limit, and (n) what a second job buys.

(m) counts the floating-point operations of one U-Net training step of the default sweep (forward and
backward, ``torch.utils.flop_counter``), times the step, and divides the achieved FLOP/s by the peak
measured on the same core: a large single-precision GEMM (2048 x 2048), one thread, as each sweep run has.
Small 3D convolutions with 8-64 channels use a small fraction of it; the number says how much a faster
kernel could at most give. (n) runs the same steps in one process and then in two processes at once (the
sweep's ``--jobs 2``): the throughput ratio is what the second job is worth on this machine.
"""

from __future__ import annotations

import multiprocessing as mp
import statistics
import time

from benchmarks.common import default_scratch_run

GEMM = 2048


def gemm_peak(repeats: int = 5) -> float:
    """FLOP/s of a 2048^2 float32 matrix product on one thread (best of ``repeats``)."""
    import torch

    torch.set_num_threads(1)
    a, b = torch.randn(GEMM, GEMM), torch.randn(GEMM, GEMM)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * GEMM**3 / best


def _step_fn():
    """One default-sweep U-Net training step (network, loss, optimiser, patch and batch from the plan)."""
    import torch

    from transferbench.sweep.estimate import Shape, _network
    from transferbench.training.module import SegmentationModule

    torch.set_num_threads(1)
    run = default_scratch_run()
    shape = Shape.of(run)
    module = SegmentationModule(_network(shape), roi_size=shape.roi, sw_batch_size=shape.sw_batch)
    opt = torch.optim.Adam(module.parameters(), 1e-3)
    gen = torch.Generator().manual_seed(0)
    x = torch.rand((shape.batch, 1, *shape.patch), generator=gen)
    y = (torch.rand((shape.batch, 1, *shape.patch), generator=gen) > 0.9).float()
    module.train()

    def step() -> None:
        out = module.net(x)
        loss = module.criterion(out if isinstance(out, (list, tuple)) else [out], y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step, shape


def step_flops() -> tuple[float, float]:
    """(FLOPs of one training step, median seconds of one step)."""
    from torch.utils.flop_counter import FlopCounterMode

    step, _ = _step_fn()
    step()
    with FlopCounterMode(display=False) as counter:
        step()
    times = []
    for _ in range(15):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return float(counter.get_total_flops()), statistics.median(times)


def _steps_per_s(n: int, out) -> None:
    step, _ = _step_fn()
    step()
    start = time.perf_counter()
    for _ in range(n):
        step()
    out.put(n / (time.perf_counter() - start))


def concurrency(n: int = 30) -> dict:
    """Steps per second of one process alone and of two processes side by side (summed)."""
    ctx = mp.get_context("spawn")

    def side_by_side(k: int) -> float:
        q = ctx.Queue()
        procs = [ctx.Process(target=_steps_per_s, args=(n, q)) for _ in range(k)]
        for p in procs:
            p.start()
        rates = [q.get() for _ in procs]
        for p in procs:
            p.join()
        return sum(rates)

    one = side_by_side(1)
    two = side_by_side(2)
    return {"one_job": one, "two_jobs": two, "ratio": two / one}


def run() -> dict:
    peak = gemm_peak()
    flops, step_s = step_flops()
    return {"peak": peak, "flops": flops, "step_s": step_s, "achieved": flops / step_s,
            "fraction": flops / step_s / peak, **{f"conc_{k}": v for k, v in concurrency().items()}}  # fmt: skip


def main() -> None:
    r = run()
    print(
        f"(m) training step vs peak  default-sweep U-Net step {r['flops'] / 1e9:.2f} GFLOP in {r['step_s'] * 1e3:.0f} "
        f"ms = {r['achieved'] / 1e9:.1f} GFLOP/s | GEMM peak (1 thread) {r['peak'] / 1e9:.1f} GFLOP/s | fraction "
        f"{r['fraction']:.3f}",
        flush=True,
    )
    print(
        f"(n) concurrent jobs        1 job {r['conc_one_job']:.2f} steps/s | 2 jobs side by side "
        f"{r['conc_two_jobs']:.2f} steps/s in all | ratio {r['conc_ratio']:.2f}x (2.0 = a free second core)",
        flush=True,
    )


if __name__ == "__main__":
    main()
