"""nCoVSegNet (Liu et al., Medical Image Analysis 2021): 2D, ECA-ResNet-50 backbone, GCA modules, DAF decoder.

The backbone keeps torchvision's ResNet-50 parameter names (``conv1``, ``bn1``, ``layer1.0.conv1``, ...,
``layer4.2.bn3``), so the standard ImageNet state dict loads into ``backbone.`` with only the ECA convs
(``layerX.Y.eca.conv.weight``) left at their initial values; its ``fc.*`` classifier has no counterpart.
``width`` scales every channel count and ``layers`` the bottlenecks per stage, for CPU runs and tests;
the defaults are the paper's network (about 170 M parameters at 352 x 352).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from transferbench.models.base import SegmentationNet
from transferbench.models.registry import register_model

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
RESNET50_LAYERS = (3, 4, 6, 3)


class ECA(nn.Module):
    """Efficient channel attention: GAP -> 1D conv (k=3) across channels -> sigmoid -> scale."""

    def __init__(self, kernel_size: int = 3) -> None:
        super().__init__()
        self.conv = nn.Conv1d(1, 1, kernel_size, padding=kernel_size // 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = x.mean((2, 3)).unsqueeze(1)  # (B, 1, C)
        return x * torch.sigmoid(self.conv(w)).transpose(1, 2).unsqueeze(-1)


class Bottleneck(nn.Module):
    """torchvision's ResNet-50 v1.5 bottleneck (stride on the 3x3) with ECA after bn3, before the add."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.eca = ECA()
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.eca(self.bn3(self.conv3(out)))
        return self.relu(out + identity)


