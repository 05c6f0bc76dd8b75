"""3D U-Net: shapes per preset, the encoder/decoder split strategies rely on, bad configurations."""

import pytest
import torch

from transferbench.models import UNet3D, create_model, list_models

SHAPES = [
    # preset, input (B, C, X, Y, Z), number of deep-supervision outputs in training mode
    ("tiny", (2, 1, 16, 16, 8), 1),
    ("cpu_small", (1, 1, 64, 64, 32), 2),
    ("cpu_small", (1, 1, 32, 48, 16), 2),
]


@pytest.mark.parametrize(("preset", "shape", "n_outputs"), SHAPES)
def test_output_shapes(preset, shape, n_outputs):
    net = UNet3D(preset, out_channels=3)
    net.train()
    outs = net(torch.randn(shape))
    assert len(outs) == n_outputs
    assert outs[0].shape == (shape[0], 3, *shape[2:])
    for i, o in enumerate(outs[1:], 1):  # each deeper output halves the in-plane size
        assert o.shape[2] == shape[2] // 2**i
    net.eval()
    with torch.no_grad():
        assert net(torch.randn(shape)).shape == (shape[0], 3, *shape[2:])


def test_encoder_decoder_split_by_name():
    net = UNet3D("cpu_small")
    keys = net.state_dict().keys()
    prefixes = {k.split(".")[0] for k in keys}
    assert prefixes == {"encoder", "decoder", "head", "aux_heads"}
    enc_keys = {k for k in keys if k.startswith(net.key_to_encoder)}
    assert enc_keys == {net.key_to_encoder[0] + k for k in net.encoder.state_dict()}
    assert len(net.encoder.stages) == 4 and len(net.decoder.stages) == 3
    # the decoder reads its widths from the encoder
    assert [s.conv_block.conv1.conv.out_channels for s in net.decoder.stages] == [32, 16, 8]
    skips = net.encoder(torch.randn(1, 1, 32, 32, 16))
    assert [s.shape[1] for s in skips] == [8, 16, 32, 64]


def test_benchmark_preset_matches_public_network():
    net = UNet3D("benchmark")
    assert net.encoder.features == [32, 64, 128, 256, 320, 320]
    assert net.encoder.kernel_sizes[0] == (3, 3, 1)  # nnU-Net's 1x3x3 in (z, y, x)
    assert net.encoder.strides == [(1, 1, 1), (2, 2, 1), (2, 2, 2), (2, 2, 2), (2, 2, 2), (2, 2, 1)]
    assert net.divisor == (32, 32, 8)  # patch (192, 160, 56) is divisible
    n = sum(p.numel() for p in net.parameters())
    assert 29e6 < n < 32e6  # nnU-Net 3d_fullres with these widths: about 31 M


def test_registry_and_errors():
    assert "unet3d" in list_models()
    assert isinstance(create_model("unet3d", preset="tiny"), UNet3D)
    with pytest.raises(ValueError, match="unknown model"):
        create_model("nope")
    with pytest.raises(ValueError, match="preset"):
        UNet3D("huge")
    with pytest.raises(ValueError, match="one entry per level"):
        UNet3D(None, features=(4, 8), kernel_sizes=(3,), strides=(1, 2))


def test_deep_supervision_weights_sum_to_one_as_in_nnunet():
    import torch
    from monai.losses import DiceCELoss

    from transferbench.training.losses import NormalisedDeepSupervisionLoss

    loss = NormalisedDeepSupervisionLoss(DiceCELoss(to_onehot_y=True, softmax=True), weight_mode="exp")
    for levels in (1, 2, 4):
        weights = loss.get_weights(levels)
        assert sum(weights) == 1.0 or abs(sum(weights) - 1.0) < 1e-12
        assert all(a == 2 * b for a, b in zip(weights, weights[1:]))  # 1, 1/2, 1/4 ... before normalising
    logits = torch.randn(2, 2, 8, 8, 8)
    target = torch.randint(0, 2, (2, 1, 8, 8, 8))
    single = DiceCELoss(to_onehot_y=True, softmax=True)(logits, target)
    # the same logits at every scale: the normalised loss equals the single-output loss (MONAI's raw: 1.875x)
    assert torch.allclose(loss([logits, logits, logits, logits], target), single)
