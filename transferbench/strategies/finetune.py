"""``finetune``: the study's "continual learning" from one source model."""

from __future__ import annotations

from torch import nn

from transferbench.strategies.base import PretrainNeed, Strategy, register_strategy
from transferbench.strategies.transfer import KeyReport


@register_strategy
class Finetune(Strategy):
    """All weights from a model trained on one source, then the whole network trained on COVID-19.

    The encoder and decoder must load completely; the output head loads when the class count matches and
    is otherwise reported as shape-mismatched and trained fresh.
    """

    name = "finetune"
    min_sources, max_sources = 1, 1

    def needs(self, model: str | None = None, seed: int | None = None) -> list[PretrainNeed]:
        return [self.source_need(model, seed)]

    def initialise(self, net: nn.Module) -> list[KeyReport]:
        (path,) = self.checkpoints()
        return [
            self.load_parts(
                net, path, part="whole network", required_attrs=("key_to_encoder", "key_to_decoder")
            )
        ]
