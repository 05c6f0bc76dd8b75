"""Case-level statistics on hand-made per-case tables whose answers are known in advance."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from transferbench.evaluation import statistics as st

CASES = [f"c{i:02d}" for i in range(12)]


def rows(strategy: str, scores: dict[int, np.ndarray], source: str = "-") -> pd.DataFrame:
    """Per-case rows of one strategy: ``scores[seed][i]`` is case i's DSC in that seed's run."""
    out = []
    for seed, values in scores.items():
        for case, v in zip(CASES, values):
            out.append({"model": "m", "strategy": strategy, "source": source, "fold": 0, "seed": seed,
                        "run": f"{strategy}-{source}-s{seed}", "case": case, "class": 1, "dsc": float(v)})  # fmt: skip
    return pd.DataFrame(out)


RNG = np.random.default_rng(7)
BASE = RNG.uniform(0.3, 0.7, len(CASES))
GAIN = RNG.normal(0.05, 0.04, len(CASES))


def test_two_seeds_of_a_case_do_not_double_n():
    a = rows("a", {0: BASE + GAIN + 0.01, 1: BASE + GAIN - 0.01})
    b = rows("b", {0: BASE, 1: BASE})
    cmp = st.compare(a, b, n_boot=200)
    d = (a.groupby("case").dsc.mean() - b.groupby("case").dsc.mean()).to_numpy()
    assert cmp["n_cases"] == len(CASES)  # 12 cases, not 24 (case, seed) pairs
    assert cmp["p"] == pytest.approx(stats.wilcoxon(d).pvalue)
    assert cmp["diff"] == pytest.approx(d.mean()) and cmp["wins"] == int((d > 0).sum())
    assert cmp["per_seed"] == pytest.approx({0: d.mean() + 0.01, 1: d.mean() - 0.01})


def test_p_never_below_the_exact_floor():
    a = rows("a", {0: BASE + 0.1, 1: BASE + 0.2})
    b = rows("b", {0: BASE, 1: BASE})
    cmp = st.compare(a, b, n_boot=50)
    assert cmp["p"] == pytest.approx(st.exact_floor(len(CASES))) == pytest.approx(2 / 2**12)


def case_bootstrap(d: np.ndarray, n_boot: int, seed: int) -> tuple[float, float]:
    idx = np.random.default_rng(seed).integers(0, len(d), (n_boot, len(d)))
    return tuple(np.quantile(d[idx].mean(axis=1), [0.025, 0.975]))


def test_two_level_ci_matches_case_bootstrap_when_seeds_agree_and_widens_when_not():
    agree_a = np.column_stack([BASE + GAIN, BASE + GAIN])
    b = np.column_stack([BASE, BASE])
    lo, hi = st.two_level_ci(agree_a, b, n_boot=1000, seed=3)
    assert (lo, hi) == pytest.approx(case_bootstrap(GAIN, 1000, 3))
    noise = np.random.default_rng(1).normal(0, 0.15, len(CASES))
    disagree = np.column_stack([BASE + GAIN + noise, BASE + GAIN - noise])  # same case means
    lo2, hi2 = st.two_level_ci(disagree, b, n_boot=1000, seed=3)
    assert hi2 - lo2 > 1.5 * (hi - lo)


def test_two_level_ci_handles_cases_tested_by_different_numbers_of_runs():
    a = np.array([[0.6, np.nan, 0.8], [0.5, 0.5, np.nan]])
    b = np.array([[0.5, np.nan, np.nan], [np.nan, 0.4, np.nan]])
    lo, hi = st.two_level_ci(a, b, n_boot=500)
    # case differences: 0.7 - 0.5 = 0.2 and 0.5 - 0.4 = 0.1, with run resampling in case 0 (0.1 or 0.3)
    assert 0.05 <= lo <= 0.15 and 0.2 <= hi <= 0.3


def test_holm_equals_statsmodels_and_keeps_nan():
    p = np.random.default_rng(0).uniform(0, 0.2, 9)
    assert st.holm(p) == pytest.approx(multipletests(p, method="holm")[1].tolist())
    assert st.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    out = st.holm([0.2, float("nan"), 0.9])
    assert out[0] == pytest.approx(0.4) and math.isnan(out[1]) and out[2] == pytest.approx(0.9)


def test_friedman_finds_the_one_clearly_better_strategy():
    rng = np.random.default_rng(2)
    table = pd.DataFrame({"x": BASE + rng.normal(0, 0.01, 12), "y": BASE + rng.normal(0, 0.01, 12),
                          "best": BASE + 0.2, "z": BASE + rng.normal(0, 0.01, 12)}, index=CASES)  # fmt: skip
    res = st.friedman(table)
    assert res["p"] < 1e-3 and res["mean_rank"]["best"] == 1.0
    assert res["mean_rank"].drop("best").min() > 2.0
    post = res["posthoc"]
    assert post.loc["best", "x"] < 0.05 and post.loc["x", "y"] > 0.05
    # Demsar's CD for k = 4, n = 12: q_0.05 = 2.569
    assert res["cd"] == pytest.approx(2.569 * math.sqrt(4 * 5 / (6 * 12)), rel=2e-3)
    shares, tau = st.rank_stability(table, n_boot=200)
    best = shares[(shares.row == "best") & (shares["rank"] == 1)]
    assert best.share.iloc[0] == 1.0 and 0 < tau <= 1


def test_wilcoxon_edge_cases_and_detectable_difference():
    assert st.wilcoxon_p(np.zeros(5)) == 1.0 and math.isnan(st.wilcoxon_p(np.array([])))
    mdd = st.detectable_difference(0.1, 16)
    assert mdd == pytest.approx((1.959964 + 0.841621) * 0.1 / 4 * math.sqrt(math.pi / 3), rel=1e-5)
