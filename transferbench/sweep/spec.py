"""Sweep specification: the YAML that declares a whole comparison, validated before anything runs.

Everything a sweep needs is in its file (DESIGN: nothing hidden in environment state, except that
``data_root`` may name ``$TRANSFERBENCH_DATA``). Every problem is reported with the key it concerns.
"""

from __future__ import annotations

import copy
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from transferbench.config import deep_merge, read_yaml
from transferbench.configs import find_config
from transferbench.data.sources import list_sources
from transferbench.data.splits import benchmark_splits
from transferbench.errors import SpecError, TransferbenchError
from transferbench.models.registry import network_class
from transferbench.strategies import create_strategy, strategy_class
from transferbench.strategies.imagenet import IMAGENET_HELP
from transferbench.sweep.optional import drop_absent_sources, present
from transferbench.sweeps import resolve_sweep_path

TOP_KEYS = {
    "name", "description", "base_config", "data_root", "prepare_synthetic", "target", "models", "sources",
    "source_sets", "strategies", "seeds", "budget", "overrides", "dice_threshold", "results_dir", "launcher",
    "save_predictions", "imagenet_weights", "baselines", "converged_factor", "common_random_numbers",
    "target_difference", "min_seeds", "optional_sources", "wandb",
}  # fmt: skip
WANDB_KEYS = ("project", "entity")
TARGET_KEYS = {"dataset", "label_mode", "fold_scheme", "folds", "extra_test", "train_cases", "val_source"}
LAUNCHER_KEYS = {"name", "jobs", "threads", "cluster", "submitit"}
BASELINES = ("scratch", "scratch_matched", "scratch_converged")
TARGET_DEFAULTS = {"dataset": "covid19_ct_seg", "label_mode": "infection", "fold_scheme": "folds_4_train",
                   "folds": [0]}  # fmt: skip


@dataclass
class StrategyEntry:
    """One strategy column of the leaderboard: a registered strategy with fixed arguments."""

    label: str
    config: dict[str, Any]
    sources: list[str] | None = None  # labels from `sources` / `source_sets`; None = every compatible one
    models: list[str] | None = None  # model labels this entry runs for; None = every model
    train_cases: list[int] | None = None  # label budgets of this entry; None = the sweep's


@dataclass
class ModelEntry:
    label: str
    base_config: str
    overrides: dict[str, Any] = field(default_factory=dict)
    budget: dict[str, dict[str, Any]] = field(default_factory=dict)  # per phase, over the sweep's budget

    def config(self) -> dict[str, Any]:
        """The model's base config with its overrides (what names its network)."""
        return deep_merge(read_yaml(self.base_config), self.overrides)


@dataclass
class SweepSpec:
    name: str
    path: str
    data_root: str
    target: dict[str, Any]
    folds: list[int]
    models: list[ModelEntry]
    sources: dict[str, str]
    source_sets: dict[str, list[str]]
    strategies: list[StrategyEntry]
    seeds: list[int]
    budget: dict[str, dict[str, Any]]
    overrides: dict[str, Any]
    results_dir: str
    prepare_synthetic: bool = False
    dice_threshold: float = 0.5
    save_predictions: bool = True
    launcher: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    notes: list[str] = field(default_factory=list)  # what planning decided on the user's behalf
    imagenet_weights: str | None = None  # torchvision ResNet-50 file for ImageNet stages; None = skipped
    baselines: list[str] = field(default_factory=lambda: list(BASELINES))
    converged_factor: float = 2.0  # scratch_converged trains this many times the largest matched budget
    common_random_numbers: bool = True  # strategies share a seed's initialisation and data order
    train_cases: list[int] | None = None  # label-budget axis (labelled target volumes); None = the fold's all
    wandb: dict[str, str] = field(default_factory=dict)  # W&B project / entity of every run of the sweep
    target_difference: float = 0.03  # DSC difference the design is powered for (statistics.TARGET_DIFFERENCE)
    min_seeds: int = 5  # fewer seeds: every verdict is "too few seeds" (statistics.MIN_SEEDS)

    def source_members(self, key: str) -> list[str]:
        """Registered source names behind a ``sources`` or ``source_sets`` label."""
        return (
            [self.sources[key]] if key in self.sources else [self.sources[k] for k in self.source_sets[key]]
        )

    def source_label(self, name: str) -> str:
        """The sweep's label of a registered source (the name itself when it has none)."""
        return next((label for label, src in self.sources.items() if src == name), name)

    def model_overrides(self, model: ModelEntry) -> dict[str, Any]:
        """The model's overrides with the sweep-wide ones on top."""
        return deep_merge(model.overrides, self.overrides)


