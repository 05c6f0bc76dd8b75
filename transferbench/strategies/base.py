"""The strategy interface and its timm-style registry.

A strategy says four things about a run: which pretrained models it needs (``needs``, so a planner can
train each one once and share it), how it turns the configured network into the one it trains
(``build_net``), how it initialises and freezes that network from the pretrained checkpoints
(``initialise``, returning the key reports) and which data the run trains on (``data_overrides`` for the
DataModule). Registering one is a decorated class in one file::

    @register_strategy
    class MyStrategy(Strategy):
        \"\"\"One line shown by `transferbench strategies`.\"\"\"

        name = "mine"
        min_sources, max_sources = 1, 1

        def needs(self, model=None, seed=None):
            return [PretrainNeed(tuple(self.sources), model=model, seed=seed)]

        def initialise(self, net):
            ...
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Literal

import yaml
from torch import nn

from transferbench.data.sources import list_sources, source_class
from transferbench.data.ssl_transforms import PRETEXTS
from transferbench.errors import StrategyError
from transferbench.registry import Registry
from transferbench.strategies.transfer import KeyReport, read_state_dict, transfer_weights


@dataclass(frozen=True)
class PretrainNeed:
    """One pretrained model a strategy needs: an ordinary ``fit`` on ``sources`` (pooled when several).

    ``chain`` lists earlier stages the pretraining itself starts from (e.g. ``("imagenet",)`` before
    ``lidc_idri``); ``labels`` is ``merged`` (one lesion class) or ``per_source`` (one class per source);
    ``pretext`` (``genesis`` / ``mae``) makes it self-supervised on the sources' images, labels unread.
    ``model`` and ``seed`` are those of the run that needs it: the planner shares one pretraining between
    every run with the same need.
    """

    sources: tuple[str, ...]
    labels: Literal["merged", "per_source"] = "merged"
    chain: tuple[str, ...] = ()
    model: str | None = None
    seed: int | None = None
    pretext: str | None = None

    def data_args(self) -> dict[str, Any]:
        """The DataModule arguments of the pretraining fit."""
        dataset: str | list[str] = self.sources[0] if len(self.sources) == 1 else list(self.sources)
        return {
            "dataset": dataset,
            "label_merge": self.labels,
            **({"images_only": True} if self.pretext else {}),
        }

    def describe(self) -> str:
        stages = " -> ".join([*self.chain, "+".join(self.sources)])
        stages += f" (self-supervised: {self.pretext})" if self.pretext else ""
        extra = f", {self.labels} labels" if len(self.sources) > 1 else ""
        who = f"{self.model} " if self.model else ""
        seed = f", seed {self.seed}" if self.seed is not None else ""
        return f"{who}pretrained on {stages}{extra}{seed}"


def prefixes(net: nn.Module, attr: str) -> tuple[str, ...]:
    """The key prefixes ``net`` declares under ``attr`` (``key_to_encoder``, ...; see ``SegmentationNet``)."""
    value = tuple(getattr(net, attr, None) or ())
    if not value:
        raise StrategyError(f"{type(net).__name__} does not declare `{attr}`, which this strategy needs")
    return value


@dataclass
class Strategy:
    """Base class; subclasses set ``name``, the allowed number of ``sources`` and override what they change.

    Args:
        sources: the source datasets (registered names) the strategy transfers from.
        pretrained: checkpoint path(s), one per entry of ``needs()``, in that order.
        chain: earlier pretraining stages of the source model (e.g. ``[imagenet]``).
        key_map: prefix renames applied to checkpoint keys before matching (``{"swinViT.": "encoder."}``),
            for weights saved by other tools; ``module.`` / ``_orig_mod.`` prefixes are always stripped.
        pretext: pretrain self-supervised on the sources' images (``genesis``: Models Genesis restoration,
            ``mae``: masked image modelling; ``training.pretext``) instead of on their labels.
    """

    name: ClassVar[str] = ""
    min_sources: ClassVar[int] = 0
    max_sources: ClassVar[int | None] = 0

    sources: list[str] = field(default_factory=list)
    pretrained: str | list[str] | None = None
    chain: list[str] = field(default_factory=list)
    key_map: dict[str, str] | None = None
    pretext: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.sources, str):
            self.sources = [self.sources]
        self.sources = list(self.sources)
        self.chain = [self.chain] if isinstance(self.chain, str) else list(self.chain)
        n, lo, hi = len(self.sources), self.min_sources, self.max_sources
        if n < lo or (hi is not None and n > hi):
            want = f"exactly {lo}" if lo == hi else (f"at least {lo}" if hi is None else f"{lo} to {hi}")
            raise StrategyError(
                f"strategy {self.name!r} takes {want} source(s), got {n}: {self.sources or '[]'}"
            )
        unknown = [s for s in self.sources if s not in list_sources()]
        if unknown:
            raise StrategyError(
                f"strategy {self.name!r}: unknown source(s) {unknown}; registered: {', '.join(list_sources())}"
            )
        if len(set(self.sources)) != n:
            raise StrategyError(f"strategy {self.name!r}: a source is listed twice: {self.sources}")
        self._check_pretext()
        self.check_labels()
        if self.pretrained is not None:
            self.checkpoints()

    # ----------------------------------------------------------- declaration
    def needs(self, model: str | None = None, seed: int | None = None) -> list[PretrainNeed]:
        """Pretrained models this strategy starts from (none by default)."""
        return []

    def data_overrides(self) -> dict[str, Any]:
        """DataModule arguments this strategy fixes (which data the run trains on)."""
        return {}

    def config(self) -> dict[str, Any]:
        """The strategy as it would be written in a config (``name`` plus every argument)."""
        return {"name": self.name, **asdict(self)}

    # --------------------------------------------------------------- network
    def build_net(self, net: nn.Module) -> nn.Module:
        """The network this strategy trains, made from the configured one (unchanged by default)."""
        return net

    def checkpoints(self) -> list[str]:
        """``pretrained`` as a list, checked against ``needs()``."""
        needs = self.needs()
        paths = [self.pretrained] if isinstance(self.pretrained, str) else list(self.pretrained or [])
        if len(paths) != len(needs):
            wanted = "; ".join(n.describe() for n in needs) or "none"
            raise StrategyError(
                f"strategy {self.name!r} needs {len(needs)} pretrained checkpoint(s) ({wanted}) in "
                f"strategy.pretrained, got {len(paths)}: {paths or 'none'}"
            )
        return [str(p) for p in paths]

    def initialise(self, net: nn.Module) -> list[KeyReport]:
        """Load pretrained weights into ``net`` and freeze parts; returns one report per transfer."""
        self.checkpoints()
        return []

    def param_groups(self, net: nn.Module) -> list[dict[str, Any]]:
        """Trainable parameters as optimiser groups; ``lr_scale`` multiplies the base learning rate."""
        return [{"params": [p for p in net.parameters() if p.requires_grad], "lr_scale": 1.0}]

    # --------------------------------------------------------------- helpers
    def _check_pretext(self) -> None:
        """A pretext needs sources to pretrain on; an unlabelled source needs a pretext."""
        if self.pretext is not None and (self.pretext not in PRETEXTS or self.max_sources == 0):
            raise StrategyError(
                f"strategy {self.name!r}: pretext {self.pretext!r}: give one of {list(PRETEXTS)} to a strategy "
                "that pretrains on sources"
            )
        bare = [s for s in self.sources if not source_class(s).labelled]
        if bare and self.pretext is None:
            raise StrategyError(
                f"strategy {self.name!r}: source(s) {bare} have no labels; pretrain on them self-supervised "
                f"(strategy.pretext: one of {list(PRETEXTS)})"
            )

    def check_labels(self) -> None:
        """For strategies with a ``labels`` field: how a multi-source pretraining pools its labels."""
        labels = getattr(self, "labels", "merged")
        if labels not in ("merged", "per_source"):
            raise StrategyError(
                f"strategy {self.name!r}: labels must be merged or per_source, got {labels!r}"
            )

    def source_need(self, model: str | None, seed: int | None) -> PretrainNeed:
        """The usual need: one model pretrained on this strategy's sources (pooled if several)."""
        labels = getattr(self, "labels", "merged")
        return PretrainNeed(tuple(self.sources), labels, tuple(self.chain), model, seed, self.pretext)

    def load_parts(
        self,
        net: nn.Module,
        path: str,
        *,
        part: str,
        source_attr: str | None = None,
        target_attr: str | None = None,
        required_attrs: Sequence[str] = (),
    ) -> KeyReport:
        """Transfer from ``path``; the ``*_attr`` name a prefix attribute of the network (``key_to_encoder``)."""
        state = read_state_dict(path)
        src = prefixes(net, source_attr)[0] if source_attr else ""
        dst = prefixes(net, target_attr)[0] if target_attr else ""
        required = tuple(p for a in required_attrs for p in prefixes(net, a))
        return transfer_weights(
            net, state, part=part, checkpoint=path, source_prefix=src, target_prefix=dst, required=required,
            key_map=self.key_map,
        )  # fmt: skip


