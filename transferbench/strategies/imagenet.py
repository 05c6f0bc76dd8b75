"""Stage 0 of nCoVSegNet's transfer: torchvision-format ImageNet ResNet-50 weights into the backbone.

Weights cannot be downloaded at run time, so this takes a local file and says where users usually get it.
Loading is strict where it matters: every backbone tensor except the ECA convs (which ImageNet ResNet-50 has
no counterpart for) must be present with its shape, or nothing is copied.
"""

from __future__ import annotations

from pathlib import Path

from torch import nn

from transferbench.errors import TransferError
from transferbench.strategies.base import Strategy, register_strategy
from transferbench.strategies.transfer import KeyReport, read_state_dict, transfer_weights

IMAGENET_HELP = (
    "a torchvision-format ResNet-50 ImageNet state dict, e.g. torchvision's IMAGENET1K_V1 weights "
    "'resnet50-0676ba61.pth' (https://download.pytorch.org/models/resnet50-0676ba61.pth; on a machine with "
    "torchvision: torchvision.models.resnet50(weights='IMAGENET1K_V1').state_dict() saved with torch.save; "
    "it lands in ~/.cache/torch/hub/checkpoints/). Copy it to this machine and give its path"
)
FRESH = (".eca.",)  # not in an ImageNet ResNet-50: stays at its initial value
TRACKED = (".num_batches_tracked",)  # BN step counters: older torchvision files do not store them


def load_imagenet_backbone(net: nn.Module, path: str | Path) -> KeyReport:
    """Load ``path`` into ``net.backbone``; the report lists the fresh ECA keys as missing and the ImageNet
    classifier (``fc.*``) as unexpected. The decoder (GCA, DAF, heads) is not touched."""
    path = Path(path)
    if not path.is_file():
        raise TransferError(f"{path}: ImageNet weight file not found. Expected {IMAGENET_HELP}.")
    if getattr(net, "pretrained_backbone", None) != "resnet50":
        raise TransferError(f"{type(net).__name__} has no ResNet-50 backbone to take ImageNet weights")
    prefix = net.key_to_encoder[0]
    state = read_state_dict(path)
    return transfer_weights(
        net,
        state,
        part="ImageNet backbone (ECA convs, GCA, DAF and heads stay fresh)",
        checkpoint=str(path),
        target_prefix=prefix,
        required=(prefix,),
        exempt=FRESH + TRACKED,
    )


SKIPPED = "ImageNet stage skipped (no weights file)"


@register_strategy
class ImageNetInit(Strategy):
    """ImageNet ResNet-50 weights into the backbone, decoder fresh, everything trained (nCoVSegNet's stage 0).

    Args:
        weights: local path of a torchvision-format ResNet-50 ImageNet state dict.
        skip_if_missing: without a weights file, train from scratch and record the stage as skipped (what
            an offline sweep does) instead of failing.
    """

    name = "imagenet"
    min_sources, max_sources = 0, 0

    weights: str | None = None
    skip_if_missing: bool = False

    def skipped(self) -> bool:
        return self.skip_if_missing and (self.weights is None or not Path(self.weights).is_file())

    def initialise(self, net: nn.Module) -> list[KeyReport]:
        if self.skipped():
            return [KeyReport(SKIPPED, str(self.weights or ""), "", (net.key_to_encoder or ("",))[0])]
        if self.weights is None:
            raise TransferError(f"strategy 'imagenet' needs `weights`: the path of {IMAGENET_HELP}")
        return [load_imagenet_backbone(net, self.weights)]
