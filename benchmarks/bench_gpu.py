"""(j) GPU throughput of the benchmark U-Net, as nnU-Net's benchmark trainers measure it.

nnU-Net's ``nnUNetTrainerBenchmark_5epochs`` and ``..._noDataLoading`` time epochs with and without the
data loader; here the UNet3D ``benchmark`` preset (the 3d_fullres network) trains with bf16 autocast, SGD
and normalised deep supervision, batch 2 of 192 x 160 x 56 patches: (1) on one batch held on the GPU (no
data loading) and (2) on batches from the ``nnunet`` pipeline's loader over the synthetic target, resampled
to 1 x 1 x 2.5 mm so that the patches are filled. The share of time the GPU is busy is the CUDA-event time
of the steps over the wall time. Returns None without CUDA (the line then says it was skipped).
"""

from __future__ import annotations

import os
import time

import torch

WARMUP, STEPS = 5, 30
PATCH, BATCH = (192, 160, 56), 2


def _measure(module, batches, device) -> tuple[float, float]:
    """(patches per second, GPU-busy share) over ``STEPS`` steps after ``WARMUP``."""
    opt = torch.optim.SGD(module.net.parameters(), lr=0.01, momentum=0.99, nesterov=True)
    gpu_ms, start = 0.0, None
    for i, batch in enumerate(batches):
        if i == WARMUP:
            torch.cuda.synchronize()
            start, gpu_ms = time.perf_counter(), 0.0
        t0, t1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        image = batch["image"].to(device, non_blocking=True)
        label = batch["label"].to(device, non_blocking=True)
        t0.record()
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = module.training_step({"image": image, "label": label}, i)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(module.net.parameters(), 12.0)
        opt.step()
        t1.record()
        t1.synchronize()
        gpu_ms += t0.elapsed_time(t1)
        if i + 1 == WARMUP + STEPS:
            break
    wall = time.perf_counter() - start
    return STEPS * BATCH / wall, gpu_ms / 1000.0 / wall


def run() -> dict | None:
    if not torch.cuda.is_available():
        return None
    from benchmarks.common import ensure_data
    from transferbench.data.datamodule import CTSegDataModule
    from transferbench.models import UNet3D
    from transferbench.training.module import SegmentationModule

    device = torch.device("cuda")
    torch.backends.cudnn.benchmark = True
    module = SegmentationModule(UNet3D("benchmark"), roi_size=PATCH).to(device)
    module.log = lambda *a, **k: None  # no Trainer attached
    module.train()
    fixed = {"image": torch.randn(BATCH, 1, *PATCH), "label": (torch.rand(BATCH, 1, *PATCH) > 0.9).float()}
    no_loading = _measure(module, [fixed] * (WARMUP + STEPS), device)
    workers = min(8, os.cpu_count() or 1)
    dm = CTSegDataModule(
        root=str(ensure_data()), pipeline="nnunet", target_spacing=(1.0, 1.0, 2.5), patch_size=PATCH,
        batch_size=BATCH, samples_per_volume=1, pos_fraction=0.33, iterations_per_epoch=WARMUP + STEPS,
        num_workers=workers,
    )  # fmt: skip
    dm.setup("fit")
    loading = _measure(module, dm.train_dataloader(), device)
    return {
        "device": torch.cuda.get_device_name(0),
        "patch": "x".join(map(str, PATCH)),
        "batch": BATCH,
        "workers": workers,
        "no_loading_patches_per_s": no_loading[0],
        "no_loading_busy": no_loading[1],
        "loading_patches_per_s": loading[0],
        "loading_busy": loading[1],
    }
