"""Planner: expand a sweep spec into pretraining and fine-tuning runs with dependencies.

Each distinct pretraining (model, source set, label pooling, chain, seed) appears once and is shared by
every run that needs it, whatever its strategy or fold. A run id is a stable hash of what determines the
run (its resolved configuration without output paths, and the ids of the runs it starts from), so a
re-run finds finished work and an edited spec only re-plans what changed.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from transferbench.data.synthetic import synthetic_params
from transferbench.strategies import PretrainNeed, create_strategy, strategy_class
from transferbench.sweep.spec import SpecError, SweepSpec, deep_merge


@dataclass
class Run:
    """One ``fit`` of the sweep: its id, its config overlay on ``base_config`` and what it depends on."""

    id: str
    kind: str  # "pretrain" or "finetune"
    model: str
    strategy: str
    source: str
    fold: int | None
    seed: int
    base_config: str
    overlay: dict[str, Any]
    deps: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # e.g. an ImageNet stage skipped for want of weights

    def folder(self, results_dir: str | Path) -> Path:
        return Path(results_dir) / "runs" / self.id

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Plan:
    spec: SweepSpec
    runs: list[Run]

    def levels(self) -> list[list[Run]]:
        """Runs grouped so that every run's dependencies lie in earlier groups."""
        level: dict[str, int] = {}
        for run in self.runs:  # runs are planned dependencies first
            level[run.id] = 1 + max((level[d] for d in run.deps), default=-1)
        return [
            [r for r in self.runs if level[r.id] == i] for i in range(max(level.values(), default=-1) + 1)
        ]

    def summary(self, naive: int | None = None) -> str:
        kinds = Counter(r.kind for r in self.runs)
        users = Counter(d for r in self.runs for d in r.deps)
        lines = [
            f"sweep {self.spec.name}: {len(self.runs)} runs = {kinds['pretrain']} pretraining + "
            f"{kinds['finetune']} target runs ({len(self.spec.models)} model(s) x {len(self.spec.folds)} fold(s) "
            f"x {len(self.spec.seeds)} seed(s))",
            f"  without sharing, the same grid would train {self.naive_trainings()} times",
        ]
        for run in self.runs:
            if run.kind == "pretrain":
                lines.append(f"  shared pretraining {run.id}: used by {users[run.id]} run(s)")
        by_strategy = Counter(r.strategy for r in self.runs if r.kind == "finetune")
        lines.append("  target runs per strategy: " + ", ".join(f"{k} {v}" for k, v in by_strategy.items()))
        return "\n".join(lines)

    def naive_trainings(self) -> int:
        """Trainings a plan without sharing would run: every target run retrains its own pretraining chain."""
        depth = {}
        for run in self.runs:
            depth[run.id] = 1 + sum(depth[d] for d in run.deps)
        return sum(depth[r.id] for r in self.runs if r.kind == "finetune")


def _hash(obj: Any) -> str:
    return hashlib.sha1(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:10]


def _base(path: str) -> dict:
    return yaml.safe_load(Path(path).read_text()) or {}


def _identity(run: Run) -> dict:
    """What determines a run's outcome: its resolved config minus output locations, plus its inputs."""
    cfg = deep_merge(_base(run.base_config), run.overlay)
    trainer = dict(cfg.get("trainer") or {})
    for k in ("default_root_dir", "logger", "enable_progress_bar"):
        trainer.pop(k, None)
    data = {
        k: v
        for k, v in (cfg.get("data") or {}).items()
        if k not in ("root", "cache_dir", "prepare_synthetic", "num_workers")
    }
    strategy = {k: v for k, v in (cfg.get("strategy") or {}).items() if k != "pretrained"}
    model = {
        k: v for k, v in (cfg.get("model") or {}).items() if k not in ("save_predictions", "results_dir")
    }
    return {
        "kind": run.kind,
        "label": run.strategy,
        "trainer": trainer,
        "data": data,
        "model": model,
        "strategy": strategy,
        "seed": cfg.get("seed_everything"),
        "deps": run.deps,
    }


