"""Sweep specification: the YAML that declares a whole comparison, validated before anything runs.

Everything a sweep needs is in its file (DESIGN: nothing hidden in environment state, except that
``data_root`` may name ``$TRANSFERBENCH_DATA``). Every problem is reported with the key it concerns.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

TOP_KEYS = {
    "name", "description", "base_config", "data_root", "prepare_synthetic", "target", "models", "sources",
    "source_sets", "strategies", "seeds", "budget", "overrides", "dice_threshold", "results_dir", "launcher",
    "save_predictions", "imagenet_weights",
}  # fmt: skip
TARGET_KEYS = {"dataset", "label_mode", "fold_scheme", "folds", "extra_test"}
LAUNCHER_KEYS = {"name", "jobs", "cluster", "submitit"}


class SpecError(ValueError):
    """A sweep file that cannot be planned; the message names the file and the offending key."""


@dataclass
class StrategyEntry:
    """One strategy column of the leaderboard: a registered strategy with fixed arguments."""

    label: str
    config: dict[str, Any]
    sources: list[str] | None = None  # labels from `sources` / `source_sets`; None = every compatible one
    models: list[str] | None = None  # model labels this entry runs for; None = every model


@dataclass
class ModelEntry:
    label: str
    base_config: str
    overrides: dict[str, Any] = field(default_factory=dict)


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

    def source_members(self, key: str) -> list[str]:
        """Registered source names behind a ``sources`` or ``source_sets`` label."""
        return (
            [self.sources[key]] if key in self.sources else [self.sources[k] for k in self.source_sets[key]]
        )


def _fail(path: str, key: str, message: str) -> SpecError:
    return SpecError(f"{path}: `{key}`: {message}")


def _packaged_or_path(value: str, relative_to: Path) -> str:
    from transferbench.cli.main import packaged_configs

    p = Path(value)
    if p.is_file():
        return str(p)
    if (relative_to / p).is_file():
        return str(relative_to / p)
    configs = packaged_configs()
    if value in configs:
        return str(configs[value])
    raise FileNotFoundError(value)


def _strategy_entries(raw: Any, path: str) -> list[StrategyEntry]:
    from transferbench.strategies import StrategyError, create_strategy, strategy_class

    if not isinstance(raw, list) or not raw:
        raise _fail(path, "strategies", "needs a non-empty list")
    entries = []
    for i, item in enumerate(raw):
        key = f"strategies[{i}]"
        item = {"name": item} if isinstance(item, str) else copy.deepcopy(item)
        if not isinstance(item, dict) or "name" not in item:
            raise _fail(path, key, "needs a strategy name or a mapping with `name`")
        label = str(item.pop("label", item["name"]))
        only = item.pop("sources", None)
        for_models = item.pop("models", None)
        try:
            cls = strategy_class(item["name"])
            # validate the arguments now (sources filled in per run later)
            probe_sources = ["msd_lung_tumor", "structseg_gtv"][: max(cls.min_sources, 0)]
            create_strategy({**item, "sources": probe_sources})
        except StrategyError as err:
            raise _fail(path, key, str(err)) from None
        if "pretrained" in item:
            raise _fail(path, key, "`pretrained` is planned by the sweep; remove it")
        entries.append(
            StrategyEntry(
                label,
                item,
                None if only is None else list(only),
                None if for_models is None else list(for_models),
            )
        )
    labels = [e.label for e in entries]
    dupes = sorted({x for x in labels if labels.count(x) > 1})
    if dupes:
        raise _fail(path, "strategies", f"label(s) used twice: {dupes}; give variants a `label`")
    return entries


def load_spec(path: str | Path) -> SweepSpec:
    """Read and validate a sweep file; packaged sweep names (``synthetic``) are accepted."""
    from transferbench.data.sources import list_sources
    from transferbench.data.splits import benchmark_splits

    path = resolve_sweep_path(path)
    where = str(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise SpecError(f"{where}: not valid YAML: {err}") from None
    if not isinstance(raw, dict):
        raise SpecError(f"{where}: a sweep file is a mapping of keys (see sweeps/synthetic.yaml)")
    unknown = sorted(set(raw) - TOP_KEYS)
    if unknown:
        raise _fail(where, unknown[0], f"unknown key; allowed: {', '.join(sorted(TOP_KEYS))}")
    for key in ("name", "base_config", "models", "strategies", "seeds"):
        if key not in raw:
            raise _fail(where, key, "is required")
    name = str(raw["name"])
    if not name.replace("_", "").replace("-", "").isalnum():
        raise _fail(where, "name", f"use letters, digits, - and _ only, got {name!r}")

    data_root = os.path.expandvars(str(raw.get("data_root", "data/synthetic")))
    if "$" in data_root:
        raise _fail(where, "data_root", f"{raw.get('data_root')!r} names an unset environment variable")
    prepare = bool(raw.get("prepare_synthetic", False))
    if not prepare and not Path(data_root).is_dir():
        raise _fail(where, "data_root", f"data root {data_root} does not exist")

    target = {
        "dataset": "covid19_ct_seg",
        "label_mode": "infection",
        "fold_scheme": "folds_4_train",
        "folds": [0],
    }
    target.update(raw.get("target") or {})
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
    present = [n for n in extra_test if _has_cases(n, data_root)]
    notes = [
        f"target.extra_test: no {n} cases under {data_root}; not tested"
        for n in extra_test
        if n not in present
    ]
    if present:  # absent extra test sets are skipped (announced by the dry run), so no key: same run ids
        target["extra_test"] = present
    folds = [int(f) for f in target.pop("folds")]
    scheme = benchmark_splits()["covid19_ct_seg"].get(target["fold_scheme"])
    if scheme is None:
        raise _fail(where, "target.fold_scheme", f"unknown fold scheme {target['fold_scheme']!r}")
    outside = [f for f in folds if not 0 <= f < len(scheme)]
    if outside or not folds:
        raise _fail(
            where, "target.folds", f"fold(s) {outside or '[]'} outside the split file's 0..{len(scheme) - 1}"
        )

    sources = {str(k): str(v) for k, v in (raw.get("sources") or {}).items()}
    for label, src in sources.items():
        if src not in list_sources():
            raise _fail(
                where, f"sources.{label}", f"unknown source {src!r}; registered: {', '.join(list_sources())}"
            )
    source_sets = {str(k): [str(x) for x in v] for k, v in (raw.get("source_sets") or {}).items()}
    for label, members in source_sets.items():
        missing = [m for m in members if m not in sources]
        if missing or len(members) < 2:
            raise _fail(
                where, f"source_sets.{label}", f"needs 2+ labels from `sources`; unknown: {missing or 'none'}"
            )
        if label in sources:
            raise _fail(where, f"source_sets.{label}", "a set cannot share its label with a single source")

    base_dir = path.parent
    try:
        default_base = _packaged_or_path(str(raw["base_config"]), base_dir)
    except FileNotFoundError:
        raise _fail(
            where, "base_config", f"no config file or packaged config {raw['base_config']!r}"
        ) from None
    models = []
    if not isinstance(raw["models"], dict) or not raw["models"]:
        raise _fail(where, "models", "needs a mapping label -> {base_config?, overrides?}")
    for label, entry in raw["models"].items():
        entry = entry or {}
        extra = sorted(set(entry) - {"base_config", "overrides"})
        if extra:
            raise _fail(where, f"models.{label}.{extra[0]}", "unknown key; allowed: base_config, overrides")
        try:
            base = (
                _packaged_or_path(str(entry["base_config"]), base_dir)
                if "base_config" in entry
                else default_base
            )
        except FileNotFoundError:
            raise _fail(
                where, f"models.{label}.base_config", f"no such config {entry['base_config']!r}"
            ) from None
        models.append(ModelEntry(str(label), base, dict(entry.get("overrides") or {})))
    _check_model_classes(models, where)

    strategies = _strategy_entries(raw["strategies"], where)
    known = set(sources) | set(source_sets)
    for i, entry in enumerate(strategies):
        for s in entry.sources or []:
            if s not in known:
                raise _fail(
                    where, f"strategies[{i}].sources", f"{s!r} is not a label in `sources` or `source_sets`"
                )
    seeds = raw["seeds"]
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) for s in seeds):
        raise _fail(where, "seeds", "needs a non-empty list of integers")
    imagenet = raw.get("imagenet_weights")
    if imagenet is not None:
        from transferbench.strategies.imagenet import IMAGENET_HELP

        imagenet = os.path.expandvars(str(imagenet))
        if "$" in imagenet:  # e.g. ${TRANSFERBENCH_IMAGENET} unset: an offline machine without the file
            notes.append(f"imagenet_weights {imagenet} names an unset variable: ImageNet stages are skipped")
            imagenet = None
        elif not Path(imagenet).is_file():
            raise _fail(where, "imagenet_weights", f"{imagenet} not found; expected {IMAGENET_HELP}")
    elif any(e.config["name"] == "imagenet" or "imagenet" in e.config.get("chain", []) for e in strategies):
        notes.append("no imagenet_weights: ImageNet stages are skipped and marked so in the leaderboard")
    model_labels = {m.label for m in models}
    for e in strategies:
        unknown = [label for label in e.models or [] if label not in model_labels]
        if unknown:
            raise _fail(where, f"strategies.{e.label}.models", f"unknown model(s) {unknown}")
    budget = raw.get("budget") or {}
    extra = sorted(set(budget) - {"pretrain", "finetune"})
    if extra:
        raise _fail(where, f"budget.{extra[0]}", "unknown phase; allowed: pretrain, finetune")
    launcher = dict(raw.get("launcher") or {})
    extra = sorted(set(launcher) - LAUNCHER_KEYS)
    if extra:
        raise _fail(
            where, f"launcher.{extra[0]}", f"unknown key; allowed: {', '.join(sorted(LAUNCHER_KEYS))}"
        )
    return SweepSpec(
        name=name,
        path=where,
        data_root=data_root,
        target=target,
        folds=folds,
        models=models,
        sources=sources,
        source_sets=source_sets,
        strategies=strategies,
        seeds=[int(s) for s in seeds],
        budget={k: dict(budget.get(k) or {}) for k in ("pretrain", "finetune")},
        overrides=dict(raw.get("overrides") or {}),
        results_dir=str(raw.get("results_dir", f"results/{name}")),
        prepare_synthetic=prepare,
        dice_threshold=float(raw.get("dice_threshold", 0.5)),
        save_predictions=bool(raw.get("save_predictions", True)),
        launcher=launcher,
        description=str(raw.get("description", "")),
        notes=notes,
        imagenet_weights=imagenet,
    )


def _has_cases(source: str, root: str) -> bool:
    """Whether ``root`` holds any case of ``source`` (an optional extra test set is used only then)."""
    from transferbench.data.sources import create_source

    if not Path(root).is_dir():
        return False
    src = create_source(source)
    return bool(src.case_ids(src.locate(root)))


def _check_model_classes(models: list[ModelEntry], where: str) -> None:
    """A model's network class must import: a typo is a planning error, not a failed run."""
    import importlib

    for m in models:
        base = yaml.safe_load(Path(m.base_config).read_text()) or {}
        net = deep_merge(base.get("model", {}), m.overrides.get("model", {})).get("net", {})
        class_path = net.get("class_path") if isinstance(net, dict) else None
        if not class_path:
            raise _fail(where, f"models.{m.label}", f"{m.base_config} has no model.net.class_path")
        module, _, attr = class_path.rpartition(".")
        try:
            getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError):
            raise _fail(where, f"models.{m.label}", f"unknown network class {class_path!r}") from None


def deep_merge(base: dict, update: dict) -> dict:
    """``update`` over ``base``, recursively for mappings (lists and scalars are replaced)."""
    out = copy.deepcopy(base)
    for k, v in update.items():
        out[k] = (
            deep_merge(out[k], v)
            if isinstance(v, dict) and isinstance(out.get(k), dict)
            else copy.deepcopy(v)
        )
    return out


def packaged_sweeps() -> dict[str, Path]:
    from importlib import resources

    folder = resources.files("transferbench.sweeps")
    return {Path(str(p)).stem: Path(str(p)) for p in folder.iterdir() if str(p).endswith(".yaml")}


def resolve_sweep_path(path: str | Path) -> Path:
    p = Path(path)
    if p.is_file():
        return p
    sweeps = packaged_sweeps()
    if str(path) in sweeps:
        return sweeps[str(path)]
    raise SpecError(f"{path}: no such sweep file (packaged sweeps: {', '.join(sorted(sweeps))})")
