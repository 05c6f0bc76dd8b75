"""``scratch``: the baseline every other strategy is compared with."""

from __future__ import annotations

from transferbench.strategies.base import Strategy, register_strategy


@register_strategy
class Scratch(Strategy):
    """Random initialisation, trained on the COVID-19 training cases only (the baseline; benchmark Task 1)."""

    name = "scratch"