def _slug(*parts: Any) -> str:
    return "-".join(str(p) for p in parts if p not in (None, "", "-")).replace("/", "_")


class Planner:
    def __init__(self, spec: SweepSpec) -> None:
        self.spec = spec
        self.runs: list[Run] = []
        self._by_id: dict[str, Run] = {}
        self._pretrain: dict[tuple, str] = {}
        self.results_dir = Path(spec.results_dir)
        self.data_id = synthetic_params() if spec.prepare_synthetic else None

    def _common(self, model, seed: int, phase: str) -> dict:
        spec = self.spec
        overlay = deep_merge(model.overrides, spec.overrides)
        overlay = deep_merge(overlay, spec.budget.get(phase, {}))
        return deep_merge(
            overlay,
            {
                "seed_everything": seed,
                "trainer": {"enable_progress_bar": False},
                "data": {"root": spec.data_root, "prepare_synthetic": False},
            },
        )

    def _add(self, run: Run, tags: list[str]) -> Run:
        run.id = _slug(
            {"pretrain": "pre", "finetune": "ft"}[run.kind],
            run.model,
            run.strategy,
            run.source,
            f"f{run.fold}" if run.fold is not None else "",
            f"s{run.seed}",
            _hash({**_identity(run), "data_id": self.data_id}),
        )
        folder = str(run.folder(self.results_dir))
        run.overlay = deep_merge(
            run.overlay,
            {
                "trainer": {
                    "default_root_dir": folder,
                    "logger": [
                        {
                            "class_path": "pytorch_lightning.loggers.CSVLogger",
                            "init_args": {"save_dir": folder, "name": "logs", "flush_logs_every_n_steps": 1},
                        },
                        {
                            "class_path": "transferbench.training.loggers.WandbLogger",
                            "init_args": {
                                "save_dir": folder,
                                "group": self.spec.name,
                                "name": run.id,
                                "tags": tags,
                            },
                        },
                    ],
                }
            },
        )
        if run.id not in self._by_id:
            self.runs.append(run)
            self._by_id[run.id] = run
        return run

    def pretraining(self, model, need: PretrainNeed) -> str:
        """Id of the run that trains ``need`` (planned once, with its own chain before it)."""
        key = (model.label, need.sources, need.labels, need.chain, need.seed)
        if key in self._pretrain:
            return self._pretrain[key]
        deps: list[str] = []
        strategy: dict[str, Any] = {"name": "scratch"}
        if need.chain and need.chain[-1] == "imagenet":
            if len(need.chain) > 1:
                raise SpecError(
                    f"{self.spec.path}: ImageNet can only be the first stage of a chain, got {need.chain}"
                )
            strategy = self._imagenet(model)
        elif need.chain:
            previous = PretrainNeed((need.chain[-1],), "merged", need.chain[:-1], need.model, need.seed)
            deps = [self.pretraining(model, previous)]
            strategy = {"name": "finetune", "sources": [need.chain[-1]]}
            if need.chain[:-1]:
                strategy["chain"] = list(need.chain[:-1])
            strategy["pretrained"] = str(
                Path(self.results_dir) / "runs" / deps[0] / "checkpoints" / "last.ckpt"
            )
        overlay = self._common(model, need.seed or 0, "pretrain")
        overlay = deep_merge(
            overlay, {"data": need.data_args(), "strategy": strategy, "test_after_fit": False}
        )
        if need.labels == "per_source" and len(need.sources) > 1:
            overlay = deep_merge(
                overlay, {"model": {"net": {"init_args": {"out_channels": 1 + len(need.sources)}}}}
            )
        label = "+".join(self._source_label(s) for s in need.sources)
        if need.labels == "per_source" and len(need.sources) > 1:
            label += "_per_source"
        run = Run(
            "",
            "pretrain",
            model.label,
            "pretrain",
            label,
            None,
            need.seed or 0,
            model.base_config,
            overlay,
            deps,
        )
        if need.chain:
            label = ">".join([*need.chain, label])
            run.source = label
        run.notes = self._notes(strategy, deps)
        run = self._add(run, [model.label, "pretrain", label, f"seed{need.seed}"])
        self._pretrain[key] = run.id
        return run.id

    def _imagenet(self, model) -> dict[str, Any]:
        """The ImageNet stage's strategy for ``model``: the sweep's weights file, or skipped without one."""
        if not _has_imagenet_backbone(model):
            raise SpecError(
                f"{self.spec.path}: model {model.label!r} has no ResNet-50 backbone for an ImageNet stage"
            )
        weights = self.spec.imagenet_weights
        return {"name": "imagenet", "weights": weights, "skip_if_missing": weights is None}

    def _notes(self, strategy: dict[str, Any], deps: list[str]) -> list[str]:
        """Notes of this run: an ImageNet stage it skips, and those of the runs it starts from."""
        from transferbench.strategies.imagenet import SKIPPED

        notes = [SKIPPED] if strategy.get("name") == "imagenet" and strategy.get("skip_if_missing") else []
        for d in deps:
            notes += [n for n in self._by_id[d].notes if n not in notes]
        return notes

    def _source_label(self, name: str) -> str:
        for label, src in self.spec.sources.items():
            if src == name:
                return label
        return name

    def _source_keys(self, entry) -> list[str | None]:
        cls = strategy_class(entry.config["name"])
        keys = entry.sources if entry.sources is not None else [*self.spec.sources, *self.spec.source_sets]
        fits = []
        for key in keys:
            n = len(self.spec.source_members(key))
            if n >= cls.min_sources and (cls.max_sources is None or n <= cls.max_sources):
                fits.append(key)
        if cls.max_sources == 0:
            return [None]
        if not fits:
            raise SpecError(
                f"{self.spec.path}: `strategies` entry {entry.label!r} fits none of the sources / source sets"
            )
        return fits

    def plan(self) -> Plan:
        spec = self.spec
        for model in spec.models:
            for seed in spec.seeds:
                for entry in spec.strategies:
                    if entry.models is not None and model.label not in entry.models:
                        continue
                    for key in self._source_keys(entry):
                        members = spec.source_members(key) if key else []
                        strategy = create_strategy({**entry.config, "sources": members})
                        deps = [self.pretraining(model, n) for n in strategy.needs(model.label, seed)]
                        cfg = {**entry.config, "sources": members}
                        if cfg["name"] == "imagenet":
                            cfg = {**self._imagenet(model), **cfg}
                        if deps:
                            cfg["pretrained"] = [
                                str(Path(spec.results_dir) / "runs" / d / "checkpoints" / "last.ckpt")
                                for d in deps
                            ]
                            if len(deps) == 1:
                                cfg["pretrained"] = cfg["pretrained"][0]
                        for fold in spec.folds:
                            overlay = self._common(model, seed, "finetune")
                            overlay = deep_merge(
                                overlay,
                                {
                                    "data": {**spec.target, "fold": fold},
                                    "strategy": cfg,
                                    "test_after_fit": True,
                                    "model": {"save_predictions": spec.save_predictions},
                                },
                            )
                            run = Run(
                                "",
                                "finetune",
                                model.label,
                                entry.label,
                                key or "-",
                                fold,
                                seed,
                                model.base_config,
                                overlay,
                                deps,
                            )
                            tags = [model.label, entry.label, key or "none", f"fold{fold}", f"seed{seed}"]
                            run.notes = self._notes(cfg, deps)
                            self._add(run, tags)
        return Plan(spec, self.runs)


def _has_imagenet_backbone(model) -> bool:
    import importlib

    net = deep_merge(_base(model.base_config).get("model", {}), model.overrides.get("model", {})).get(
        "net", {}
    )
    module, _, attr = str(net.get("class_path", "")).rpartition(".")
    try:
        cls = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError, ValueError):
        return False
    return getattr(cls, "key_to_encoder", None) == "backbone."


def make_plan(spec: SweepSpec) -> Plan:
    return Planner(spec).plan()
