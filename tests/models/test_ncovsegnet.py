"""nCoVSegNet: module shapes, the specification's parameter arithmetic, ImageNet-format loading, the loss."""

from __future__ import annotations

import pytest
import torch

from transferbench.errors import TransferError
from transferbench.models.ncovsegnet import DAF, GCA, NCoVSegNet
from transferbench.strategies.imagenet import load_imagenet_backbone
from transferbench.training.losses import boundary_weight, deep_supervision_loss, structure_loss

STAGES = ((64, 3), (128, 4), (256, 6), (512, 3))  # torchvision ResNet-50: (planes, blocks)


def conv(cin, cout, kh, kw=None, bias=False):
    return cin * cout * kh * (kw or kh) + (cout if bias else 0)


def spec_parameter_count() -> int:
    """The specification's network counted by hand (ReferenceNote: ncovsegnet.md), not from the module."""
    bn = lambda c: 2 * c  # noqa: E731
    total = conv(3, 64, 7) + bn(64)
    inplanes = 64
    for planes, blocks in STAGES:
        for b in range(blocks):
            total += conv(inplanes, planes, 1) + bn(planes) + conv(planes, planes, 3) + bn(planes)
            total += conv(planes, 4 * planes, 1) + bn(4 * planes) + 3  # + ECA's Conv1d(1, 1, 3)
            if b == 0:
                total += conv(inplanes, 4 * planes, 1) + bn(4 * planes)
            inplanes = 4 * planes

    def gca(cin, cout, branches):
        n = conv(cin, cout, 1) + bn(cout)
        for k in (3, 5, 7)[: branches - 1]:
            n += conv(cin, cout, 1) + conv(cout, cout, 1, k) + conv(cout, cout, k, 1) + conv(cout, cout, 3)
            n += 4 * bn(cout)
        return n + conv(branches * cout, cout, 3) + bn(cout) + conv(cin, cout, 1) + bn(cout)

    def daf(ch, cl):
        return (
            conv(ch, cl, 1, bias=True) + bn(cl) + conv(cl, cl, 3, bias=True) + bn(cl)
            + conv(ch, ch, 4, bias=True) + conv(ch, cl, 4, bias=True) + bn(cl)
        )  # fmt: skip

    total += gca(256, 128, 4) + gca(512, 256, 4) + gca(1024, 512, 4) + gca(2048, 1024, 3)
    total += daf(1024, 512) + daf(512, 256) + daf(256, 128)
    return total + sum(conv(c, 1, 1, bias=True) for c in (128, 256, 512, 1024))


def torchvision_resnet50_state() -> dict[str, torch.Tensor]:
    """torchvision resnet50().state_dict(): its exact key set and shapes, random values."""
    g = torch.Generator().manual_seed(0)
    state: dict[str, torch.Tensor] = {}

    def bn(name, c):
        state.update(
            {f"{name}.weight": torch.rand(c, generator=g) + 0.5, f"{name}.bias": torch.randn(c, generator=g)}
        )
        state.update(
            {
                f"{name}.running_mean": torch.randn(c, generator=g),
                f"{name}.running_var": torch.rand(c, generator=g) + 0.5,
            }
        )
        state[f"{name}.num_batches_tracked"] = torch.tensor(1000)

    state["conv1.weight"] = torch.randn(64, 3, 7, 7, generator=g)
    bn("bn1", 64)
    inplanes = 64
    for s, (planes, blocks) in enumerate(STAGES, 1):
        for b in range(blocks):
            p = f"layer{s}.{b}"
            state[f"{p}.conv1.weight"] = torch.randn(planes, inplanes, 1, 1, generator=g)
            bn(f"{p}.bn1", planes)
            state[f"{p}.conv2.weight"] = torch.randn(planes, planes, 3, 3, generator=g)
            bn(f"{p}.bn2", planes)
            state[f"{p}.conv3.weight"] = torch.randn(4 * planes, planes, 1, 1, generator=g)
            bn(f"{p}.bn3", 4 * planes)
            if b == 0:
                state[f"{p}.downsample.0.weight"] = torch.randn(4 * planes, inplanes, 1, 1, generator=g)
                bn(f"{p}.downsample.1", 4 * planes)
            inplanes = 4 * planes
    state["fc.weight"], state["fc.bias"] = (
        torch.randn(1000, 2048, generator=g),
        torch.randn(1000, generator=g),
    )
    return state


