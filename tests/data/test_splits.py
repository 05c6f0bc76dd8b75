"""The benchmark's fixed folds ship with the package and are applied unchanged."""

import json
from pathlib import Path

import pytest

from transferbench.data.splits import benchmark_splits, covid_fold, source_split
from transferbench.errors import DataError

SHARED = Path(__file__).resolve().parents[2] / "shared" / "splits" / "covid19_ct_seg_benchmark.json"


def test_folds_shape():
    cases = set(benchmark_splits()["covid19_ct_seg"]["cases"])
    assert len(cases) == 20
    for fold in range(5):
        f = covid_fold(fold)
        assert len(f["train"]) == 4 and len(f["test"]) == 16
        assert set(f["train"]) | set(f["test"]) == cases and not set(f["train"]) & set(f["test"])
    assert len(covid_fold(0, "folds_16_train")["train"]) == 16


@pytest.mark.skipif(not SHARED.exists(), reason="shared/ not beside the checkout")
def test_packaged_file_is_the_benchmark_file():
    assert benchmark_splits() == json.loads(SHARED.read_text())


def test_bad_fold():
    with pytest.raises(DataError, match="fold 7"):
        covid_fold(7)
    with pytest.raises(DataError, match="scheme"):
        covid_fold(0, "folds_3")


def test_source_split_keeps_benchmark_assignment_of_a_subset():
    s = source_split("msd_lung_tumor", ["lung_001", "lung_003", "lung_004"])
    assert s == {"train": ["lung_001", "lung_004"], "val": ["lung_003"]}
    lidc = source_split("lidc_idri", [f"LIDC-IDRI-{i:04d}" for i in range(1, 11)])
    assert len(lidc["train"]) == 8 and len(lidc["val"]) == 2


def test_label_budget_subsets_are_nested_and_deterministic():
    from transferbench.data.splits import label_budget

    train = covid_fold(0, "folds_16_train")["train"]
    for seed in (0, 1, 2):
        subsets = [label_budget(train, n, seed) for n in (1, 2, 4, 8, 16)]
        for small, big in zip(subsets, subsets[1:]):
            assert set(small) < set(big)
        assert subsets == [label_budget(list(reversed(train)), n, seed) for n in (1, 2, 4, 8, 16)]
        assert sorted(subsets[-1]) == sorted(train)
    assert label_budget(train, 4, 0) != label_budget(train, 4, 1)  # another seed, another subset
    with pytest.raises(DataError, match="train_cases=17"):
        label_budget(train, 17, 0)
