"""(g) Where one default-sweep run spends its time, (h) one candidate speed lever measured beside it, and (o)
what tiling the validation saves.

(g) runs the default sweep's first U-Net scratch target run (the step-matched one; its exact configuration
from the plan, written to a temporary folder) under Lightning's SimpleProfiler and splits the wall time into
training steps, training-data loading, validation, test inference + metrics, checkpoint writing and the rest (set-up,
callbacks, logging). Process start is (e). (h) times a training step of the same network with the default
memory format and with ``channels_last_3d``, side by side, and the step's heaviest convolution alone (forward
+ weight gradient): the layer gains more than the step, whose layout copies and norms give it back.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import tempfile
import time

from benchmarks.common import default_scratch_run, ensure_data

PHASES = {
    "training steps": ("run_training_batch",),
    "training data": ("[_TrainingEpochLoop].train_dataloader_next",),
    "validation": ("[Strategy]SingleDeviceStrategy.validation_step", "[_EvaluationLoop].val_next"),
    "test inference + metrics": ("[Strategy]SingleDeviceStrategy.test_step", "[_EvaluationLoop].test_next"),
    "checkpoints": ("save_checkpoint",),
}


def phase_profile() -> dict:
    import torch

    from transferbench.config import deep_merge
    from transferbench.training.cli import run_lightning

    ensure_data()
    torch.set_num_threads(1)  # as in a 2-job sweep on 2 cores
    run = default_scratch_run()
    with tempfile.TemporaryDirectory() as tmp:
        profiler = {
            "class_path": "pytorch_lightning.profilers.SimpleProfiler",
            "init_args": {"dirpath": tmp, "filename": "profile"},
        }  # report to a file, not stdout
        settings = deep_merge(run.config.settings, {"trainer": {"profiler": profiler, "logger": False}})
        config = dataclasses.replace(run.config, settings=settings).with_output(tmp)
        start = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):  # Lightning's test table
            cli = run_lightning(config)
        wall = time.perf_counter() - start
    durations = cli.trainer.profiler.recorded_durations
    out = {name: sum(sum(durations.get(a, [])) for a in actions) for name, actions in PHASES.items()}
    out["other"] = wall - sum(out.values())
    return {"wall_s": wall, "steps": run.steps, "phases": out}


def channels_last(n: int = 8) -> dict:
    import torch

    from transferbench.models.unet3d import UNet3D

    torch.set_num_threads(1)
    x = torch.randn(4, 1, 32, 32, 16)

    def seconds_each(call) -> float:
        """Mean seconds of ``n`` calls after two warm-up calls."""
        for _ in range(2):
            call()
        start = time.perf_counter()
        for _ in range(n):
            call()
        return (time.perf_counter() - start) / n

    def step_s(fmt) -> float:
        torch.manual_seed(0)
        net = UNet3D(preset="cpu_small", in_channels=1, out_channels=2).to(memory_format=fmt)
        opt = torch.optim.SGD(net.parameters(), lr=0.01)
        inp = x.contiguous(memory_format=fmt)

        def step() -> None:
            out = net(inp)
            loss = (out[0] if isinstance(out, list | tuple) else out).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()

        return seconds_each(step)

    def layer_s(fmt) -> float:
        """Forward + weight gradient of the step's heaviest convolution (decoder, 16 -> 8 channels at full
        resolution): where oneDNN's GEMM-based weight-gradient kernel spends most of a step."""
        torch.manual_seed(0)
        conv = torch.nn.Conv3d(16, 8, 3, padding=1).to(memory_format=fmt)
        inp = torch.randn(2, 16, 32, 32, 16).contiguous(memory_format=fmt)
        grad = torch.randn(2, 8, 32, 32, 16).contiguous(memory_format=fmt)
        return seconds_each(lambda: torch.autograd.grad(conv(inp), list(conv.parameters()), grad))

    default, last = step_s(torch.contiguous_format), step_s(torch.channels_last_3d)
    layer_default, layer_last = layer_s(torch.contiguous_format), layer_s(torch.channels_last_3d)
    return {"default_s": default, "channels_last_s": last, "ratio": default / last,
            "layer_default_s": layer_default, "layer_channels_last_s": layer_last,
            "layer_ratio": layer_default / layer_last}  # fmt: skip


def validation_overlap(repeats: int = 3) -> dict:
    """(o) One validation pass of the default sweep (its held-out cases at the run's spacing, the run's
    network and windows) with the test-time overlap vs the validation overlap the sweep sets, side by side."""
    import torch

    from transferbench.data.sources import create_source
    from transferbench.sweep.estimate import Shape, _network, resampled_size
    from transferbench.training.module import SegmentationModule

    root = ensure_data()
    torch.set_num_threads(1)
    run = default_scratch_run()
    shape, data = Shape.of(run), run.config.resolved["data"]
    spacing = data["target_spacing"]
    cases = create_source(data["val_source"]).find_cases(root)
    sizes = [resampled_size(case.image, spacing, shape.roi) for case in cases]
    module = SegmentationModule(_network(shape), roi_size=shape.roi, sw_batch_size=shape.sw_batch).eval()
    volumes = [torch.rand(1, 1, *size) for size in sizes]

    def pass_s(overlap: float) -> float:
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            with torch.no_grad():
                for v in volumes:
                    module.predict_logits(v, overlap)
            best = min(best, time.perf_counter() - start)
        return best

    test, val = pass_s(shape.overlap), pass_s(shape.val_overlap)
    return {"cases": len(volumes), "overlap": shape.overlap, "val_overlap": shape.val_overlap,
            "test_overlap_s": test, "val_overlap_s": val, "ratio": test / val}  # fmt: skip
