"""``hybrid``: the study's Hybrid-encoder learning (dedicated + adapted encoder, Selective Fusion)."""

from __future__ import annotations

from torch import nn

from transferbench.errors import StrategyError
from transferbench.models.hybrid import HybridUNet3D
from transferbench.models.unet3d import UNet3D
from transferbench.strategies.base import PretrainNeed, Strategy, register_strategy
from transferbench.strategies.transfer import KeyReport, freeze


@register_strategy
class Hybrid(Strategy):
    """Fresh dedicated encoder + adapted encoder from the (multi-)source model, fused per scale, one decoder.

    The configured ``UNet3D`` becomes a ``HybridUNet3D`` of the same configuration; the source model's
    encoder loads into ``adapted`` (completely, or the run fails); dedicated encoder, fusion units, decoder
    and heads start fresh.

    Args:
        freeze_adapted: keep the adapted encoder fixed (default; the paper does not say, so both are
            offered).
        labels: with several sources, how their pretraining pools labels.
    """

    name = "hybrid"
    min_sources, max_sources = 1, None

    freeze_adapted: bool = True
    labels: str = "merged"

    def needs(self, model: str | None = None, seed: int | None = None) -> list[PretrainNeed]:
        return [self.source_need(model, seed)]

    def build_net(self, net: nn.Module) -> nn.Module:
        if isinstance(net, HybridUNet3D):
            return net
        if not isinstance(net, UNet3D):
            raise StrategyError(f"strategy 'hybrid' builds on a UNet3D, got {type(net).__name__}")
        return HybridUNet3D.from_unet(net)

    def initialise(self, net: nn.Module) -> list[KeyReport]:
        (path,) = self.checkpoints()
        report = self.load_parts(
            net,
            path,
            part="adapted encoder",
            source_attr="key_to_source_encoder",
            target_attr="key_to_adapted",
            required_attrs=("key_to_adapted",),
        )
        if self.freeze_adapted:
            freeze(net.adapted)
        return [report]
