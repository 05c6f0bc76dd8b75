"""Learning-rate schedules: ``wsd`` holds the rate, then decays over its last fraction, and tells the plateau
rule which epochs precede the decay."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from transferbench.models import UNet3D
from transferbench.training.module import SegmentationModule
from transferbench.training.schedules import wsd_factor


def rates(
    schedule: str, steps: int = 100, per_epoch: int = 10, **kw
) -> tuple[list[float], SegmentationModule]:
    net = UNet3D(preset="tiny", out_channels=2)
    module = SegmentationModule(net, optimizer="adam", lr=1e-2, lr_schedule=schedule, **kw)
    module._trainer = SimpleNamespace(estimated_stepping_batches=steps, num_training_batches=per_epoch)
    config = module.configure_optimizers()
    opt, sched = config["optimizer"], config["lr_scheduler"]["scheduler"]
    out = []
    for _ in range(steps):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out, module


def test_wsd_holds_the_rate_then_decays_to_zero_over_its_last_fraction():
    lr, module = rates("wsd", decay_fraction=0.2)
    assert lr[:80] == [pytest.approx(1e-2)] * 80  # constant for the first 80 of 100 steps
    assert all(a > b for a, b in zip(lr[80:], lr[81:]))  # then strictly decreasing
    assert lr[80] == pytest.approx(1e-2) and lr[-1] < 1e-3
    assert wsd_factor(100, 100, 0.2) == 0.0
    assert module.plateau_epochs == 8  # epochs 0-7 end by step 80: the rule reads those validations


def test_poly_decays_from_the_first_step_and_leaves_the_whole_curve_to_the_rule():
    lr, module = rates("poly")
    assert lr[0] == pytest.approx(1e-2) and lr[1] < lr[0] and lr[50] == pytest.approx(1e-2 * 0.5**0.9)
    assert module.plateau_epochs is None


def test_warmup_ramps_the_rate_linearly_then_hands_over_to_the_schedule():
    lr, _ = rates("wsd", warmup_steps=10)
    assert lr[:10] == pytest.approx([1e-2 * (k + 1) / 10 for k in range(10)])
    assert lr[10:80] == [pytest.approx(1e-2)] * 70 and lr[-1] < 1e-3
    cosine, _ = rates("cosine")
    assert cosine[50] == pytest.approx(5e-3) and cosine[0] == pytest.approx(1e-2)