class ECAResNet50(nn.Module):
    """The backbone: stem + four bottleneck stages; returns x1..x4 (strides 4, 8, 16, 32)."""

    def __init__(self, width: float = 1.0, layers: Sequence[int] = RESNET50_LAYERS, in_channels: int = 3):
        super().__init__()
        base = max(8, int(round(64 * width)))
        self.in_channels = in_channels
        self.conv1 = nn.Conv2d(in_channels, base, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(base)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.inplanes = base
        self.layer1 = self._stage(base, layers[0], 1)
        self.layer2 = self._stage(base * 2, layers[1], 2)
        self.layer3 = self._stage(base * 4, layers[2], 2)
        self.layer4 = self._stage(base * 8, layers[3], 2)
        self.out_channels = [base * 4, base * 8, base * 16, base * 32]
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def _stage(self, planes: int, blocks: int, stride: int) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * 4:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * 4, 1, stride=stride, bias=False), nn.BatchNorm2d(planes * 4)
            )
        out = [Bottleneck(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * 4
        out += [Bottleneck(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*out)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x1 = self.layer1(x)
        x2 = self.layer2(x1)
        x3 = self.layer3(x2)
        return [x1, x2, x3, self.layer4(x3)]


def conv_bn(cin: int, cout: int, kernel, padding=0, dilation: int = 1) -> nn.Sequential:
    """The GCA's basic unit: conv without bias + BN, no activation."""
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, padding=padding, dilation=dilation, bias=False), nn.BatchNorm2d(cout)
    )


class GCA(nn.Module):
    """Global context-aware module (RFB-style): parallel dilated branches, fused, plus a 1x1 residual."""

    def __init__(self, cin: int, cout: int, branches: int = 4) -> None:
        super().__init__()
        paths = [conv_bn(cin, cout, 1)]
        for n in (3, 5, 7)[: branches - 1]:
            paths.append(
                nn.Sequential(
                    conv_bn(cin, cout, 1),
                    conv_bn(cout, cout, (1, n), padding=(0, n // 2)),
                    conv_bn(cout, cout, (n, 1), padding=(n // 2, 0)),
                    conv_bn(cout, cout, 3, padding=n, dilation=n),
                )
            )
        self.branches = nn.ModuleList(paths)
        self.conv_cat = conv_bn(branches * cout, cout, 3, padding=1)
        self.conv_res = conv_bn(cin, cout, 1)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        cat = self.conv_cat(torch.cat([b(x) for b in self.branches], dim=1))
        return self.relu(cat + self.conv_res(x))


class DAF(nn.Module):
    """Dual-attention fusion of a coarse map ``high`` (C_h) into the next finer map ``low`` (C_l)."""

    def __init__(self, c_high: int, c_low: int) -> None:
        super().__init__()
        self.channel = nn.Sequential(nn.Conv2d(c_high, c_low, 1), nn.BatchNorm2d(c_low))
        self.low = nn.Sequential(nn.Conv2d(c_low, c_low, 3, padding=1), nn.BatchNorm2d(c_low))
        self.spatial_up = nn.ConvTranspose2d(c_high, c_high, 4, stride=2, padding=1)
        self.up = nn.ConvTranspose2d(c_high, c_low, 4, stride=2, padding=1)
        self.up_bn = nn.BatchNorm2d(c_low)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, high: torch.Tensor, low: torch.Tensor) -> torch.Tensor:
        ca = torch.sigmoid(self.channel(F.adaptive_avg_pool2d(high, 1)))
        sa = torch.sigmoid(self.spatial_up(high).amax(dim=1, keepdim=True))
        fused = self.low(low) * ca * sa
        return self.relu(self.up_bn(self.up(high)) + fused)


@register_model("ncovsegnet")
class NCoVSegNet(SegmentationNet):
    """nCoVSegNet (Liu et al. 2021), 2D: ECA-ResNet-50 backbone, GCA modules, DAF decoder. ``forward`` returns the four deep-supervision logit maps (1 channel, input size), finest
    (the prediction) first; in eval mode only the prediction.

    Args:
        width: channel multiplier (1.0 = the paper's network).
        layers: bottlenecks per backbone stage ((3, 4, 6, 3) = ResNet-50; e.g. (1, 1, 1, 1) for CPU tests).
        in_channels: 3 (a CT slice repeated, ImageNet-normalised) so ImageNet weights apply.
        deep_supervision: return all four outputs in training mode.
    """

    key_to_encoder = ("backbone.",)
    key_to_decoder = ("gca", "daf")
    key_to_head = ("heads.",)
    spatial_dims = 2
    head_stride = 4  # the prediction comes from d1, at the backbone's stride-4 level
    pretrained_backbone = "resnet50"
    tiny_kwargs = {"width": 0.125, "layers": (1, 1, 1, 1)}
    num_classes = 2  # one lesion logit: background and lesion

    @property
    def divisor(self) -> tuple[int, int]:
        return (32, 32)

    def __init__(
        self,
        width: float = 1.0,
        layers: Sequence[int] = RESNET50_LAYERS,
        in_channels: int = 3,
        deep_supervision: bool = True,
    ) -> None:
        super().__init__()
        if len(layers) != 4 or min(layers) < 1:
            raise ValueError(f"layers must give 4 stages of >= 1 bottleneck, got {layers}")
        self.backbone = ECAResNet50(width, layers, in_channels)
        c1, c2, c3, c4 = self.backbone.out_channels
        self.gca1, self.gca2, self.gca3 = GCA(c1, c1 // 2), GCA(c2, c2 // 2), GCA(c3, c3 // 2)
        self.gca4 = GCA(c4, c4 // 2, branches=3)
        self.daf3 = DAF(c4 // 2, c3 // 2)
        self.daf2 = DAF(c3 // 2, c2 // 2)
        self.daf1 = DAF(c2 // 2, c1 // 2)
        self.heads = nn.ModuleList(nn.Conv2d(c, 1, 1) for c in (c1 // 2, c2 // 2, c3 // 2, c4 // 2))
        self.deep_supervision = deep_supervision
        self.in_channels = in_channels
        if in_channels == 3:  # a CT slice repeated to RGB, normalised as the ImageNet backbone expects
            self.input_mean, self.input_std = IMAGENET_MEAN, IMAGENET_STD

    def forward(self, x: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"nCoVSegNet expects (B, {self.in_channels}, H, W) slices, got {tuple(x.shape)}"
                + (" (a grayscale slice: repeat it to 3 channels)" if x.ndim == 4 and x.shape[1] == 1 else "")
            )
        if any(s % d for s, d in zip(x.shape[-2:], self.divisor)):
            raise ValueError(
                f"nCoVSegNet input size {tuple(x.shape[-2:])} must be divisible by {self.divisor}"
            )
        x1, x2, x3, x4 = self.backbone(x)
        g1, g2, g3, g4 = self.gca1(x1), self.gca2(x2), self.gca3(x3), self.gca4(x4)
        d3 = self.daf3(g4, g3)
        d2 = self.daf2(d3, g2)
        d1 = self.daf1(d2, g1)
        size = x.shape[-2:]
        feats = (d1, d2, d3, g4) if self.training and self.deep_supervision else (d1,)
        outs = [
            F.interpolate(h(f), size=size, mode="bilinear", align_corners=False)
            for h, f in zip(self.heads, feats)
        ]
        return outs if self.training and self.deep_supervision else outs[0]
