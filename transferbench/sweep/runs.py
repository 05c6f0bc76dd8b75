"""A sweep's runs and its plan as data: the one type the planner makes and the store, the launchers and the
aggregation read (its own module, so that none of them imports another for it)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from transferbench.sweep.spec import SweepSpec
from transferbench.training.run_config import RunConfig

IDENTITY_FIELDS = ("kind", "model", "strategy", "source", "fold", "seed", "n_train")


@dataclass
class Run:
    """One ``fit`` of the sweep: its id, its resolved configuration and the runs it starts from."""

    id: str
    kind: str  # "pretrain" or "finetune"
    model: str
    strategy: str
    source: str
    fold: int | None
    seed: int
    config: RunConfig
    results_dir: str
    deps: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # e.g. an ImageNet stage skipped for want of weights
    n_train: int | None = None  # labelled target volumes it trains on (None: a pretraining)
    steps: int = 0  # optimiser steps of this run
    total_steps: int = 0  # this run's steps plus the total steps of every run it starts from

    def record(self, status: str) -> dict[str, Any]:
        """The fields that say which run a record belongs to."""
        return {"id": self.id, "status": status, **{k: getattr(self, k) for k in IDENTITY_FIELDS}}

    def describe(self) -> dict[str, Any]:
        """What ``plan.json`` stores of the run."""
        return {"id": self.id, **{k: getattr(self, k) for k in IDENTITY_FIELDS}, "deps": self.deps,
                "notes": self.notes, "steps": self.steps, "total_steps": self.total_steps}  # fmt: skip


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

    def summary(self) -> str:
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
