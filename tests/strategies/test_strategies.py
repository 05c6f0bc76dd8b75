"""Strategies on tiny networks: what loads, what stays fresh, what is frozen, and the errors before training."""

from __future__ import annotations

import pytest
import torch

from transferbench.errors import StrategyError, TransferbenchError, TransferError
from transferbench.models import UNet3D
from transferbench.models.hybrid import HybridUNet3D, SelectiveFusion
from transferbench.strategies import create_strategy, list_strategies, read_state_dict
from transferbench.training.module import SegmentationModule

SRC = "msd_lung_tumor"


def tiny(seed: int, out_channels: int = 2, **kw) -> UNet3D:
    torch.manual_seed(seed)
    return UNet3D(preset="tiny", out_channels=out_channels, **kw)


@pytest.fixture
def source_ckpt(tmp_path):
    """A Lightning-style checkpoint of a tiny source model (``state_dict`` with ``net.`` keys)."""
    net = tiny(123)
    path = tmp_path / "source.ckpt"
    torch.save({"epoch": 3, "state_dict": {f"net.{k}": v for k, v in net.state_dict().items()}}, path)
    return path, net.state_dict()


def distinct(key: str, t: torch.Tensor) -> bool:
    """Conv weights differ between two random initialisations (norm weights start at 1/0 in both)."""
    return t.is_floating_point() and t.ndim >= 2


def build(config: dict, seed: int = 7):
    strategy = create_strategy(config)
    net = strategy.build_net(tiny(seed))
    initial = {k: v.clone() for k, v in net.state_dict().items()}
    reports = strategy.initialise(net)
    return strategy, net, initial, reports


def loaded_and_fresh(net, initial, source, mapping=lambda k: k):
    loaded, fresh = set(), set()
    for key, value in net.state_dict().items():
        if not distinct(key, value):
            continue
        src = source.get(mapping(key))
        if src is not None and src.shape == value.shape and torch.equal(value, src):
            loaded.add(key)
        elif torch.equal(value, initial[key]):
            fresh.add(key)
        else:
            raise AssertionError(f"{key} is neither the source's nor its initial value")
    return loaded, fresh


def test_all_registered():
    assert set(list_strategies()) == {
        "scratch", "finetune", "encoder", "multisource", "hybrid", "source_only", "joint", "imagenet"
    }  # fmt: skip


@pytest.mark.parametrize("name", ["scratch", "source_only", "joint"])
def test_strategies_without_pretraining_load_nothing(name, source_ckpt):
    _, state = source_ckpt
    sources = [] if name == "scratch" else [SRC]
    strategy, net, initial, reports = build({"name": name, "sources": sources})
    assert reports == [] and strategy.needs("unet3d", 0) == []
    loaded, fresh = loaded_and_fresh(net, initial, state)
    assert not loaded and fresh


def test_finetune_loads_every_tensor(source_ckpt):
    path, state = source_ckpt
    _, net, initial, (report,) = build({"name": "finetune", "sources": [SRC], "pretrained": str(path)})
    loaded, fresh = loaded_and_fresh(net, initial, state)
    assert fresh == set() and loaded
    assert len(report.loaded) == len(state) and not (report.missing or report.mismatched or report.unexpected)
    assert all(torch.equal(net.state_dict()[k], v) for k, v in state.items())


def test_encoder_loads_encoder_only(source_ckpt):
    path, state = source_ckpt
    _, net, initial, (report,) = build({"name": "encoder", "sources": [SRC], "pretrained": str(path)})
    loaded, fresh = loaded_and_fresh(net, initial, state)
    assert loaded == {k for k in loaded | fresh if k.startswith("encoder.")}
    assert fresh and all(k.startswith(("decoder.", "head.", "aux_heads.")) for k in fresh)
    assert len(report.loaded) == sum(k.startswith("encoder.") for k in state)
    assert len(report.skipped) == sum(not k.startswith("encoder.") for k in state)
    assert not any(p.requires_grad is False for p in net.parameters())  # trainable by default


