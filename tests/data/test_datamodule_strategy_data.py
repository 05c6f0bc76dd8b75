"""The data each strategy trains on: pooled sources, source-only and joint mixing, per-source labels."""

from __future__ import annotations

import numpy as np
import pytest

from transferbench.data.datamodule import CTSegDataModule
from transferbench.errors import DataError

SOURCES = ["msd_lung_tumor", "structseg_gtv", "nsclc_pleural_effusion"]


def ids(cases):
    return [(c.source, c.case_id) for c in cases]


def dm(root, **kw) -> CTSegDataModule:
    return CTSegDataModule(root=str(root), **kw)


def test_multisource_dataset_is_the_exact_union(synthetic_root):
    single = {s: dm(synthetic_root, dataset=s).resolve_cases() for s in SOURCES}
    pooled = dm(synthetic_root, dataset=SOURCES).resolve_cases()
    for split in ("train", "val", "test"):
        expected = [x for s in SOURCES for x in ids(single[s][split])]
        assert ids(pooled[split]) == expected
        assert len(set(expected)) == len(expected) > 0


def test_per_source_labels_shift_each_source(synthetic_root, tmp_path):
    d = dm(synthetic_root, dataset=SOURCES[:2], label_merge="per_source", cache_dir=str(tmp_path))
    assert d.num_classes == 3
    d.setup("validate")
    by_source = {}
    for case, item in zip(d.cases["val"], d._val):
        by_source.setdefault(case.source, set()).update(np.unique(item["label"].numpy()).tolist())
    assert by_source == {SOURCES[0]: {0, 1}, SOURCES[1]: {0, 2}}
    shifts = {i["case_id"]: i["label_shift"] for i in d.test_items()}
    assert sorted(set(shifts.values())) == [0, 1]
    merged = dm(synthetic_root, dataset=SOURCES[:2])
    assert merged.num_classes == 2 and merged.label_shift(d.cases["val"][-1]) == 0


def test_source_only_trains_and_validates_on_sources_tests_on_covid(synthetic_root):
    d = dm(synthetic_root, train_sources=SOURCES[:2], train_on="sources")
    cases = d.resolve_cases()
    assert {c.source for c in cases["train"]} == set(SOURCES[:2])
    assert {c.source for c in cases["val"]} == set(SOURCES[:2])
    target = dm(synthetic_root).resolve_cases()
    assert ids(cases["test"]) == ids(target["test"]) and len(cases["test"]) == 16


def test_joint_sampling_ratio_over_many_draws(synthetic_root):
    d = dm(
        synthetic_root,
        train_sources=[SOURCES[0]],
        train_on="both",
        source_fraction=0.3,
        iterations_per_epoch=20000,
    )
    d.cases = d.resolve_cases()
    d._train_weights = d.sampling_weights(d.cases["train"])
    is_source = np.array([c.source == SOURCES[0] for c in d.cases["train"]])
    assert is_source.sum() > 0 and (~is_source).sum() == 4  # the fold's 4 COVID-19 training cases
    draws = np.array(list(iter(d.train_sampler(list(range(len(d.cases["train"])))))))
    assert abs(is_source[draws].mean() - 0.3) < 0.015
    counts = np.bincount(draws[~is_source[draws]], minlength=len(is_source))[~is_source]
    assert counts.min() > 0.8 * counts.mean()  # COVID cases drawn evenly among themselves
    pooled = dm(synthetic_root, train_sources=[SOURCES[0]], train_on="both")
    weights = pooled.sampling_weights(d.cases["train"])
    assert np.allclose(weights, 1 / len(weights))


@pytest.mark.parametrize(
    "kw, message",
    [
        ({"train_on": "sources"}, "needs data.train_sources"),
        ({"train_sources": ["covid19_ct_seg"]}, "appears twice"),
        ({"train_sources": [SOURCES[0]], "source_fraction": 0.5}, "train_on='both'"),
        ({"label_mode": "lungs", "train_sources": [SOURCES[0]], "train_on": "both"}, "one lesion class"),
    ],
)
def test_inconsistent_data_settings(synthetic_root, kw, message):
    with pytest.raises(DataError, match=message):
        dm(synthetic_root, **kw)


def test_label_budget_trains_on_a_subset_and_tests_on_the_same_cases(synthetic_root):
    full = dm(synthetic_root).resolve_cases()
    one = dm(synthetic_root, train_cases=1, subset_seed=3).resolve_cases()
    two = dm(synthetic_root, train_cases=2, subset_seed=3).resolve_cases()
    assert (
        len(one["train"]) == 1 and len(two["train"]) == 2 and set(ids(one["train"])) < set(ids(two["train"]))
    )
    assert set(ids(two["train"])) < set(ids(full["train"])) and ids(two["val"]) == ids(two["train"])
    assert ids(one["test"]) == ids(two["test"]) == ids(full["test"])