def _fail(path: str, key: str, message: str) -> SpecError:
    return SpecError(f"{path}: `{key}`: {message}")


def _strategy_entry(item: Any, key: str, where: str) -> StrategyEntry:
    item = {"name": item} if isinstance(item, str) else copy.deepcopy(item)
    if not isinstance(item, dict) or "name" not in item:
        raise _fail(where, key, "needs a strategy name or a mapping with `name`")
    label = str(item.pop("label", item["name"]))
    only, for_models = item.pop("sources", None), item.pop("models", None)
    budgets = _budgets(item.pop("train_cases", None), where, f"{key}.train_cases")
    try:  # validate the arguments now (sources are filled in per run by the planner)
        probe = ["msd_lung_tumor", "structseg_gtv"][: max(strategy_class(item["name"]).min_sources, 0)]
        create_strategy({**item, "sources": probe})
    except TransferbenchError as err:
        raise _fail(where, key, str(err)) from None
    if "pretrained" in item:
        raise _fail(where, key, "`pretrained` is planned by the sweep; remove it")
    return StrategyEntry(label, item, None if only is None else list(only), None if for_models is None else list(for_models), budgets)  # fmt: skip


def _budgets(value: Any, where: str, key: str) -> list[int] | None:
    """A label-budget list (``[1, 2, 4]``), checked for shape here and against the fold at planning."""
    if value is None:
        return None
    if not isinstance(value, list) or not value or not all(isinstance(n, int) and n >= 1 for n in value):
        raise _fail(where, key, f"a list of labelled-case counts >= 1, e.g. [1, 2, 4]; got {value!r}")
    return sorted(set(value))


def _strategies(
    raw: dict, where: str, known_sources: set[str], model_labels: set[str]
) -> list[StrategyEntry]:
    items = raw["strategies"]
    if not isinstance(items, list) or not items:
        raise _fail(where, "strategies", "needs a non-empty list")
    entries = [_strategy_entry(item, f"strategies[{i}]", where) for i, item in enumerate(items)]
    # one label may come back at other label budgets (say, fewer sources where more volumes are labelled)
    cells = [(e.label, n) for e in entries for n in (e.train_cases or [None])]
    dupes = sorted({lab for lab, n in cells if cells.count((lab, n)) > 1 or (n and (lab, None) in cells)})
    if dupes:
        raise _fail(where, "strategies", f"label(s) used twice: {dupes}; give variants a `label`")
    for i, e in enumerate(entries):
        for s in e.sources or []:
            if s not in known_sources:
                raise _fail(
                    where, f"strategies[{i}].sources", f"{s!r} is not a label in `sources` or `source_sets`"
                )
        unknown = [label for label in e.models or [] if label not in model_labels]
        if unknown:
            raise _fail(where, f"strategies.{e.label}.models", f"unknown model(s) {unknown}")
    return entries


