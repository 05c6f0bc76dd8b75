"""(f) nCoVSegNet vs the 3D U-Net on their CPU presets: training throughput and inference time per volume.

Training: slices per second of nCoVSegNet (synthetic config: width 0.25, one bottleneck per stage, 192 x 160
slices, batches of 2, multi-scale off so every step is alike) vs patches per second of UNet3D cpu_small
(64 x 64 x 32 patches, batches of 2), each a full optimiser step on batches drawn by the DataModule.
Inference: one preprocessed synthetic COVID-19 volume, slice by slice for nCoVSegNet, sliding window for
the U-Net, as validation and test run them. Both measured in the same process, one after the other.
"""

from __future__ import annotations

import time

import torch

from benchmarks.common import datamodule
from transferbench.models import NCoVSegNet, UNet3D
from transferbench.training.module import SegmentationModule

WARMUP, STEPS, REPEATS = 3, 15, 3
SLICE = (192, 160)  # the synthetic nCoVSegNet config's slice size


def _train_rate(module: SegmentationModule, batches: list[dict]) -> float:
    opt = torch.optim.Adam(module.net.parameters(), lr=1e-3)
    module.train()
    for i, b in enumerate(batches):
        if i == WARMUP:
            start = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        module.training_step(b, i).backward()
        opt.step()
    items = sum(b["image"].shape[0] for b in batches[WARMUP:])
    return items / (time.perf_counter() - start)


def _infer_seconds(module: SegmentationModule, image: torch.Tensor) -> float:
    module.eval()
    with torch.no_grad():
        module.predict_logits(image)  # warm-up
        start = time.perf_counter()
        for _ in range(REPEATS):
            module.predict_logits(image)
    return (time.perf_counter() - start) / REPEATS


def run() -> dict:
    torch.manual_seed(0)
    n = WARMUP + STEPS
    unet_dm = datamodule(iterations_per_epoch=n, patch_size=(64, 64, 32), batch_size=1, samples_per_volume=2)
    slice_dm = datamodule(iterations_per_epoch=n, patch_size=SLICE, batch_size=2, pos_fraction=None)
    unet = SegmentationModule(UNet3D("cpu_small"), roi_size=(64, 64, 32), sw_batch_size=4, sw_overlap=0.25)
    ncov = SegmentationModule(NCoVSegNet(width=0.25, layers=(1, 1, 1, 1)), roi_size=SLICE, sw_batch_size=4)
    unet.log = ncov.log = lambda *a, **k: None  # no Trainer attached
    patches = _train_rate(unet, list(unet_dm.train_dataloader()))
    slices = _train_rate(ncov, list(slice_dm.train_dataloader()))
    volume = unet_dm._val[0]["image"].unsqueeze(0)
    unet_s, ncov_s = _infer_seconds(unet, volume), _infer_seconds(ncov, volume)
    return {
        "unet_patches_per_s": patches,
        "ncov_slices_per_s": slices,
        "unet_infer_s": unet_s,
        "ncov_infer_s": ncov_s,
        "volume_shape": tuple(volume.shape[2:]),
    }
