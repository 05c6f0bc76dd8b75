"""``multisource``: one model pretrained on the union of several lesion sources, then fine-tuned."""

from __future__ import annotations

from transferbench.strategies.base import register_strategy
from transferbench.strategies.finetune import Finetune


@register_strategy
class MultiSource(Finetune):
    """Pretrained on the union of several sources (merged lesion label, or one class per source), then fine-tuned.

    Loads like ``finetune``, from the pooled pretraining.

    Args:
        labels: ``merged`` (every source's lesion is one class) or ``per_source`` (the pretraining network
            has one output class per source lesion, a multi-lesion model; its head is then re-initialised
            for the target's classes and reported as shape-mismatched).
    """

    name = "multisource"
    min_sources, max_sources = 2, None

    labels: str = "merged"