def _target(raw: dict, where: str, data_root: str, notes: list[str]) -> tuple[dict, list[int]]:
    target = {**TARGET_DEFAULTS, **(raw.get("target") or {})}
    bad = sorted(set(target) - TARGET_KEYS)
    if bad:
        raise _fail(where, f"target.{bad[0]}", f"unknown key; allowed: {', '.join(sorted(TARGET_KEYS))}")
    if target["dataset"] not in list_sources():
        raise _fail(
            where, "target.dataset", f"unknown source {target['dataset']!r}; registered: {list_sources()}"
        )
    extra_test = target.pop("extra_test", None) or []
    if not isinstance(extra_test, list) or any(n not in list_sources() for n in extra_test):
        raise _fail(
            where, "target.extra_test", f"a list of registered sources ({list_sources()}), got {extra_test!r}"
        )
    found = [n for n in extra_test if present(n, data_root)]
    notes += [
        f"target.extra_test: no {n} cases under {data_root}; not tested" for n in extra_test if n not in found
    ]
    if found:  # absent extra test sets are skipped (announced by the dry run), so no key: same run ids
        target["extra_test"] = found
    val_source = target.get("val_source")
    if val_source is not None and val_source not in list_sources():
        raise _fail(
            where, "target.val_source", f"unknown source {val_source!r}; registered: {list_sources()}"
        )
    folds = [int(f) for f in target.pop("folds")]
    budgets = _budgets(target.pop("train_cases", None), where, "target.train_cases")
    scheme = benchmark_splits()["covid19_ct_seg"].get(target["fold_scheme"])
    if scheme is None:
        raise _fail(where, "target.fold_scheme", f"unknown fold scheme {target['fold_scheme']!r}")
    outside = [f for f in folds if not 0 <= f < len(scheme)]
    if outside or not folds:
        raise _fail(
            where, "target.folds", f"fold(s) {outside or '[]'} outside the split file's 0..{len(scheme) - 1}"
        )
    too_many = [n for n in budgets or [] if n > min(len(scheme[f]["train"]) for f in folds)]
    if too_many:
        raise _fail(where, "target.train_cases", f"{too_many}: more than the fold's training cases")
    if budgets is not None:
        target["train_cases"] = budgets
    return target, folds


def _sources(raw: dict, where: str) -> tuple[dict[str, str], dict[str, list[str]]]:
    sources = {str(k): str(v) for k, v in (raw.get("sources") or {}).items()}
    for label, src in sources.items():
        if src not in list_sources():
            raise _fail(
                where, f"sources.{label}", f"unknown source {src!r}; registered: {', '.join(list_sources())}"
            )
    sets = {str(k): [str(x) for x in v] for k, v in (raw.get("source_sets") or {}).items()}
    for label, members in sets.items():
        missing = [m for m in members if m not in sources]
        if missing or len(members) < 2:
            raise _fail(
                where, f"source_sets.{label}", f"needs 2+ labels from `sources`; unknown: {missing or 'none'}"
            )
        if label in sources:
            raise _fail(where, f"source_sets.{label}", "a set cannot share its label with a single source")
    return sources, sets


def _models(raw: dict, where: str, base_dir: Path) -> list[ModelEntry]:
    default = find_config(str(raw["base_config"]), base_dir)
    if default is None:
        raise _fail(where, "base_config", f"no config file or packaged config {raw['base_config']!r}")
    if not isinstance(raw["models"], dict) or not raw["models"]:
        raise _fail(where, "models", "needs a mapping label -> {base_config?, overrides?}")
    models = []
    for label, entry in raw["models"].items():
        entry = entry or {}
        extra = sorted(set(entry) - {"base_config", "overrides", "budget"})
        if extra:
            raise _fail(
                where, f"models.{label}.{extra[0]}", "unknown key; allowed: base_config, overrides, budget"
            )
        phases = sorted(set(entry.get("budget") or {}) - {"pretrain", "finetune"})
        if phases:
            raise _fail(
                where, f"models.{label}.budget.{phases[0]}", "unknown phase; allowed: pretrain, finetune"
            )
        base = find_config(str(entry["base_config"]), base_dir) if "base_config" in entry else default
        if base is None:
            raise _fail(where, f"models.{label}.base_config", f"no such config {entry['base_config']!r}")
        budget = {k: dict(v or {}) for k, v in (entry.get("budget") or {}).items()}
        model = ModelEntry(str(label), str(base), dict(entry.get("overrides") or {}), budget)
        try:  # a typo in the network is a planning error, not a failed run
            network_class(model.config())
        except TransferbenchError as err:
            raise _fail(where, f"models.{label}", f"{err} (in {model.base_config})") from None
        models.append(model)
    return models


