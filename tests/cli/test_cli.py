"""The command line: every packaged config parses, registries list, and fit + test learns end to end."""

import csv
import json

import nibabel as nib
import numpy as np
import pytest

from transferbench.cli.main import main
from transferbench.configs import packaged_configs


def test_listing_commands(capsys):
    assert main(["models"]) == 0
    assert "unet3d" in capsys.readouterr().out
    assert main(["data", "sources"]) == 0
    assert "covid19_ct_seg" in capsys.readouterr().out
    assert main(["configs"]) == 0
    assert "synthetic_unet3d" in capsys.readouterr().out


@pytest.mark.parametrize("name", sorted(packaged_configs()))
def test_every_packaged_config_parses(name, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--config", name, "--print_config"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    net = "NCoVSegNet" if "ncovsegnet" in name else "UNet3D"
    assert f"transferbench.models.{net}" in out and "patch_size" in out


def test_unknown_config_key_is_rejected(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--config", "synthetic_unet3d", "--model.not_a_key", "1"])
    assert exit_info.value.code != 0
    assert "not_a_key" in capsys.readouterr().err


def test_data_prepare_and_preview(tmp_path, capsys):
    out = tmp_path / "syn"
    assert (
        main(["data", "prepare", "synthetic", "--out", str(out), "--seed", "0", "--n-source-cases", "2"]) == 0
    )
    assert (out / "synthetic_manifest.json").is_file()
    assert main(["data", "preview", "--root", str(out), "--out", str(tmp_path / "p.png")]) == 0
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"


def test_missing_data_root_is_one_clear_error(tmp_path, capsys):
    code = main(
        [
            "fit",
            "--config",
            "synthetic_unet3d",
            "--data.root",
            str(tmp_path / "none"),
            "--data.prepare_synthetic",
            "false",
            "--trainer.logger",
            "false",
        ]
    )
    assert code == 1
    assert "data root does not exist" in capsys.readouterr().err


def test_fit_then_test_learns(synthetic_root, tmp_path):
    """Tiny CPU run on fold 0: validation Dice rises clearly, and 16 test cases are scored in 3D."""
    run = tmp_path / "run"
    code = main([
        "fit", "--config", "synthetic_unet3d",
        "--data.root", str(synthetic_root), "--data.cache_dir", str(tmp_path / "cache"),
        "--data.target_spacing", "[6, 6, 9]", "--data.patch_size", "[32, 32, 16]",
        "--data.samples_per_volume", "4", "--data.iterations_per_epoch", "12",
        "--trainer.max_epochs", "10", "--trainer.check_val_every_n_epoch", "1",
        "--trainer.default_root_dir", str(run), "--trainer.enable_progress_bar", "false",
    ])  # fmt: skip
    assert code == 0
    rows = list(csv.DictReader((run / "logs/version_0/metrics.csv").read_text().splitlines()))
    val = [float(r["val/dice"]) for r in rows if r.get("val/dice")]
    assert len(val) == 10
    assert max(val[-3:]) > val[0] + 0.2 and max(val[-3:]) > 0.35, val
    per_case = list(csv.DictReader((run / "per_case_test.csv").read_text().splitlines()))
    assert len(per_case) == 16 and set(per_case[0]) >= {
        "case",
        "dsc",
        "nsd_3mm",
        "hd95_mm",
        "gt_ml",
        "pred_ml",
    }
    assert "coronacases_007" not in {r["case"] for r in per_case}  # a training case of fold 0
    mean_dsc = sum(float(r["dsc"]) for r in per_case) / 16
    assert mean_dsc > 0.25, mean_dsc
    summary = json.loads((run / "test_metrics.json").read_text())
    assert summary["test/cases"] == 16
    ckpt = run / "checkpoints" / "last.ckpt"
    assert ckpt.is_file() and (run / "transfer.json").is_file()
    # predict from the saved config and checkpoint: NIfTI masks on each test image's own grid
    assert main(["predict", "--config", str(run / "config.yaml"), "--ckpt_path", str(ckpt)]) == 0
    preds = sorted((run / "predictions").glob("*.nii.gz"))
    assert len(preds) == 16
    img = nib.load(synthetic_root / "COVID-19-CT-Seg/COVID-19-CT-Seg_20cases" / preds[0].name)
    pred = nib.load(preds[0])
    assert pred.shape == img.shape and np.allclose(pred.affine, img.affine, atol=1e-4)
    assert set(np.unique(np.asarray(pred.dataobj))) <= {0, 1}


def test_strategies_listed(capsys):
    assert main(["strategies"]) == 0
    out = capsys.readouterr().out
    names = [line.split()[0] for line in out.strip().splitlines()]
    assert names == sorted(
        ["scratch", "finetune", "encoder", "multisource", "hybrid", "source_only", "joint", "imagenet"]
    )


def test_unknown_strategy_is_one_clear_error(capsys):
    assert main(["fit", "--config", "synthetic_unet3d", "--strategy.name", "transfer_all"]) == 1
    assert "unknown strategy 'transfer_all'; registered: encoder, finetune" in capsys.readouterr().err


def _tiny_fit(root, run, *extra):
    return main([
        "fit", "--config", "synthetic_unet3d", "--data.root", str(root),
        "--model.net.init_args.preset", "tiny",
        "--data.target_spacing", "[6, 6, 9]", "--data.patch_size", "[32, 32, 16]",
        "--data.iterations_per_epoch", "3", "--trainer.max_epochs", "1",
        "--trainer.default_root_dir", str(run), "--trainer.logger", "false",
        "--trainer.enable_progress_bar", "false", *extra,
    ])  # fmt: skip


def test_pretrain_then_encoder_and_hybrid_from_the_cli(synthetic_root, tmp_path):
    """A source fit is an ordinary fit; its last.ckpt initialises encoder-only and hybrid runs."""
    pre = tmp_path / "pre"
    assert (
        _tiny_fit(synthetic_root, pre, "--data.dataset", "msd_lung_tumor", "--test_after_fit", "false") == 0
    )
    ckpt = pre / "checkpoints" / "last.ckpt"
    assert ckpt.is_file()
    common = ["--strategy.sources", "msd_lung_tumor", "--strategy.pretrained", str(ckpt)]
    enc = tmp_path / "enc"
    args = ["--strategy.name", "encoder", "--strategy.freeze_encoder", "true", "--test_after_fit", "false"]
    assert _tiny_fit(synthetic_root, enc, *args, *common) == 0
    meta = json.loads((enc / "transfer.json").read_text())
    (report,) = meta["reports"]
    assert report["part"] == "encoder" and len(report["loaded"]) > 0 and not report["missing"]
    assert meta["params"]["trainable"] < meta["params"]["total"]
    hyb = tmp_path / "hyb"
    assert _tiny_fit(synthetic_root, hyb, "--strategy.name", "hybrid", *common) == 0
    meta = json.loads((hyb / "transfer.json").read_text())
    assert meta["strategy"]["name"] == "hybrid" and meta["reports"][0]["target_prefix"] == "adapted."
    rows = list(csv.DictReader((hyb / "per_case_test.csv").read_text().splitlines()))
    assert len(rows) == 16
    saved = (hyb / "config.yaml").read_text()
    assert "name: hybrid" in saved and "train_on: target" in saved


def test_a_config_may_name_its_network_by_registry_name(tmp_path, capsys):
    config = tmp_path / "named.yaml"
    config.write_text("model:\n  net:\n    class_path: unet3d\n    init_args: {preset: tiny}\n")
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--config", str(config), "--print_config"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "class_path: transferbench.models.UNet3D" in out and "preset: tiny" in out
    config.write_text("model:\n  net: unet2d\n")
    assert main(["fit", "--config", str(config)]) == 1
    assert "unknown model 'unet2d'; registered: hybrid_unet3d, ncovsegnet, unet3d" in capsys.readouterr().err


def test_the_configs_own_callbacks_are_kept(synthetic_root, tmp_path):
    from pytorch_lightning.callbacks import EarlyStopping

    from transferbench.training.callbacks import TestResultsWriter, TransferReport
    from transferbench.training.cli import run_lightning

    cli = run_lightning([
        "fit", "--config", str(packaged_configs()["synthetic_unet3d"]), "--data.root", str(synthetic_root),
        "--data.target_spacing", "[6, 6, 9]", "--data.patch_size", "[32, 32, 16]",
        "--model.net.init_args.preset", "tiny", "--trainer.fast_dev_run", "1", "--trainer.logger", "false",
        "--trainer.default_root_dir", str(tmp_path / "run"), "--trainer.callbacks+", "EarlyStopping", "--trainer.callbacks.monitor", "val/dice",
    ])  # fmt: skip
    kinds = {type(c) for c in cli.trainer.callbacks}
    assert {EarlyStopping, TransferReport, TestResultsWriter} <= kinds


def test_fit_never_generates_the_synthetic_benchmark_into_a_users_dataset(tmp_path, capsys):
    """A real MSD Task06_Lung folder with the synthetic config pointed at it: a clear error, nothing written."""
    from conftest import write_nifti

    root = tmp_path / "real"
    task = root / "Task06_Lung"
    ct = np.full((24, 24, 12), -1000, dtype=np.int16)
    ct[6:18, 6:18, 3:9] = 40
    write_nifti(task / "imagesTr" / "lung_001.nii.gz", ct)
    write_nifti(task / "labelsTr" / "lung_001.nii.gz", (ct > 0).astype(np.uint8))
    (task / "dataset.json").write_text(json.dumps({"name": "Lung", "training": []}))
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    code = main(["fit", "--config", "synthetic_unet3d", "--data.root", str(root), "--data.dataset", "msd_lung_tumor",
                 "--trainer.max_epochs", "1", "--trainer.default_root_dir", str(tmp_path / "run")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1 and "not empty and not a synthetic benchmark" in err and str(root) in err
    assert {p: p.read_bytes() for p in root.rglob("*") if p.is_file()} == before  # every file byte-identical


def test_a_broken_test_case_stops_fit_before_the_first_step(synthetic_root, tmp_path, capsys):
    """Label value 3 in a *test* case (read only after training before): an error naming it, no checkpoint."""
    import shutil

    root = tmp_path / "data"
    shutil.copytree(synthetic_root, root)
    label = root / "COVID-19-CT-Seg" / "Infection_Mask" / "coronacases_001.nii.gz"  # a fold-0 test case
    img = nib.load(label)
    data = np.asarray(img.dataobj).copy()
    data[0, 0, 0] = 3
    nib.save(nib.Nifti1Image(data, img.affine), label)
    run = tmp_path / "run"
    code = main(["fit", "--config", "synthetic_unet3d", "--data.root", str(root), "--data.prepare_synthetic", "false",
                 "--trainer.max_epochs", "1", "--trainer.default_root_dir", str(run)])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1 and "coronacases_001.nii.gz" in err and "unexpected label values [3]" in err
    assert not (run / "checkpoints").exists()  # nothing trained


def test_fit_into_a_folder_with_a_previous_run_is_refused_replaced_or_resumed(
    synthetic_root, tmp_path, capsys
):
    """A second fit never mixes with the first: refused, replaced with --overwrite, resumed with --ckpt_path."""
    run = tmp_path / "run"
    args = [
        "fit", "--config", "synthetic_unet3d", "--model.net.init_args.preset", "tiny",
        "--data.root", str(synthetic_root), "--data.cache_dir", str(tmp_path / "cache"),
        "--data.target_spacing", "[8, 8, 12]", "--data.patch_size", "[16, 16, 8]",
        "--data.iterations_per_epoch", "2", "--trainer.max_epochs", "1", "--test_after_fit", "false",
        "--trainer.default_root_dir", str(run), "--trainer.enable_progress_bar", "false",
        "--trainer.logger", "false",
    ]  # fmt: skip
    assert main(args) == 0
    first = (run / "checkpoints/last.ckpt").stat().st_mtime_ns
    capsys.readouterr()
    assert main(args) == 1
    err = capsys.readouterr().err
    assert f"{run}: holds a previous run" in err and "--overwrite true" in err and "--ckpt_path" in err
    assert (run / "checkpoints/last.ckpt").stat().st_mtime_ns == first  # untouched
    assert main([*args, "--overwrite", "true"]) == 0
    names = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert "last.ckpt" in names and not any("-v1" in n for n in names), names
    assert (run / "checkpoints/last.ckpt").stat().st_mtime_ns != first
    resume = [*args, "--trainer.max_epochs", "2"]
    assert main([*resume, "--ckpt_path", str(run / "checkpoints/last.ckpt")]) == 0
    assert not any("-v1" in p.name for p in (run / "checkpoints").iterdir())


def test_two_process_ddp_writes_every_test_case_once(synthetic_root, tmp_path):
    """``trainer.devices 2`` (DDP, gloo on CPU): each rank tests its share; the table holds all 16 cases once."""
    import os
    import subprocess
    import sys

    run = tmp_path / "run"
    cmd = [
        sys.executable, "-m", "transferbench.cli.main", "fit", "--config", "synthetic_unet3d",
        "--model.net.init_args.preset", "tiny", "--data.root", str(synthetic_root),
        "--data.cache_dir", str(tmp_path / "cache"), "--data.target_spacing", "[8, 8, 12]",
        "--data.patch_size", "[16, 16, 8]", "--data.iterations_per_epoch", "2", "--trainer.max_epochs", "1",
        "--trainer.check_val_every_n_epoch", "1",
        "--trainer.devices", "2", "--trainer.strategy", "ddp", "--trainer.accelerator", "cpu",
        "--trainer.default_root_dir", str(run), "--trainer.enable_progress_bar", "false",
    ]  # fmt: skip
    done = subprocess.run(cmd, env={**os.environ, "WANDB_MODE": "disabled"}, capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "GLOBAL_RANK: 1" in done.stderr + done.stdout  # two processes really ran
    rows = list(csv.DictReader((run / "per_case_test.csv").read_text().splitlines()))
    assert len(rows) == 16 and len({r["case"] for r in rows}) == 16
    metrics = list(csv.DictReader(next(run.glob("logs/version_*/metrics.csv")).read_text().splitlines()))
    assert any(r.get("val/dice") for r in metrics)


def test_version_and_python_dash_m(capsys):
    import subprocess
    import sys

    from transferbench import __version__

    assert main(["--version"]) == 0 and capsys.readouterr().out.strip() == f"transferbench {__version__}"
    done = subprocess.run(
        [sys.executable, "-m", "transferbench", "--version"], capture_output=True, text=True
    )
    assert done.returncode == 0 and done.stdout.strip() == f"transferbench {__version__}"


def test_fit_help_is_short_and_the_full_list_readable(capsys):
    assert main(["fit", "--help"]) == 0
    short = capsys.readouterr().out
    assert len(short.splitlines()) < 40 and "--help-full" in short and "--strategy.key_map" in short
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--help-full"])
    assert exit_info.value.code == 0
    full = capsys.readouterr().out
    assert "--data.pipeline" in full and "--model.lr_schedule" in full
    assert "torch.nn.Module," not in full  # the network's type is SegmentationNet: no list of every module
    assert len(full.splitlines()) < 1000 and "--optimizer" not in full


def test_lightning_optimizer_flags_are_refused_with_a_hint(capsys):
    code = main(["fit", "--config", "synthetic_unet3d", "--optimizer", "Adam", "--trainer.logger", "false"])
    assert code == 2
    err = capsys.readouterr().err
    assert "--optimizer: not taken" in err and "--model.optimizer" in err
    assert main(["fit", "--config", "synthetic_unet3d", "--lr_scheduler.class_path=StepLR"]) == 2


def test_known_upstream_warnings_are_filtered_in_one_place():
    import logging
    import warnings

    from transferbench.quiet import quiet_upstream

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quiet_upstream()  # its filters go in front of "always"
        warnings.warn("NvImgCodecPydicomReader: decoder plugin did not register", UserWarning, stacklevel=1)
        warnings.warn("always_return_as_numpy has been deprecated", FutureWarning, stacklevel=1)
        warnings.warn("something else", UserWarning, stacklevel=1)
    assert [str(w.message) for w in caught] == ["something else"]
    record = logging.LogRecord(
        "pytorch_lightning.utilities.rank_zero", logging.INFO, "", 0, "try litlogger", (), None
    )
    assert not logging.getLogger("pytorch_lightning.utilities.rank_zero").filter(record)