@pytest.fixture(scope="module")
def full() -> NCoVSegNet:
    torch.manual_seed(0)
    return NCoVSegNet().eval()


def test_full_width_parameter_count_matches_the_specification(full):
    n = sum(p.numel() for p in full.parameters())
    assert abs(n - spec_parameter_count()) / spec_parameter_count() < 0.01
    assert 160e6 < n < 180e6  # "about 170 M"


def test_module_shapes_at_352(full):
    seen = {}
    hooks = [
        getattr(full, name).register_forward_hook(
            lambda m, i, o, name=name: seen.__setitem__(name, tuple(o.shape))
        )
        for name in ("gca1", "gca2", "gca3", "gca4", "daf3", "daf2", "daf1")
    ]
    feats = {}
    with torch.no_grad():
        for i, f in enumerate(full.backbone(torch.zeros(1, 3, 352, 352)), 1):
            feats[f"x{i}"] = tuple(f.shape)
        out = full(torch.zeros(1, 3, 352, 352))
    for h in hooks:
        h.remove()
    assert feats == {
        "x1": (1, 256, 88, 88),
        "x2": (1, 512, 44, 44),
        "x3": (1, 1024, 22, 22),
        "x4": (1, 2048, 11, 11),
    }
    assert seen == {
        "gca1": (1, 128, 88, 88), "gca2": (1, 256, 44, 44), "gca3": (1, 512, 22, 22), "gca4": (1, 1024, 11, 11),
        "daf3": (1, 512, 22, 22), "daf2": (1, 256, 44, 44), "daf1": (1, 128, 88, 88),
    }  # fmt: skip
    assert out.shape == (1, 1, 352, 352)  # eval: the prediction only


def test_small_model_deep_supervision_and_modules():
    net = NCoVSegNet(width=0.25, layers=(1, 1, 1, 1)).train()
    outs = net(torch.randn(2, 3, 64, 96))
    assert len(outs) == 4 and all(o.shape == (2, 1, 64, 96) for o in outs)
    assert GCA(32, 16, branches=3)(torch.randn(1, 32, 9, 9)).shape == (1, 16, 9, 9)
    assert DAF(32, 16)(torch.randn(2, 32, 4, 4), torch.randn(2, 16, 8, 8)).shape == (2, 16, 8, 8)
    assert (
        sum(p.numel() for p in net.parameters()) < spec_parameter_count() / 16
    )  # width 1/4: 1/16 of the weights


def test_bad_inputs_are_named():
    net = NCoVSegNet(width=0.25, layers=(1, 1, 1, 1)).eval()
    with pytest.raises(ValueError, match="repeat it to 3 channels"):
        net(torch.zeros(1, 1, 64, 64))
    with pytest.raises(ValueError, match=r"divisible by \(32, 32\)"):
        net(torch.zeros(1, 3, 64, 80))
    with pytest.raises(ValueError, match="4 stages"):
        NCoVSegNet(layers=(1, 1, 1))


def test_imagenet_state_dict_loads_with_only_eca_missing(full, tmp_path):
    state = torchvision_resnet50_state()
    path = tmp_path / "resnet50-0676ba61.pth"
    torch.save(state, path)
    before = {k: v.clone() for k, v in full.state_dict().items() if not k.startswith("backbone.")}
    report = load_imagenet_backbone(full, path)
    assert sorted(report.missing) == sorted(
        k for k in full.state_dict() if k.startswith("backbone.") and ".eca." in k
    )
    assert len(report.missing) == 16  # one ECA conv per bottleneck
    assert sorted(report.unexpected) == ["fc.bias", "fc.weight"] and not report.mismatched
    assert len(report.loaded) == len(state) - 2
    sd = full.state_dict()
    assert torch.equal(sd["backbone.layer3.5.conv2.weight"], state["layer3.5.conv2.weight"])
    assert torch.equal(sd["backbone.bn1.running_var"], state["bn1.running_var"])
    assert all(torch.equal(sd[k], v) for k, v in before.items())  # decoder and heads stay fresh
    assert "loaded 318 tensors" in report.summary() and "missing 16" in report.summary()


