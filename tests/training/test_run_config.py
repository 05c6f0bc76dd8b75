"""RunConfig: one run's configuration merged once, in a fixed order; its identity ignores where it writes."""

from __future__ import annotations

import yaml

from transferbench.training.run_config import RunConfig


def _base(tmp_path, net="transferbench.models.UNet3D"):
    path = tmp_path / "base.yaml"
    path.write_text(yaml.safe_dump({
        "seed_everything": 7, "trainer": {"max_epochs": 4},
        "model": {"net": {"class_path": net, "init_args": {"preset": "tiny"}}, "lr": 0.1},
        "data": {"root": "x", "fold": 0, "patch_size": [8, 8, 8]},
    }))  # fmt: skip
    return str(path)


def test_merge_order_base_overrides_budget_settings_strategy(tmp_path):
    rc = RunConfig(
        _base(tmp_path), overrides={"model": {"lr": 0.2}, "trainer": {"max_epochs": 5}},
        budget={"trainer": {"max_epochs": 6}}, strategy={"name": "finetune", "sources": ["msd_lung_tumor"]},
        seed=3, settings={"data": {"fold": 2}},
    )  # fmt: skip
    cfg = rc.resolved
    assert cfg["model"]["lr"] == 0.2 and cfg["trainer"]["max_epochs"] == 6  # the budget wins over overrides
    assert cfg["seed_everything"] == 3 and cfg["data"] == {"root": "x", "fold": 2, "patch_size": [8, 8, 8]}
    assert cfg["strategy"]["name"] == "finetune" and rc.strategy_object is rc.strategy_object  # built once


def test_identity_ignores_outputs_and_names(tmp_path):
    rc = RunConfig(_base(tmp_path), strategy={"name": "scratch"}, seed=1)
    moved = rc.with_output("results/elsewhere/runs/x", {"group": "g", "name": "x", "tags": ["a"]})
    assert moved.identity() == rc.identity()
    assert moved.lightning_config()["trainer"]["default_root_dir"] == "results/elsewhere/runs/x"
    assert moved.lightning_config()["wandb"]["group"] == "g"
    elsewhere = RunConfig(_base(tmp_path), settings={"data": {"root": "/other"}}, seed=1)
    assert elsewhere.identity() == rc.identity()  # the data root is where, not what
    by_name = RunConfig(_base(tmp_path, net="unet3d"), seed=1)
    assert by_name.identity() == rc.identity()  # a registry name resolves to the same network
    assert RunConfig(_base(tmp_path), seed=2).identity() != rc.identity()
