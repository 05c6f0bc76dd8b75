"""Transfer strategies: one registered class per way of using source knowledge (``transferbench strategies``)."""

from transferbench.strategies import (  # noqa: F401  (registration side effects)
    encoder,
    finetune,
    hybrid,
    imagenet,
    joint,
    multisource,
    scratch,
    source_only,
)
from transferbench.strategies.base import (
    STRATEGIES,
    PretrainNeed,
    Strategy,
    create_strategy,
    list_strategies,
    register_strategy,
    strategy_class,
)
from transferbench.strategies.transfer import KeyReport, freeze, read_state_dict, transfer_weights

__all__ = [
    "STRATEGIES",
    "KeyReport",
    "PretrainNeed",
    "Strategy",
    "create_strategy",
    "freeze",
    "list_strategies",
    "read_state_dict",
    "register_strategy",
    "strategy_class",
    "transfer_weights",
]
