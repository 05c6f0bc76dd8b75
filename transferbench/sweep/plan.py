"""Planner: expand a sweep spec into pretraining and fine-tuning runs with dependencies.

Each distinct pretraining (model, source set, label pooling, chain, seed) appears once and is shared by
every run that needs it, whatever its strategy or fold: one pretraining's optimiser steps count once in the
sweep's cost, however many runs start from it. For a *comparison*, though, a run's compute is everything
it needed: ``total_steps`` = its own steps + the total steps of every run it starts from (a shared
pretraining counts fully for each run that uses it, since a user reproducing that one model trains all of
it; external ImageNet weights count 0). The compute controls follow from that: per model and seed,
``scratch_matched`` trains the target for each distinct ``total_steps`` of the transfer runs, and
``scratch_converged`` for ``converged_factor`` times the largest. A run id is a stable hash of what determines the run (its
:class:`RunConfig` identity and the ids of the runs it starts from), so a re-run finds finished work and an
edited spec only re-plans what changed.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

from transferbench.config import deep_merge
from transferbench.data.sources import source_class
from transferbench.data.splits import covid_fold
from transferbench.data.synthetic import synthetic_params
from transferbench.errors import SpecError
from transferbench.models.registry import network_class
from transferbench.strategies import PretrainNeed, create_strategy, strategy_class
from transferbench.strategies.imagenet import SKIPPED
from transferbench.sweep.runs import IDENTITY_FIELDS, Plan, Run  # noqa: F401 - their home; imported from here too
from transferbench.sweep.spec import ModelEntry, StrategyEntry, SweepSpec
from transferbench.sweep.store import ResultsStore
from transferbench.training.loggers import wandb_id
from transferbench.training.run_config import RunConfig

SCRATCH, MATCHED, CONVERGED = "scratch", "scratch_matched", "scratch_converged"


def _hash(obj: Any) -> str:
    return hashlib.sha1(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:10]


def _slug(*parts: Any) -> str:
    return "-".join(str(p) for p in parts if p not in (None, "", "-")).replace("/", "_")


class Planner:
    """Builds the runs of a spec, pretrainings first; ``plan()`` returns them."""

    def __init__(self, spec: SweepSpec) -> None:
        self.spec = spec
        self.runs: dict[str, Run] = {}  # by id, in planning order (dependencies first)
        self._pretrain: dict[tuple, str] = {}
        self.data_id = synthetic_params() if spec.prepare_synthetic else None
        self.store = ResultsStore(spec.results_dir)  # where each run's folder and checkpoint will be

    def _config(self, model: ModelEntry, seed: int, phase: str, strategy: dict, settings: dict) -> RunConfig:
        spec = self.spec
        common = {"trainer": {"enable_progress_bar": False}, "data": {"root": spec.data_root, "prepare_synthetic": False}}  # fmt: skip
        return RunConfig(
            base_config=model.base_config,
            overrides=spec.model_overrides(model),
            budget=deep_merge(spec.budget.get(phase, {}), model.budget.get(phase, {})),  # per-model wins
            strategy=strategy,
            seed=seed,
            settings=deep_merge(common, settings),
        )

    def _add(self, run: Run, tags: list[str]) -> Run:
        """Give ``run`` its id (from its identity) and output location; plan it once."""
        label = _id_label(run.strategy)
        identity = {**run.config.identity(), "kind": run.kind, "label": label, "deps": run.deps,
                    "data_id": self.data_id}  # fmt: skip
        fold = f"f{run.fold}" if run.fold is not None else ""
        kind = {"pretrain": "pre", "finetune": "ft"}[run.kind]
        data = run.config.overlay.get("data") or {}
        budget = f"n{run.n_train}" if "train_cases" in data else ""  # full-budget ids stay as they were
        run.id = _slug(kind, run.model, label, run.source, fold, budget, f"s{run.seed}", _hash(identity))
        folder = self.store.folder(run.id)
        scope = str(Path(self.spec.results_dir).resolve())  # W&B ids unique per results folder
        run.config = run.config.with_output(
            str(folder.path),
            {"group": self.spec.name, "name": run.id, "tags": tags, "job_type": run.kind,
             "id": wandb_id(run.id, scope), "uses": [wandb_id(d, scope) for d in run.deps], **self.spec.wandb},
        )  # fmt: skip
        run.notes = self._notes(run.config.strategy, run.deps)
        run.steps = run.config.optimiser_steps
        run.total_steps = run.steps + sum(self.runs[d].total_steps for d in run.deps)
        return self.runs.setdefault(run.id, run)

    def checkpoint(self, run_id: str) -> str:
        return str(self.store.folder(run_id).last_checkpoint)

    def pretraining(self, model: ModelEntry, need: PretrainNeed) -> str:
        """Id of the run that trains ``need`` (planned once, with its own chain before it)."""
        key = (model.label, need.sources, need.labels, need.chain, need.seed, need.pretext)
        if key not in self._pretrain:
            self._pretrain[key] = self._plan_pretraining(model, need).id
        return self._pretrain[key]

    def _plan_pretraining(self, model: ModelEntry, need: PretrainNeed) -> Run:
        deps: list[str] = []
        strategy: dict[str, Any] = {"name": "scratch"}
        if need.chain and need.chain[-1] == "imagenet":
            if len(need.chain) > 1:
                raise SpecError(
                    f"{self.spec.path}: ImageNet can only be the first stage of a chain, got {need.chain}"
                )
            strategy = self._imagenet(model)
        elif need.chain:  # the stage before: supervised on a source, or self-supervised (``source:pretext``)
            source, _, pretext = need.chain[-1].partition(":")
            previous = PretrainNeed(
                (source,), "merged", need.chain[:-1], need.model, need.seed, pretext or None
            )
            deps = [self.pretraining(model, previous)]
            strategy = {"name": "finetune", "sources": [source], **({"pretext": pretext} if pretext else {})}
            if need.chain[:-1]:
                strategy["chain"] = list(need.chain[:-1])
            strategy["pretrained"] = self.checkpoint(deps[0])
        settings: dict[str, Any] = {"data": need.data_args(), "test_after_fit": False}
        per_source = need.labels == "per_source" and len(need.sources) > 1 and not need.pretext
        if per_source:
            settings["model"] = {"net": {"init_args": {"out_channels": 1 + len(need.sources)}}}
        if need.pretext:  # one restored intensity channel, the U-Net's keys otherwise
            settings["model"] = {"pretext": need.pretext, "net": {"init_args": {"out_channels": 1}}}
        label = "+".join(self.spec.source_label(s) for s in need.sources) + (
            "_per_source" if per_source else f"_{need.pretext}" if need.pretext else ""
        )
        source = ">".join([*map(self._stage_label, need.chain), label])
        config = self._config(model, need.seed or 0, "pretrain", strategy, settings)
        run = Run("", "pretrain", model.label, "pretrain", source, None, need.seed or 0, config,
                  self.spec.results_dir, deps)  # fmt: skip
        return self._add(run, [model.label, "pretrain", source, f"seed{need.seed}"])

    def _stage_label(self, stage: str) -> str:
        """A chain stage in run labels: ``imagenet`` as it is, ``source:pretext`` as ``<label>_<pretext>``."""
        source, _, pretext = stage.partition(":")
        return f"{self.spec.source_label(source)}_{pretext}" if pretext else stage

    def _chain(self, stages: list[str]) -> list[str]:
        """A strategy entry's chain with sweep source labels replaced by registered names (pretexts kept)."""
        out = []
        for stage in [stages] if isinstance(stages, str) else stages:
            source, sep, pretext = stage.partition(":")
            out.append(
                (self.spec.source_members(source)[0] if source in self.spec.sources else source)
                + sep
                + pretext
            )
        return out

    def _imagenet(self, model: ModelEntry) -> dict[str, Any]:
        """The ImageNet stage's strategy for ``model``: the sweep's weights file, or skipped without one."""
        cls = network_class(model.config())
        if getattr(cls, "pretrained_backbone", None) != "resnet50":
            raise SpecError(
                f"{self.spec.path}: model {model.label!r} has no ResNet-50 backbone for an ImageNet stage"
            )
        weights = self.spec.imagenet_weights
        return {"name": "imagenet", "weights": weights, "skip_if_missing": weights is None}

    def _notes(self, strategy: dict[str, Any], deps: list[str]) -> list[str]:
        """Notes of this run: an ImageNet stage it skips, and those of the runs it starts from."""
        notes = [SKIPPED] if strategy.get("name") == "imagenet" and strategy.get("skip_if_missing") else []
        for d in deps:
            notes += [n for n in self.runs[d].notes if n not in notes]
        return notes

    def _source_keys(self, entry: StrategyEntry) -> list[str | None]:
        cls = strategy_class(entry.config["name"])
        if cls.max_sources == 0:
            return [None]
        keys = entry.sources if entry.sources is not None else [*self.spec.sources, *self.spec.source_sets]
        if entry.sources is None and not entry.config.get("pretext"):  # all sources: the labelled ones
            keys = [k for k in keys if all(source_class(s).labelled for s in self.spec.source_members(k))]
        fits = [
            key
            for key in keys
            if cls.min_sources <= len(self.spec.source_members(key))
            and (cls.max_sources is None or len(self.spec.source_members(key)) <= cls.max_sources)
        ]
        if not fits:
            raise SpecError(
                f"{self.spec.path}: `strategies` entry {entry.label!r} fits none of the sources / source sets"
            )
        return fits

    def _seed(self, seed: int, label: str, key: str | None) -> int:
        """The training seed of a target run: the replicate seed itself under common random numbers (every
        strategy of a seed starts from the same initialisation and data order, so paired differences lose
        that variance), else one derived from the seed, strategy label and source."""
        if self.spec.common_random_numbers:
            return seed
        return int(hashlib.sha1(f"{seed}:{label}:{key}".encode()).hexdigest()[:8], 16) % 2**31

    def _target_runs(
        self, model: ModelEntry, seed: int, entry: StrategyEntry, key: str | None, budget: dict | None = None
    ) -> None:
        """The target runs of one strategy entry on one source (set): one per fold (``budget`` overrides
        the phase budget, for the compute controls)."""
        spec = self.spec
        members = spec.source_members(key) if key else []
        strategy = {**entry.config, "sources": members}
        if strategy.get("chain"):
            strategy["chain"] = self._chain(strategy["chain"])
        needs = create_strategy(strategy).needs(model.label, seed)
        deps = [self.pretraining(model, n) for n in needs]
        if strategy["name"] == "imagenet":
            strategy = {**self._imagenet(model), **strategy}
        if deps:
            paths = [self.checkpoint(d) for d in deps]
            strategy["pretrained"] = paths[0] if len(paths) == 1 else paths
        for fold in spec.folds:
            full = len(covid_fold(fold, spec.target["fold_scheme"])["train"])
            for n in self._budgets(entry, full):
                data = {
                    **spec.target,
                    "fold": fold,
                    **({"train_cases": n, "subset_seed": seed} if n < full else {}),
                }
                settings = {"data": data, "test_after_fit": True, "save_predictions": spec.save_predictions}
                settings = deep_merge(
                    deep_merge(settings, spec.budget.get(f"finetune_n{n}", {})), budget or {}
                )
                config = self._config(
                    model, self._seed(seed, entry.label, key), "finetune", strategy, settings
                )
                run = Run("", "finetune", model.label, entry.label, key or "-", fold, seed, config,
                          spec.results_dir, deps, n_train=n)  # fmt: skip
                self._add(
                    run, [model.label, entry.label, key or "none", f"fold{fold}", f"seed{seed}", f"n{n}"]
                )

    def _budgets(self, entry: StrategyEntry, full: int) -> list[int]:
        """Label budgets of an entry on a fold with ``full`` training cases (the fold's all by default)."""
        budgets = entry.train_cases or self.spec.train_cases or [full]
        if max(budgets) > full:
            raise SpecError(
                f"{self.spec.path}: `strategies.{entry.label}.train_cases` {budgets}: the fold has {full}"
            )
        return budgets

    def plan(self) -> Plan:
        for model in self.spec.models:
            for seed in self.spec.seeds:
                for entry in self.spec.strategies:
                    if entry.models is None or model.label in entry.models:
                        for key in self._source_keys(entry):
                            self._target_runs(model, seed, entry, key)
                self._baselines(model, seed)
        return Plan(self.spec, list(self.runs.values()))

    def _baselines(self, model: ModelEntry, seed: int) -> None:
        """The compute controls of one model and seed, at every label budget of the sweep: plain,
        step-matched and converged scratch."""
        wanted = self.spec.baselines
        mine = [
            r
            for r in self.runs.values()
            if r.kind == "finetune" and r.model == model.label and r.seed == seed
        ]
        for n in sorted({r.n_train for r in mine}):
            only = [n] if n is not None else None
            # the label budget's own target budget (``budget.finetune_n<k>``) sets steps and epoch length
            budget = self.spec.budget.get(f"finetune_n{n}", {})
            probe = self._config(model, seed, "finetune", {"name": "scratch"}, budget)
            plain = probe.optimiser_steps
            per_epoch = plain // int(probe.resolved["trainer"].get("max_epochs") or 1000)
            if SCRATCH in wanted:
                self._target_runs(
                    model, seed, StrategyEntry(SCRATCH, {"name": "scratch"}, train_cases=only), None
                )
            totals = sorted({r.total_steps for r in mine if r.deps and r.n_train == n} - {plain})
            if MATCHED in wanted:
                for total in totals:
                    label = MATCHED if len(totals) == 1 else f"{MATCHED}_{total}"
                    entry = StrategyEntry(label, {"name": "scratch"}, train_cases=only)
                    self._target_runs(model, seed, entry, None, _budget(total, per_epoch))
            if CONVERGED in wanted:
                total = (
                    int(math.ceil(self.spec.converged_factor * max([plain, *totals]) / per_epoch)) * per_epoch
                )
                entry = StrategyEntry(CONVERGED, {"name": "scratch"}, train_cases=only)
                self._target_runs(model, seed, entry, None, _budget(total, per_epoch))


def _id_label(strategy: str) -> str:
    """The label a run id is made of: a step-matched scratch is ``scratch_matched`` whatever its row label
    (``scratch_matched_<steps>`` once a sweep has two matched totals), so adding a row with a new total
    does not rename, and retrain, the matched runs already done (their steps are in the id's hash)."""
    return MATCHED if strategy.startswith(f"{MATCHED}_") else strategy


def _budget(steps: int, per_epoch: int) -> dict:
    """Trainer settings for exactly ``steps`` optimiser steps of ``per_epoch`` iterations."""
    epochs = -(-steps // per_epoch)
    return {"trainer": {"max_epochs": epochs, **({"max_steps": steps} if steps % per_epoch else {})}}


def make_plan(spec: SweepSpec) -> Plan:
    return Planner(spec).plan()