def _imagenet_weights(raw: dict, where: str, strategies: list[StrategyEntry], notes: list[str]) -> str | None:
    value = raw.get("imagenet_weights")
    if value is None:
        if any(e.config["name"] == "imagenet" or "imagenet" in e.config.get("chain", []) for e in strategies):
            notes.append("no imagenet_weights: ImageNet stages are skipped and marked so in the leaderboard")
        return None
    path = os.path.expandvars(str(value))
    if "$" in path:  # e.g. ${TRANSFERBENCH_IMAGENET} unset: an offline machine without the file
        notes.append(f"imagenet_weights {path} names an unset variable: ImageNet stages are skipped")
        return None
    if not Path(path).is_file():
        raise _fail(where, "imagenet_weights", f"{path} not found; expected {IMAGENET_HELP}")
    return path


def _checked_keys(raw: dict, where: str) -> dict:
    """The top-level checks: known keys, required keys, a usable name, phases and launcher keys."""
    unknown = sorted(set(raw) - TOP_KEYS)
    if unknown:
        raise _fail(where, unknown[0], f"unknown key; allowed: {', '.join(sorted(TOP_KEYS))}")
    for key in ("name", "base_config", "models", "strategies", "seeds"):
        if key not in raw:
            raise _fail(where, key, "is required")
    if not str(raw["name"]).replace("_", "").replace("-", "").isalnum():
        raise _fail(where, "name", f"use letters, digits, - and _ only, got {raw['name']!r}")
    seeds = raw["seeds"]
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) for s in seeds):
        raise _fail(where, "seeds", "needs a non-empty list of integers")
    if len(set(seeds)) < len(seeds):
        raise _fail(where, "seeds", f"lists a seed twice: {seeds}")
    for section, what, allowed in (
        ("budget", "phase", ("pretrain", "finetune", "finetune_n<labelled volumes>")),
        ("launcher", "key", sorted(LAUNCHER_KEYS)),
        ("wandb", "key", WANDB_KEYS),
    ):
        extra = sorted(k for k in set(raw.get(section) or {}) - set(allowed) if not _per_budget(section, k))
        if extra:
            raise _fail(where, f"{section}.{extra[0]}", f"unknown {what}; allowed: {', '.join(allowed)}")
    return raw


def _per_budget(section: str, key: Any) -> bool:
    """``budget.finetune_n4``: the target budget at one label budget (more volumes plateau later)."""
    return section == "budget" and re.fullmatch(r"finetune_n[1-9][0-9]*", str(key)) is not None


def _baselines(raw: dict, where: str) -> tuple[list[str], float]:
    """The compute controls every transfer row is compared with (all three unless the spec says less)."""
    baselines = raw.get("baselines", list(BASELINES))
    if not isinstance(baselines, list) or any(b not in BASELINES for b in baselines):
        raise _fail(where, "baselines", f"a list drawn from {list(BASELINES)}, got {baselines!r}")
    factor = raw.get("converged_factor", 2.0)
    if not isinstance(factor, int | float) or factor < 1:
        raise _fail(where, "converged_factor", f"a number >= 1 (times the matched budget), got {factor!r}")
    return list(baselines), float(factor)


def _design(raw: dict, where: str) -> dict:
    """The statistical design the verdicts follow: the target difference and the minimum number of seeds."""
    delta = raw.get("target_difference", 0.03)
    if isinstance(delta, bool) or not isinstance(delta, int | float) or not 0 < delta < 1:
        raise _fail(where, "target_difference", f"a DSC difference between 0 and 1, got {delta!r}")
    least = raw.get("min_seeds", 5)
    if isinstance(least, bool) or not isinstance(least, int) or least < 2:
        raise _fail(
            where, "min_seeds", f"an integer >= 2 (one seed cannot estimate seed variance), got {least!r}"
        )
    return {"target_difference": float(delta), "min_seeds": least}


