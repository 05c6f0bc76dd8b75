"""``joint``: source and COVID-19 training cases mixed (the public benchmark's Task 3)."""

from __future__ import annotations

from typing import Any

from transferbench.errors import StrategyError
from transferbench.strategies.base import Strategy, register_strategy


@register_strategy
class Joint(Strategy):
    """Trained on the source(s) and the COVID-19 training cases together (benchmark Task 3).

    Args:
        source_fraction: share of training draws taken from the source cases; ``None`` pools all cases
            with equal weight, as the benchmark's Task 3 does.
    """

    name = "joint"
    min_sources, max_sources = 1, None

    source_fraction: float | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.source_fraction is not None and not 0.0 < float(self.source_fraction) < 1.0:
            raise StrategyError(
                f"strategy 'joint': source_fraction must be in (0, 1), got {self.source_fraction}"
            )

    def data_overrides(self) -> dict[str, Any]:
        return {
            "train_sources": list(self.sources),
            "train_on": "both",
            "source_fraction": self.source_fraction,
        }
