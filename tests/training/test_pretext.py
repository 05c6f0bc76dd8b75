"""Self-supervised pretraining: the pretext module on hand-made tensors, the leakage check, and an SSL
pretraining's checkpoint transferring into `finetune` and `encoder` with complete key reports."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from torch import nn

from transferbench.cli.main import main
from transferbench.data.leakage import check_no_test_cases, leaked
from transferbench.data.sources import Case, create_source
from transferbench.data.splits import covid_fold
from transferbench.errors import DataError, StrategyError
from transferbench.strategies import create_strategy
from transferbench.training.pretext import Pretext, centre_patch


class Oracle(nn.Module):
    """Returns a fixed output whatever the input: the perfect restoration when given the target."""

    def __init__(self, out: torch.Tensor) -> None:
        super().__init__()
        self.out = out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out


def test_a_perfect_restoration_has_zero_loss_and_score_one():
    image = torch.rand(2, 1, 16, 16, 8)
    mae = Pretext("mae")
    x, target, mask = mae.triples(image, seed=3)
    assert torch.equal(target, image) and float(mask.mean()) == 0.75  # 75% of the blocks hidden
    assert torch.all(x[mask.bool()] == 0)  # what is masked is zeroed in the input
    assert float(mae.loss(Oracle(image), image, seed=3)) == 0.0
    assert float(mae.loss(Oracle(torch.zeros_like(image)), image, seed=3)) > 0.0
    assert mae.score(Oracle(centre_patch(image[:1], (16, 16, 8))), image[:1], (16, 16, 8), seed=0) == 1.0
    genesis = Pretext("genesis")
    _, target, mask = genesis.triples(image, seed=1)
    assert float(mask.min()) == 1.0  # the whole patch is restored
    logit = torch.logit(target.clamp(1e-6, 1 - 1e-6))  # Genesis restores through a sigmoid
    assert float(genesis.loss(Oracle(logit), image, seed=1)) < 1e-8
    # the corruption is a function of the seed (a resumed run draws what an uninterrupted one drew)
    assert torch.equal(genesis.triples(image, 7)[0], genesis.triples(image, 7)[0])
    assert not torch.equal(genesis.triples(image, 7)[0], genesis.triples(image, 8)[0])
    with pytest.raises(ValueError, match="model.pretext"):
        Pretext("simclr")


def test_centre_patch_pads_a_small_volume():
    volume = torch.ones(1, 1, 10, 40, 6)
    patch = centre_patch(volume, (16, 16, 8))
    assert patch.shape == (1, 1, 16, 16, 8) and float(patch.sum()) == 10 * 16 * 6


def test_the_pool_never_holds_a_test_case(synthetic_root, tmp_path):
    target = {c.case_id: c for c in create_source("covid19_ct_seg").find_cases(synthetic_root)}
    test = [target[c] for c in covid_fold(0)["test"]]
    pool = create_source("synthetic_unlabelled").find_cases(synthetic_root)
    assert pool and all(c.label is None for c in pool)
    check_no_test_cases(pool, test, "pool")  # the generated pool is clean
    copy = tmp_path / "copy.nii.gz"
    shutil.copy(test[3].image, copy)  # a renamed copy of a test scan
    same_id = Case(test[0].case_id, pool[0].image, None, "synthetic_unlabelled")
    dirty = [*pool, Case("study_9999", copy, None, "synthetic_unlabelled"), same_id]
    found = leaked(dirty, test)
    assert [(c.case_id, t.case_id, how) for c, t, how in found] == [
        ("study_9999", test[3].case_id, "the same file content"),
        (test[0].case_id, test[0].case_id, "the same case id"),
    ]
    with pytest.raises(DataError, match=r"2 image\(s\) of the pretraining data are test cases") as err:
        check_no_test_cases(dirty, test, "sources.pool")
    assert str(copy) in str(err.value)


def test_an_unlabelled_source_needs_a_pretext():
    with pytest.raises(StrategyError, match="have no labels"):
        create_strategy({"name": "finetune", "sources": ["synthetic_unlabelled"]})
    with pytest.raises(StrategyError, match="pretext 'mae'"):
        create_strategy({"name": "scratch", "pretext": "mae"})
    need = create_strategy(
        {"name": "finetune", "sources": ["synthetic_unlabelled"], "pretext": "mae"}
    ).needs()
    assert need[0].data_args()["images_only"] and "self-supervised: mae" in need[0].describe()


def _fit(root, run, *extra):
    return main([
        "fit", "--config", "synthetic_unet3d", "--data.root", str(root), "--model.net.init_args.preset", "tiny",
        "--data.target_spacing", "[6, 6, 9]", "--data.patch_size", "[32, 32, 16]",
        "--data.iterations_per_epoch", "3", "--trainer.max_epochs", "2", "--trainer.default_root_dir", str(run),
        "--trainer.enable_progress_bar", "false", *extra,
    ])  # fmt: skip


def test_a_self_supervised_checkpoint_transfers_into_finetune_and_encoder(synthetic_root, tmp_path):
    ssl = ["--data.dataset", "synthetic_unlabelled", "--data.images_only", "true",
           "--model.net.init_args.out_channels", "1", "--test_after_fit", "false"]  # fmt: skip
    assert _fit(synthetic_root, tmp_path / "genesis", *ssl, "--model.pretext", "genesis") == 0
    pre = tmp_path / "pre"
    assert _fit(synthetic_root, pre, *ssl, "--model.pretext", "mae") == 0
    for run in (tmp_path / "genesis", pre):
        metrics = next(run.glob("logs/version_*/metrics.csv")).read_text()
        assert "val/restoration" in metrics and "val/dice" not in metrics
        assert list((run / "checkpoints").glob("best-*.ckpt"))  # tracked on the restoration score
    ckpt = pre / "checkpoints" / "last.ckpt"
    common = ["--strategy.sources", "synthetic_unlabelled", "--strategy.pretext", "mae",
              "--strategy.pretrained", str(ckpt), "--test_after_fit", "false", "--trainer.max_epochs", "1"]  # fmt: skip
    for name in ("finetune", "encoder"):
        assert _fit(synthetic_root, tmp_path / name, "--strategy.name", name, *common) == 0
        (report,) = json.loads((tmp_path / name / "transfer.json").read_text())["reports"]
        assert report["loaded"] and not report["missing"] and not report.get("unexpected")
        if name == "finetune":  # one restored channel -> two classes: the output heads alone start fresh
            mismatched = [key for key, _, _ in report["mismatched"]]
            assert mismatched and all("head" in k for k in mismatched), mismatched
