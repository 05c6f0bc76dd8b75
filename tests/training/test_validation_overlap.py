"""Validation during training tiles the volume at ``val_sw_overlap``; testing keeps ``sw_overlap``."""

from __future__ import annotations

import torch

import transferbench.training.module as module_mod
from transferbench.models import UNet3D
from transferbench.training.module import SegmentationModule


def test_validation_uses_its_own_overlap_and_testing_the_sliding_windows(monkeypatch):
    seen = []
    real = module_mod.sliding_window_inference

    def spy(image, roi, sw_batch, net, overlap, mode):
        seen.append(overlap)
        return real(image, roi, sw_batch, net, overlap=overlap, mode=mode)

    monkeypatch.setattr(module_mod, "sliding_window_inference", spy)
    module = SegmentationModule(
        UNet3D(preset="tiny", out_channels=2), roi_size=(16, 16, 16), sw_overlap=0.5, val_sw_overlap=0.0
    ).eval()
    image = torch.rand(1, 1, 24, 24, 16)
    with torch.no_grad():
        module.validation_step({"image": image, "label": torch.zeros(1, 1, 24, 24, 16)}, 0)
        module.predict_probs(image)
    assert seen == [0.0, 0.5]
    assert SegmentationModule(UNet3D(preset="tiny", out_channels=2)).hparams.val_sw_overlap is None
