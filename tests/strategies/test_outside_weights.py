"""Weights saved by other tools: wrapper prefixes stripped and reported, ``key_map`` for other names."""

from __future__ import annotations

import pytest
import torch

from transferbench.errors import TransferError
from transferbench.models import UNet3D
from transferbench.strategies import create_strategy
from transferbench.strategies.transfer import normalise_keys


def _same(a: dict, b: dict, prefix: str = "") -> bool:
    return all(torch.equal(a[k], b[k]) for k in a if k.startswith(prefix))


@pytest.mark.parametrize(
    ("wrap", "note"),
    [
        (lambda k: f"module.{k}", "module. stripped"),  # DistributedDataParallel / DataParallel
        (lambda k: f"_orig_mod.{k}", "_orig_mod. stripped"),  # torch.compile
        (lambda k: f"module._orig_mod.{k}", "_orig_mod. stripped"),  # both
    ],
)
def test_wrapped_checkpoint_loads_with_a_report(tmp_path, wrap, note):
    source = UNet3D("tiny")
    state = source.state_dict()
    torch.save({wrap(k): v for k, v in state.items()}, tmp_path / "wrapped.pth")
    net = UNet3D("tiny")
    strategy = create_strategy(
        {"name": "finetune", "sources": ["msd_lung_tumor"], "pretrained": str(tmp_path / "wrapped.pth")}
    )
    (report,) = strategy.initialise(net)
    assert len(report.loaded) == len(state) and not report.missing
    assert any(r.startswith(note) and f"({len(state)} keys)" in r for r in report.renamed)
    assert "keys renamed:" in report.summary()
    assert _same(net.state_dict(), state)


def test_a_monai_dynunet_encoder_through_key_map(tmp_path):
    """docs/strategies.md example: a MONAI DynUNet trained elsewhere gives its encoder (input block, down-sampling
    blocks, bottleneck) to our UNet3D through `key_map`; its decoder keys stay out (not transferred)."""
    from monai.networks.nets import DynUNet

    monai_net = DynUNet(
        spatial_dims=3, in_channels=1, out_channels=2, kernel_size=[3, 3, 3], strides=[1, 2, 2], upsample_kernel_size=[2, 2],
        filters=[4, 8, 16], norm_name=("INSTANCE", {"affine": True}),
        act_name=("leakyrelu", {"inplace": True, "negative_slope": 0.01}),
    )  # fmt: skip
    torch.save(
        {"state_dict": {f"module.{k}": v for k, v in monai_net.state_dict().items()}}, tmp_path / "dyn.pt"
    )
    key_map = {
        "input_block.": "encoder.stages.0.",
        "downsamples.0.": "encoder.stages.1.",
        "bottleneck.": "encoder.stages.2.",
    }
    strategy = create_strategy(
        {"name": "encoder", "sources": ["msd_lung_tumor"], "pretrained": str(tmp_path / "dyn.pt"), "key_map": key_map}
    )  # fmt: skip
    net = UNet3D("tiny")
    (report,) = strategy.initialise(net)
    enc = [k for k in net.state_dict() if k.startswith("encoder.")]
    assert sorted(report.loaded) == sorted(enc) and report.mismatched == []
    assert len(report.loaded) == 18 and len(report.skipped) == 48  # the key report in docs/strategies.md
    mine, theirs = net.state_dict(), monai_net.state_dict()
    assert torch.equal(mine["encoder.stages.1.conv1.conv.weight"], theirs["downsamples.0.conv1.conv.weight"])
    assert any(r.startswith("bottleneck. -> encoder.stages.2.") for r in report.renamed)
    # without the map nothing of the encoder matches: one clear error, nothing copied
    bare = create_strategy(
        {"name": "encoder", "sources": ["msd_lung_tumor"], "pretrained": str(tmp_path / "dyn.pt")}
    )
    with pytest.raises(TransferError, match="cannot transfer the encoder"):
        bare.initialise(UNet3D("tiny"))


def test_key_map_order_and_collisions():
    t = torch.zeros(1)
    out, notes = normalise_keys(
        {"swinViT.a": t, "model.b": t, "c": t}, {"swinViT.": "encoder.", "model.": ""}
    )
    assert set(out) == {"encoder.a", "b", "c"}
    assert notes == ["swinViT. -> encoder. (1 keys)", "model. -> (nothing) (1 keys)"]
    with pytest.raises(TransferError, match="two checkpoint keys become 'a'"):
        normalise_keys({"module.a": t, "a": t})


def test_an_nnssl_style_checkpoint_loads_where_the_architecture_matches(tmp_path):
    """nnU-Net v2 / nnssl checkpoints keep the weights under ``network_weights`` beside plain metadata; a
    self-supervised encoder of our own U-Net saved that way (the adaptation plan's ``key_to_encoder``
    ``encoder.stages``) loads into `encoder` as it is."""
    source = UNet3D("tiny", out_channels=1)  # one restored channel, as a masked-image-modelling run has
    state = source.state_dict()
    plan = {
        "key_to_encoder": "encoder.stages",
        "key_to_stem": "encoder.stages.0",
        "trainer_name": "BaseMAETrainer",
    }
    torch.save({"network_weights": state, "nnssl_adaptation_plan": plan}, tmp_path / "checkpoint_final.pth")
    net = UNet3D("tiny")
    strategy = create_strategy(
        {
            "name": "encoder",
            "sources": ["msd_lung_tumor"],
            "pretrained": str(tmp_path / "checkpoint_final.pth"),
        }
    )
    (report,) = strategy.initialise(net)
    assert report.loaded and not report.missing
    assert _same(net.state_dict(), state, "encoder.")


def test_models_genesis_unet_is_another_network_and_is_refused_with_the_keys(tmp_path):
    """Models Genesis' own 3D U-Net (BatchNorm, max pooling, two convolutions per level) renamed with
    `key_map` still does not fit our blocks: `encoder` stops before training and lists what differs."""
    genesis = {}
    for level, (cin, cout) in enumerate([(1, 32), (32, 64), (64, 128)]):
        name = f"down_tr{64 * 2**level}.ops"
        for j, (a, b) in enumerate([(cin, cout), (cout, 2 * cout)]):
            genesis[f"{name}.{j}.conv1.weight"] = torch.zeros(b, a, 3, 3, 3)
            genesis[f"{name}.{j}.conv1.bias"] = torch.zeros(b)
            for k in ("weight", "bias", "running_mean", "running_var"):
                genesis[f"{name}.{j}.bn1.{k}"] = torch.zeros(b)
    torch.save(
        {"state_dict": {f"module.{k}": v for k, v in genesis.items()}}, tmp_path / "Genesis_Chest_CT.pt"
    )
    key_map = {f"down_tr{64 * 2**i}.ops.": f"encoder.stages.{i}." for i in range(3)}
    strategy = create_strategy(
        {"name": "encoder", "sources": ["msd_lung_tumor"], "pretrained": str(tmp_path / "Genesis_Chest_CT.pt"),
         "key_map": key_map}
    )  # fmt: skip
    with pytest.raises(TransferError, match="encoder.stages.0.conv1.conv.weight"):
        strategy.initialise(UNet3D("tiny"))
