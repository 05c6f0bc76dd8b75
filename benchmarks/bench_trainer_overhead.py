"""(a) Training throughput: SegmentationModule under the Lightning Trainer vs a plain PyTorch loop.

Same network (UNet3D cpu_small), loss (deep-supervised Dice + CE), optimiser (Adam) and the very same
pre-sampled batches; only steady-state steps are timed (after warm-up). Target ratio >= 0.95.
"""

from __future__ import annotations

import time

import pytorch_lightning as pl
import torch

from benchmarks.common import datamodule
from transferbench.models import UNet3D
from transferbench.training.module import SegmentationModule

WARMUP, STEPS = 5, 30


class _Timer(pl.Callback):
    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if batch_idx == WARMUP:
            self.start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if batch_idx == WARMUP + STEPS - 1:
            self.elapsed = time.perf_counter() - self.start


def _batches() -> list[dict]:
    dm = datamodule(iterations_per_epoch=WARMUP + STEPS)
    torch.manual_seed(0)
    return [{"image": b["image"], "label": b["label"]} for b in dm.train_dataloader()]


def _module() -> SegmentationModule:
    torch.manual_seed(0)
    return SegmentationModule(UNet3D("cpu_small"), optimizer="adam", lr=3e-3, lr_schedule="constant")


def plain_loop(batches: list[dict]) -> float:
    module = _module()
    net, criterion = module.net.train(), module.criterion
    opt = torch.optim.Adam(net.parameters(), lr=3e-3, weight_decay=3e-5)
    for i, b in enumerate(batches):
        if i == WARMUP:
            start = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = criterion(net(b["image"]), b["label"])
        loss.backward()
        opt.step()
    return STEPS / (time.perf_counter() - start)


def trainer_loop(batches: list[dict]) -> float:
    timer = _Timer()
    trainer = pl.Trainer(
        accelerator="cpu",
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        callbacks=[timer],
    )
    loader = torch.utils.data.DataLoader(batches, batch_size=None, shuffle=False)
    trainer.fit(_module(), train_dataloaders=loader)
    return STEPS / timer.elapsed


def run() -> dict:
    batches = _batches()
    plain_a = plain_loop(batches)
    lightning = trainer_loop(batches)
    plain_b = plain_loop(batches)  # before and after, so drift in machine load does not favour one side
    plain = (plain_a + plain_b) / 2
    patches = batches[0]["image"].shape[0]
    return {
        "plain_steps_per_s": plain,
        "trainer_steps_per_s": lightning,
        "ratio": lightning / plain,
        "patches_per_step": patches,
        "consumed_patches_per_s": lightning * patches,
    }


if __name__ == "__main__":
    print(run())