STRATEGIES: Registry[type[Strategy]] = Registry("strategy")


def register_strategy(cls: type[Strategy]) -> type[Strategy]:
    """Class decorator: make ``cls`` (made a dataclass) available by its ``name`` to configs, sweeps, CLI."""
    return STRATEGIES.register()(dataclass(cls) if "__dataclass_fields__" not in cls.__dict__ else cls)


def list_strategies() -> list[str]:
    return STRATEGIES.names()


def strategy_class(name: str) -> type[Strategy]:
    return STRATEGIES.get(name)


LIST_ARGS = ("sources", "chain")


def _coerce(key: str, value: Any, default: Any) -> Any:
    """Values given on the command line arrive as strings (``--strategy.freeze_encoder false``)."""
    if not isinstance(value, str) or key == "pretrained" or isinstance(default, str):
        return value
    parsed = yaml.safe_load(value)
    if key in LIST_ARGS and not isinstance(parsed, list):
        return [s.strip() for s in value.split(",") if s.strip()]
    return parsed


def create_strategy(config: dict[str, Any] | Strategy | None) -> Strategy:
    """A strategy from its config ``{name: ..., **args}``; ``None`` is ``scratch``."""
    if isinstance(config, Strategy):
        return config
    config = dict(config or {"name": "scratch"})
    name = config.pop("name", None)
    if not name:
        raise StrategyError(f"strategy config needs a `name`; registered: {', '.join(list_strategies())}")
    cls = STRATEGIES.get(name)
    params = {k: p for k, p in inspect.signature(cls).parameters.items() if p.kind is p.POSITIONAL_OR_KEYWORD}
    unknown = sorted(set(config) - set(params))
    if unknown:
        raise StrategyError(f"strategy {name!r} has no argument(s) {unknown}; it takes: {', '.join(params)}")
    kwargs = {k: _coerce(k, v, params[k].default) for k, v in config.items()}
    return cls(**kwargs)
