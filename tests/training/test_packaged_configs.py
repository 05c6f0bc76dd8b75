"""Every packaged ``fit`` config runs: one training step, validation and test on the synthetic benchmark.

The benchmark-size networks are shrunk to test size (``tiny`` preset, small patches / slices) and the GPU
configs' mixed precision is turned off on the CPU; every other setting is the packaged one.
"""

from __future__ import annotations

import pytest

from transferbench.cli.main import main
from transferbench.configs import packaged_configs
from transferbench.run_folder import RunFolder

SHRINK = {
    "covid_benchmark_unet3d": ["--model.net.init_args.preset", "tiny", "--data.patch_size", "[32, 32, 16]",
                               "--data.target_spacing", "[6, 6, 9]", "--model.sw_batch_size", "2", "--trainer.precision", "32"],
    "covid_benchmark_ncovsegnet": ["--model.net.init_args.width", "0.125", "--model.net.init_args.layers",
                                   "[1, 1, 1, 1]", "--data.patch_size", "[64, 64]", "--data.target_spacing", "[6, 6, 9]",
                                   "--trainer.precision", "32"],
    "synthetic_unet3d": ["--data.patch_size", "[32, 32, 16]", "--data.target_spacing", "[6, 6, 9]"],
    "synthetic_ncovsegnet": ["--model.net.init_args.width", "0.125"],
}  # fmt: skip


def test_every_packaged_config_is_covered():
    assert set(SHRINK) == set(packaged_configs())


@pytest.mark.parametrize("name", sorted(packaged_configs()))
def test_one_step_fit(name, synthetic_root, tmp_path):
    run = RunFolder(tmp_path / "run")
    code = main([
        "fit", "--config", name, "--data.root", str(synthetic_root), "--data.prepare_synthetic", "false",
        "--trainer.default_root_dir", str(run.path),
        "--trainer.fast_dev_run", "1", "--trainer.accelerator", "cpu", "--trainer.devices", "1",
        "--trainer.logger", "false", "--trainer.enable_progress_bar", "false", *SHRINK[name],
    ])  # fmt: skip
    assert code == 0
    assert run.file(RunFolder.TRANSFER).is_file()  # (fast_dev_run saves no config.yaml)
    assert run.per_case() is not None and len(run.per_case()) >= 1
