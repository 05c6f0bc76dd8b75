"""Generic tests of every registered strategy (a new ``@register_strategy`` gets them automatically)."""

from __future__ import annotations

import pytest

from transferbench.errors import StrategyError
from transferbench.strategies import STRATEGIES, PretrainNeed, create_strategy

SOURCES = ["msd_lung_tumor", "structseg_gtv"]


def minimal(name: str) -> dict:
    cls = STRATEGIES.get(name)
    return {"name": name, "sources": SOURCES[: cls.min_sources]}


@pytest.mark.parametrize("name", STRATEGIES.names())
def test_config_round_trip_and_declared_needs(name):
    strategy = create_strategy(minimal(name))
    assert strategy.name == name
    again = create_strategy(strategy.config())
    assert again == strategy and again.config() == strategy.config()
    needs = strategy.needs("unet3d", 3)
    assert all(isinstance(n, PretrainNeed) and n.seed == 3 and n.model == "unet3d" for n in needs)
    if needs:  # the checkpoints it needs are demanded before any training
        with pytest.raises(StrategyError, match=f"needs {len(needs)} pretrained checkpoint"):
            strategy.checkpoints()


@pytest.mark.parametrize("name", STRATEGIES.names())
def test_argument_errors_name_the_strategy(name):
    with pytest.raises(StrategyError, match=f"strategy {name!r} has no argument"):
        create_strategy({**minimal(name), "not_an_argument": 1})
    cls = STRATEGIES.get(name)
    too_many = SOURCES + ["nsclc_pleural_effusion"] if cls.max_sources is not None else None
    if too_many is not None and len(too_many) > cls.max_sources:
        with pytest.raises(StrategyError, match=f"strategy {name!r} takes"):
            create_strategy({"name": name, "sources": too_many})
