"""``encoder``: encoder-only transfer, the encoder as a (frozen or trainable) lesion feature extractor."""

from __future__ import annotations

from typing import Any

from torch import nn

from transferbench.errors import StrategyError
from transferbench.strategies.base import PretrainNeed, Strategy, prefixes, register_strategy
from transferbench.strategies.transfer import KeyReport, freeze


@register_strategy
class EncoderTransfer(Strategy):
    """Encoder from the source model, decoder fresh; encoder frozen or trained with a scaled learning rate.

    Args:
        freeze_encoder: keep the pretrained encoder fixed (no gradients, normalisation in eval mode).
        encoder_lr_scale: learning-rate factor for a trainable encoder (e.g. 0.1).
        labels: with several sources, how their pretraining pools labels (``merged`` or ``per_source``).
    """

    name = "encoder"
    min_sources, max_sources = 1, None

    freeze_encoder: bool = False
    encoder_lr_scale: float = 1.0
    labels: str = "merged"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.encoder_lr_scale <= 0:
            raise StrategyError(
                f"strategy 'encoder': encoder_lr_scale must be > 0, got {self.encoder_lr_scale}"
            )

    def needs(self, model: str | None = None, seed: int | None = None) -> list[PretrainNeed]:
        return [self.source_need(model, seed)]

    def initialise(self, net: nn.Module) -> list[KeyReport]:
        (path,) = self.checkpoints()
        report = self.load_parts(
            net,
            path,
            part="encoder",
            source_attr="key_to_encoder",
            target_attr="key_to_encoder",
            required_attrs=("key_to_encoder",),
        )
        if self.freeze_encoder:
            freeze(net.get_submodule(prefixes(net, "key_to_encoder")[0].rstrip(".")))
        return [report]

    def param_groups(self, net: nn.Module) -> list[dict[str, Any]]:
        prefix = prefixes(net, "key_to_encoder")
        enc = [p for k, p in net.named_parameters() if p.requires_grad and k.startswith(prefix)]
        rest = [p for k, p in net.named_parameters() if p.requires_grad and not k.startswith(prefix)]
        groups = [{"params": rest, "lr_scale": 1.0}]
        if enc:
            groups.append({"params": enc, "lr_scale": self.encoder_lr_scale})
        return groups