def test_imagenet_bad_files(tmp_path):
    net = NCoVSegNet(width=0.25, layers=(1, 1, 1, 1))
    with pytest.raises(TransferError, match=r"ImageNet weight file not found.*resnet50-0676ba61\.pth"):
        load_imagenet_backbone(net, tmp_path / "missing.pth")
    (tmp_path / "corrupt.pth").write_bytes(b"\x00garbage")
    with pytest.raises(TransferError, match="not a readable PyTorch checkpoint"):
        load_imagenet_backbone(net, tmp_path / "corrupt.pth")
    torch.save(torchvision_resnet50_state(), tmp_path / "r50.pth")  # full-width file, quarter-width network
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with pytest.raises(TransferError, match="another architecture"):
        load_imagenet_backbone(net, tmp_path / "r50.pth")
    assert all(torch.equal(net.state_dict()[k], v) for k, v in before.items())  # nothing copied


def test_loss_on_hand_made_inputs():
    mask = torch.zeros(1, 1, 96, 96)
    assert torch.equal(boundary_weight(mask), torch.ones_like(mask))  # no border: weight 1
    mask[..., 16:80, 16:80] = 1
    w = boundary_weight(mask)
    assert w[0, 0, 48, 48] == pytest.approx(1.0)  # the 31 x 31 window lies inside the lesion
    assert w[0, 0, 16, 16] == pytest.approx(
        1 + 5 * (1 - 256 / 961)
    )  # corner: 16 x 16 of the window is lesion
    assert w.max() <= 6.0
    perfect = (mask * 2 - 1) * 50.0
    assert structure_loss(perfect, mask).item() < 1e-3
    zero = torch.zeros_like(
        mask
    )  # p = 1/2: BCE = log 2; Dice = 1 - (sum(w g) + 1) / (sum(w) / 2 + sum(w g) + 1)
    wg, ws = (w * mask).sum(), w.sum()
    expected = torch.log(torch.tensor(2.0)) + 1 - (wg + 1) / (0.5 * ws + wg + 1)
    assert structure_loss(zero, mask).item() == pytest.approx(expected.item(), rel=1e-5)
    assert deep_supervision_loss([zero] * 4, mask).item() == pytest.approx(4 * expected.item(), rel=1e-5)
    assert structure_loss(-perfect, mask) > structure_loss(zero, mask)


def test_slices_are_stacked_back_in_order_on_the_original_grid():
    """A 2D 'network' that outputs each slice's mean: the stacked volume must put slice z at z."""
    from transferbench.training.module import SegmentationModule

    class SliceMean(torch.nn.Module):
        spatial_dims, in_channels, divisor = 2, 1, (1, 1)

        def forward(self, x):
            return x.mean((1, 2, 3), keepdim=True).expand(-1, 1, *x.shape[-2:]) - 0.5

    module = SegmentationModule(SliceMean(), roi_size=(8, 8), sw_batch_size=1).eval()
    volume = torch.arange(7, dtype=torch.float32).view(1, 1, 1, 1, 7).expand(1, 1, 5, 6, 7) / 10
    logits = module.predict_logits(volume)
    assert logits.shape == (1, 2, 5, 6, 7)
    assert torch.allclose(logits[0, 1, 2, 3], torch.arange(7) / 10 - 0.5)  # slice order kept
    assert torch.equal(logits[:, 0], torch.zeros_like(logits[:, 0]))


def test_short_training_on_synthetic_slices_improves_validation_dice(synthetic_root, tmp_path):
    """`fit --config synthetic_ncovsegnet` on CPU: validation Dice (slices stacked into 3D) rises, and the
    16 test cases are scored in 3D on their original grid, like the 3D U-Net's."""
    import csv

    import nibabel as nib
    import numpy as np

    from transferbench.cli.main import main

    run = tmp_path / "run"
    code = main([
        "fit", "--config", "synthetic_ncovsegnet",
        "--data.root", str(synthetic_root), "--data.cache_dir", str(tmp_path / "cache"),
        "--model.net.init_args.width", "0.125", "--data.iterations_per_epoch", "9",
        "--trainer.max_epochs", "6", "--trainer.check_val_every_n_epoch", "1",
        "--trainer.default_root_dir", str(run), "--trainer.enable_progress_bar", "false",
        "--save_predictions", "true",
    ])  # fmt: skip
    assert code == 0
    rows = list(csv.DictReader((run / "logs/version_0/metrics.csv").read_text().splitlines()))
    val = [float(r["val/dice"]) for r in rows if r.get("val/dice")]
    assert len(val) == 6 and max(val[-2:]) > val[0] + 0.1, val
    per_case = list(csv.DictReader((run / "per_case_test.csv").read_text().splitlines()))
    assert len(per_case) == 16 and {"dsc", "nsd_3mm", "hd95_mm"} <= set(per_case[0])
    pred = nib.load(run / "predictions" / f"{per_case[0]['case']}.nii.gz")
    ref = nib.load(synthetic_root / "COVID-19-CT-Seg/Infection_Mask" / f"{per_case[0]['case']}.nii.gz")
    assert pred.shape == ref.shape and np.allclose(pred.affine, ref.affine, atol=1e-4)