def test_multisource_per_source_head_is_fresh(tmp_path):
    torch.manual_seed(5)
    src = tiny(5, out_channels=3)  # background + two source lesions
    path = tmp_path / "multi.pt"
    torch.save(src.state_dict(), path)  # a plain state dict loads too
    cfg = {
        "name": "multisource",
        "sources": [SRC, "structseg_gtv"],
        "labels": "per_source",
        "pretrained": str(path),
    }
    strategy, net, initial, (report,) = build(cfg)
    (need,) = strategy.needs("unet3d", 1)
    assert need.sources == (SRC, "structseg_gtv") and need.labels == "per_source" and need.seed == 1
    assert need.data_args() == {"dataset": [SRC, "structseg_gtv"], "label_merge": "per_source"}
    loaded, fresh = loaded_and_fresh(net, initial, src.state_dict())
    assert fresh == {k for k in fresh if k.startswith("head.")} and fresh
    assert {k for k, *_ in report.mismatched} == {"head.conv.conv.weight", "head.conv.conv.bias"}


def test_hybrid_loads_adapted_encoder_and_freezes_it(source_ckpt):
    path, state = source_ckpt
    _, net, initial, (report,) = build({"name": "hybrid", "sources": [SRC], "pretrained": str(path)})
    assert isinstance(net, HybridUNet3D)
    loaded, fresh = loaded_and_fresh(
        net, initial, state, mapping=lambda k: k.replace("adapted.", "encoder.", 1)
    )
    assert loaded == {k for k in loaded | fresh if k.startswith("adapted.")}
    assert any(k.startswith("dedicated.") for k in fresh) and any(k.startswith("fusion.") for k in fresh)
    assert all(not p.requires_grad for p in net.adapted.parameters())
    assert all(p.requires_grad for n, p in net.named_parameters() if not n.startswith("adapted."))
    assert report.target_prefix == "adapted." and report.source_prefix == "encoder."


def _steps(module: SegmentationModule, n: int = 4) -> None:
    opt = module.configure_optimizers()
    module.train()
    x = torch.randn(2, 1, 16, 16, 16)
    y = (x > 0.5).long()
    for _ in range(n):
        opt.zero_grad()
        out = module.net(x)
        module.criterion(out if isinstance(out, list) else [out], y).backward()
        opt.step()


@pytest.mark.parametrize("name", ["encoder", "hybrid"])
def test_frozen_tensors_bit_identical_after_training(name, source_ckpt):
    path, _ = source_ckpt
    cfg = {"name": name, "sources": [SRC], "pretrained": str(path)}
    if name == "encoder":
        cfg["freeze_encoder"] = True
    module = SegmentationModule(tiny(7), optimizer="adam", lr=1e-2, lr_schedule="constant", strategy=cfg)
    module.transfer_reports = module.strategy.initialise(module.net)
    frozen_prefix = "encoder." if name == "encoder" else "adapted."
    before = {k: v.clone() for k, v in module.net.state_dict().items()}
    opt_params = {id(p) for g in module.configure_optimizers().param_groups for p in g["params"]}
    for key, p in module.net.named_parameters():
        assert (id(p) in opt_params) == (not key.startswith(frozen_prefix))
    _steps(module)
    frozen_root = module.net.get_submodule(frozen_prefix.rstrip("."))
    assert not frozen_root.training and all(not m.training for m in frozen_root.modules())
    assert module.net.decoder.training
    after = module.net.state_dict()
    for key, value in before.items():
        if key.startswith(frozen_prefix):
            assert torch.equal(after[key], value), key
        elif value.is_floating_point() and value.ndim >= 2 and key.startswith(("decoder.", "dedicated.")):
            assert not torch.equal(after[key], value), f"{key} did not train"


def test_hybrid_gradients_reach_dedicated_and_fusion_not_adapted(source_ckpt):
    path, _ = source_ckpt
    strategy = create_strategy({"name": "hybrid", "sources": [SRC], "pretrained": str(path)})
    net = strategy.build_net(tiny(7))
    strategy.initialise(net)
    net.train()
    out = net(torch.randn(1, 1, 16, 16, 16))
    sum(o.float().mean() for o in out).backward()
    for name, p in net.named_parameters():
        if name.startswith("adapted."):
            assert p.grad is None, name
        elif name.startswith(("dedicated.", "fusion.")):
            assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_hybrid_shapes_at_every_scale():
    net = HybridUNet3D.from_unet(tiny(0, deep_supervision=True))
    x = torch.randn(2, 1, 32, 32, 16)
    plain = net.dedicated(x)
    fused = net.fused_features(x)
    assert [f.shape for f in fused] == [f.shape for f in plain]
    assert [f.shape[1] for f in fused] == [4, 8, 16]
    for fusion, f in zip(net.fusion, plain):
        w = fusion.weights(f, torch.randn_like(f))
        assert w.shape == (2, 2, f.shape[1]) and torch.allclose(w.sum(1), torch.ones(2, f.shape[1]))
    net.eval()
    assert net(x).shape == (2, 2, 32, 32, 16)
    assert net.divisor == (4, 4, 4)


