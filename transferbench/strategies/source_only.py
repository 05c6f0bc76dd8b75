"""``source_only``: no COVID-19 training data at all (the public benchmark's Task 2)."""

from __future__ import annotations

from typing import Any

from transferbench.strategies.base import Strategy, register_strategy


@register_strategy
class SourceOnly(Strategy):
    """Trained and validated on the source(s) only, tested on the COVID-19 test cases (benchmark Task 2).

    Tested on the fold's test cases (not all 20 as the benchmark's Task 2) so that every strategy is
    compared with ``scratch`` on the same cases.
    """

    name = "source_only"
    min_sources, max_sources = 1, None

    def data_overrides(self) -> dict[str, Any]:
        return {"train_sources": list(self.sources), "train_on": "sources"}