def test_slice_size_and_dimensions_checked_when_the_model_is_built(tmp_path):
    from transferbench.training.module import SegmentationModule

    net = NCoVSegNet(width=0.125, layers=(1, 1, 1, 1))
    with pytest.raises(
        ValueError, match=r"\(48, 48\) must be divisible by the network's total stride \(32, 32\)"
    ):
        SegmentationModule(net, roi_size=(48, 48))
    with pytest.raises(ValueError, match=r"NCoVSegNet is 2D but data.patch_size is \(64, 64, 32\)"):
        SegmentationModule(net, roi_size=(64, 64, 32))
    torch.save(torchvision_resnet50_state(), tmp_path / "r50.pth")
    gray = NCoVSegNet(in_channels=1)  # a grayscale stem cannot take an RGB ImageNet file
    with pytest.raises(
        TransferError, match=r"1 of .* tensors do not match.*conv1.weight has shape \[64, 3, 7, 7\]"
    ):
        load_imagenet_backbone(gray, tmp_path / "r50.pth")


def test_backbone_transfer_and_imagenet_strategy(tmp_path):
    """`encoder` moves only the backbone of a source nCoVSegNet; `imagenet` without a file fails clearly, or
    records the stage as skipped when the sweep asks it to."""
    from transferbench.strategies import create_strategy

    torch.manual_seed(0)
    source = NCoVSegNet(width=0.125, layers=(1, 1, 1, 1))
    torch.save(source.state_dict(), tmp_path / "lidc.pt")
    target = NCoVSegNet(width=0.125, layers=(1, 1, 1, 1))
    fresh = {k: v.clone() for k, v in target.state_dict().items()}
    strategy = create_strategy(
        {
            "name": "encoder",
            "sources": ["lidc_idri"],
            "freeze_encoder": True,
            "pretrained": str(tmp_path / "lidc.pt"),
        }
    )
    [report] = strategy.initialise(target)
    sd, src = target.state_dict(), source.state_dict()
    assert all(torch.equal(sd[k], src[k]) for k in sd if k.startswith("backbone."))
    assert all(torch.equal(sd[k], fresh[k]) for k in sd if not k.startswith("backbone."))
    assert not any(p.requires_grad for p in target.backbone.parameters()) and not report.missing
    with pytest.raises(TransferError, match="needs `weights`"):
        create_strategy({"name": "imagenet"}).initialise(target)
    [skipped] = create_strategy({"name": "imagenet", "skip_if_missing": True}).initialise(target)
    assert "skipped" in skipped.part and not skipped.loaded


def test_adjust_lr_compounds_as_the_authors_code():
    """Their ``adjust_lr`` multiplies the current rate by 0.1 ** (epoch // 50) every epoch (epochs from 1):
    constant through epoch 49, then 10x lower every epoch (hand-computed values)."""
    from transferbench.training.schedules import adjust_lr_factor

    assert [adjust_lr_factor(e) for e in (0, 10, 48)] == [1.0, 1.0, 1.0]
    assert adjust_lr_factor(49) == pytest.approx(0.1)  # their epoch 50
    assert adjust_lr_factor(50) == pytest.approx(0.01)
    assert adjust_lr_factor(98) == pytest.approx(1e-50)  # their last epoch (99): 0.1 ** (1 + ... + 1)
    assert adjust_lr_factor(99) == pytest.approx(1e-52)  # epoch 100 multiplies by 0.1 ** 2