def test_selective_fusion_is_a_convex_mix():
    fusion = SelectiveFusion(8)
    a, b = torch.zeros(1, 8, 4, 4, 4), torch.ones(1, 8, 4, 4, 4)
    out = fusion(a, b)
    w = fusion.weights(a, b)
    assert torch.allclose(out, w[:, 1].view(1, 8, 1, 1, 1).expand_as(out))


def test_encoder_lr_scale_makes_a_param_group(source_ckpt):
    path, _ = source_ckpt
    cfg = {"name": "encoder", "sources": [SRC], "pretrained": str(path), "encoder_lr_scale": "0.1"}
    module = SegmentationModule(tiny(7), optimizer="sgd", lr=0.01, lr_schedule="constant", strategy=cfg)
    lrs = sorted(g["lr"] for g in module.configure_optimizers().param_groups)
    assert lrs == pytest.approx([0.001, 0.01])


# ------------------------------------------------------------------ bad input
def test_differently_shaped_checkpoint_is_a_clear_error(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "small.pt"
    torch.save(UNet3D(preset="cpu_small").state_dict(), path)
    strategy = create_strategy({"name": "finetune", "sources": [SRC], "pretrained": str(path)})
    net = tiny(0)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with pytest.raises(
        TransferError, match=r"small\.pt: cannot transfer the whole network.*shape \[8, 1, 3, 3, 3\]"
    ):
        strategy.initialise(net)
    assert all(torch.equal(net.state_dict()[k], v) for k, v in before.items()), "partial load happened"


def test_checkpoint_of_another_architecture(tmp_path):
    path = tmp_path / "other.pt"
    torch.save(torch.nn.Sequential(torch.nn.Linear(3, 4)).state_dict(), path)
    strategy = create_strategy({"name": "encoder", "sources": [SRC], "pretrained": str(path)})
    with pytest.raises(TransferError, match="other.pt: cannot transfer the encoder.*missing in checkpoint"):
        strategy.initialise(tiny(0))


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "not found"),
        (b"not a checkpoint", "not a readable PyTorch checkpoint"),
        (b"PK\x03\x04trunc", "not a readable"),
    ],
)
def test_missing_or_corrupt_checkpoint(tmp_path, content, message):
    path = tmp_path / "weights.ckpt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(TransferError, match=message):
        read_state_dict(path)


def test_truncated_real_checkpoint(tmp_path, source_ckpt):
    path, _ = source_ckpt
    cut = tmp_path / "cut.ckpt"
    cut.write_bytes(path.read_bytes()[:300])
    with pytest.raises(TransferError, match="cut.ckpt: not a readable"):
        read_state_dict(cut)


@pytest.mark.parametrize(
    "config, message",
    [
        ({"name": "nope"}, "unknown strategy 'nope'; registered: encoder, finetune, hybrid"),
        ({"name": "finetune", "sources": []}, "takes exactly 1 source"),
        ({"name": "finetune", "sources": [SRC, "structseg_gtv"]}, "takes exactly 1 source"),
        ({"name": "multisource", "sources": [SRC]}, "takes at least 2 source"),
        ({"name": "scratch", "sources": [SRC]}, "takes exactly 0 source"),
        ({"name": "encoder", "sources": ["imagenet21k"]}, "unknown source"),
        ({"name": "encoder", "sources": [SRC], "pretrained": ["a", "b"]}, "needs 1 pretrained checkpoint"),
        ({"name": "encoder", "sources": [SRC], "frozen": True}, "has no argument"),
        ({"name": "joint", "sources": [SRC], "source_fraction": 1.5}, "source_fraction"),
    ],
)
def test_bad_strategy_configs(config, message):
    with pytest.raises(TransferbenchError, match=message):  # an unknown name is a RegistryError
        create_strategy(config)


def test_strategy_without_its_checkpoint_fails_before_training():
    strategy = create_strategy({"name": "hybrid", "sources": [SRC]})
    with pytest.raises(StrategyError, match=r"needs 1 pretrained checkpoint.*msd_lung_tumor"):
        strategy.initialise(strategy.build_net(tiny(0)))
