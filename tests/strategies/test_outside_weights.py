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
    """README example: a MONAI DynUNet trained elsewhere gives its encoder (input block, down-sampling
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
    assert len(report.loaded) == 18 and len(report.skipped) == 48  # the README's key report
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