def _data_root(raw: dict, where: str) -> str:
    data_root = os.path.expandvars(str(raw.get("data_root", "data/synthetic")))
    if "$" in data_root:
        raise _fail(where, "data_root", f"{raw.get('data_root')!r} names an unset environment variable")
    if not raw.get("prepare_synthetic", False) and not Path(data_root).is_dir():
        raise _fail(where, "data_root", f"data root {data_root} does not exist")
    return data_root


LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*")


def _check_labels(where: str, name: Any, models, sources, source_sets, strategies) -> None:
    """Labels become run ids, folder and figure names: letters, digits and ``_ . + -`` only (no ``/``, no
    ``..``), so nothing is written outside the results folder."""
    labelled = [("name", name), *((f"models.{m.label}", m.label) for m in models)]
    labelled += [(f"sources.{k}", k) for k in sources] + [(f"source_sets.{k}", k) for k in source_sets]
    labelled += [(f"strategies.{e.label}.label", e.label) for e in strategies]
    for key, label in labelled:
        if not LABEL.fullmatch(str(label)) or ".." in str(label):
            raise _fail(
                where, key, f"label {str(label)!r} may hold only letters, digits and _ . + - (it names files)"
            )


def load_spec(path: str | Path, seeds: list[int] | None = None) -> SweepSpec:
    """Read and validate a sweep file; packaged sweep names (``synthetic``) are accepted. ``seeds`` replaces
    the file's seeds (``sweep --seeds``: more seeds into the same results folder, the done runs kept, since a
    run's id does not depend on the other seeds)."""
    path = resolve_sweep_path(path)
    where = str(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise SpecError(f"{where}: not valid YAML: {err}") from None
    if not isinstance(raw, dict):
        raise SpecError(f"{where}: a sweep file is a mapping of keys (see sweeps/synthetic.yaml)")
    if seeds is not None:
        raw["seeds"] = list(seeds)
    _checked_keys(raw, where)
    notes: list[str] = []
    data_root = _data_root(raw, where)
    drop_absent_sources(raw, where, data_root, notes)
    target, folds = _target(raw, where, data_root, notes)
    train_cases = target.pop("train_cases", None)
    sources, source_sets = _sources(raw, where)
    models = _models(raw, where, path.parent)
    strategies = _strategies(raw, where, set(sources) | set(source_sets), {m.label for m in models})
    _check_labels(where, raw["name"], models, sources, source_sets, strategies)
    budget = raw.get("budget") or {}
    baselines, factor = _baselines(raw, where)
    design = _design(raw, where)
    if len(raw["seeds"]) < design["min_seeds"]:
        notes.append(
            f"warning: {len(raw['seeds'])} seed(s), fewer than min_seeds {design['min_seeds']}: every verdict will "
            "be `too few seeds` (seeds and cases are crossed; below that no training-procedure claim of the "
            "target difference is within reach; docs/statistics.md)"
        )
    return SweepSpec(
        name=str(raw["name"]), path=where, data_root=data_root, target=target, folds=folds, models=models,
        sources=sources, source_sets=source_sets, strategies=strategies, seeds=[int(s) for s in raw["seeds"]],
        budget={k: dict(budget.get(k) or {}) for k in {"pretrain", "finetune", *budget}},
        overrides=dict(raw.get("overrides") or {}),
        results_dir=str(raw.get("results_dir", f"results/{raw['name']}")),
        prepare_synthetic=bool(raw.get("prepare_synthetic", False)),
        dice_threshold=float(raw.get("dice_threshold", 0.5)),
        save_predictions=bool(raw.get("save_predictions", True)), launcher=dict(raw.get("launcher") or {}),
        description=str(raw.get("description", "")), notes=notes,
        imagenet_weights=_imagenet_weights(raw, where, strategies, notes), baselines=baselines,
        converged_factor=factor, common_random_numbers=bool(raw.get("common_random_numbers", True)),
        train_cases=train_cases, wandb={k: str(v) for k, v in (raw.get("wandb") or {}).items()}, **design,
    )  # fmt: skip
