"""The training data options that must hold together, checked before any case is read."""

from __future__ import annotations

from typing import Any

from transferbench.data.sources import Source, create_source
from transferbench.errors import DataError

TARGET = "covid19_ct_seg"


def read_sources(
    names: list[str],
    label_mode: str,
    train_sources: list[str] | None,
    extra_test: list[str] | None,
    val_source: str | None,
    val_cases: list[str] | None,
) -> tuple[list[Source], list[Source], list[Source], Source | None]:
    """(datasets, extra training sources, extra test sources, validation source), each named once."""
    extra = list(train_sources or [])
    if not names:
        raise DataError("data.dataset names no source")
    datasets = [create_source(n, **({"label_mode": label_mode} if n == TARGET else {})) for n in names]
    extra_sources = [create_source(n) for n in extra]
    test_sources = [create_source(n) for n in extra_test or []]
    if val_source is not None and val_cases:
        raise DataError("data.val_source and data.val_cases: give one (the cases to validate on)")
    named = {s.name for s in [*datasets, *extra_sources, *test_sources]}
    if len(named) != len(names) + len(extra) + len(test_sources):
        raise DataError(
            f"a source appears twice in data.dataset {names} / data.train_sources {extra} / "
            f"data.extra_test {extra_test}"
        )
    return datasets, extra_sources, test_sources, (create_source(val_source) if val_source else None)


def check_training_options(hp: Any, sources: dict, extra_sources: list) -> None:
    """One clear error for the first option that contradicts another (``hp``: the data module's hparams;
    ``sources``: every source read, by name; ``extra_sources``: the non-target training sources)."""
    if hp.train_on != "target" and not extra_sources:
        raise DataError(f"data.train_on={hp.train_on!r} needs data.train_sources")
    if hp.source_fraction is not None and (hp.train_on != "both" or not 0.0 < hp.source_fraction < 1.0):
        raise DataError("data.source_fraction must lie in (0, 1) and needs data.train_on='both'")
    if len(sources) > 1:
        binary = [s.name for s in sources.values() if s.num_classes != 2]
        if binary:
            raise DataError(f"pooling sources needs one lesion class each; {binary} have more")
    if len(hp.patch_size) == 3 and (hp.pos_fraction is None or tuple(hp.scales) != (1.0,)):
        raise DataError("3D patches need a data.pos_fraction and take no data.scales (2D slices only)")
    if hp.pipeline == "nnunet" and len(hp.patch_size) != 3:
        raise DataError("data.pipeline nnunet is nnU-Net's 3D pipeline: give a 3D data.patch_size")
    if hp.iterations_per_epoch % len(hp.scales):
        raise DataError(
            f"data.iterations_per_epoch {hp.iterations_per_epoch} must be a multiple of the "
            f"{len(hp.scales)} data.scales (one optimiser step per scale and batch)"
        )
