"""``multisource``: one model pretrained on the union of several lesion sources, then fine-tuned."""

from __future__ import annotations

from torch import nn

from transferbench.strategies.base import PretrainNeed, Strategy, register_strategy
from transferbench.strategies.transfer import KeyReport


@register_strategy
class MultiSource(Strategy):
    """Pretrained on the union of several sources (merged lesion label, or one class per source), then fine-tuned.

    Args:
        labels: ``merged`` (every source's lesion is one class) or ``per_source`` (the pretraining network
            has one output class per source lesion, a multi-lesion model; its head is then re-initialised
            for the target's classes and reported as shape-mismatched).
    """

    name = "multisource"
    min_sources, max_sources = 2, None

    labels: str = "merged"

    def __post_init__(self) -> None:
        super().__post_init__()
        self.check_labels()

    def needs(self, model: str | None = None, seed: int | None = None) -> list[PretrainNeed]:
        return [self.source_need(model, seed)]

    def initialise(self, net: nn.Module) -> list[KeyReport]:
        (path,) = self.checkpoints()
        return [
            self.load_parts(
                net, path, part="whole network", required_attrs=("key_to_encoder", "key_to_decoder")
            )
        ]
