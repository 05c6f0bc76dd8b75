"""The comparison statistics on hand-made tables and simulated crossed designs whose answers are known."""

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
    assert cmp["n_cases"] == len(CASES) and cmp["n_seeds"] == 2  # 12 cases, not 24 (case, seed) pairs
    assert cmp["p_case"] == pytest.approx(stats.wilcoxon(d).pvalue)
    assert cmp["diff"] == pytest.approx(d.mean()) and cmp["wins"] == int((d > 0).sum())
    assert cmp["per_seed"] == pytest.approx({0: d.mean() + 0.01, 1: d.mean() - 0.01})
    assert cmp["seeds_won"] == 2


def test_case_level_p_never_below_the_exact_floor():
    a = rows("a", {0: BASE + 0.1, 1: BASE + 0.2})
    b = rows("b", {0: BASE, 1: BASE})
    cmp = st.compare(a, b, n_boot=50)
    assert cmp["p_case"] == pytest.approx(st.exact_floor(len(CASES))) == pytest.approx(2 / 2**12)


# --- the crossed interval ------------------------------------------------------------------------------

HAND = np.array([[0.10, 0.20, 0.00, 0.30], [0.00, 0.20, -0.10, 0.10], [0.20, 0.50, 0.10, 0.40]])


def test_mean_squares_and_interval_against_hand_computation():
    # grand mean 0.1667; seed means 0.15, 0.05, 0.30; case means 0.10, 0.30, 0.00, 0.2667
    # SS_seed = 4 (0.0167^2 + 0.1167^2 + 0.1333^2) = 0.12667, MS_seed = 0.063333
    # SS_case = 3 (0.0667^2 + 0.1333^2 + 0.1667^2 + 0.1^2) = 0.18, MS_case = 0.06
    # SS_total = 0.32667, SS_resid = 0.32667 - 0.12667 - 0.18 = 0.02, MS_resid = 0.02 / 6 = 0.0033333
    ms = st.MeanSquares.of(HAND)
    assert (ms.seed, ms.case, ms.resid) == pytest.approx((0.0633333, 0.06, 0.0033333), rel=1e-4)
    var = (0.0633333 + 0.06 - 0.0033333) / 12
    df = (0.0633333 + 0.06 - 0.0033333) ** 2 / (0.0633333**2 / 2 + 0.06**2 / 3 + 0.0033333**2 / 6)
    out = st.crossed_interval(HAND)
    assert out["se"] == pytest.approx(math.sqrt(var), rel=1e-4) and out["df"] == pytest.approx(df, rel=1e-4)
    half = stats.t.ppf(0.975, df) * math.sqrt(var)
    assert (out["ci_low"], out["ci_high"]) == pytest.approx(
        (HAND.mean() - half, HAND.mean() + half), rel=1e-4
    )
    assert out["p"] == pytest.approx(2 * stats.t.sf(HAND.mean() / math.sqrt(var), df), rel=1e-4)
    assert out["design"] == "balanced" and out["n_seeds"] == 3 and out["n_cases"] == 4


def test_negative_component_is_truncated_not_subtracted():
    # identical seeds: MS_seed = 0 < MS_resid = 0, the case variance alone: the t-interval over case means
    d = np.tile(GAIN, (3, 1))
    out = st.crossed_interval(d)
    ref = stats.ttest_1samp(GAIN, 0.0)
    assert out["se"] == pytest.approx(GAIN.std(ddof=1) / math.sqrt(len(GAIN)))
    assert out["df"] == pytest.approx(len(GAIN) - 1) and out["p"] == pytest.approx(ref.pvalue)


def simulate(
    n_seeds: int, n_cases: int, sds: tuple[float, float, float], rng, truth: float = 0.02
) -> np.ndarray:
    seed_sd, case_sd, resid_sd = sds
    return (truth + rng.normal(0, seed_sd, (n_seeds, 1)) + rng.normal(0, case_sd, (1, n_cases))
            + rng.normal(0, resid_sd, (n_seeds, n_cases)))  # fmt: skip


@pytest.mark.parametrize("n_seeds", [3, 5, 10])
def test_crossed_interval_covers_the_truth_at_its_nominal_level(n_seeds):
    """The issue's crossed model (seed sd 0.05, case sd 0.03, residual 0.04; 16 cases): 95% intervals must
    cover the true difference in 90-98% of simulated studies (the two-level bootstrap managed 54%)."""
    rng = np.random.default_rng(n_seeds)
    hits = 0
    for _ in range(800):
        out = st.crossed_interval(simulate(n_seeds, 16, (0.05, 0.03, 0.04), rng))
        hits += out["ci_low"] <= 0.02 <= out["ci_high"]
    assert 0.90 <= hits / 800 <= 0.98


def test_a_case_only_interval_would_not_cover():
    """The interval it replaces (a t-interval over the 16 seed-averaged case means) ignores the seed effect."""
    rng = np.random.default_rng(0)
    hits = 0
    for _ in range(400):
        means = simulate(3, 16, (0.05, 0.03, 0.04), rng).mean(axis=0)
        lo, hi = stats.t.interval(0.95, 15, means.mean(), stats.sem(means))
        hits += lo <= 0.02 <= hi
    assert hits / 400 < 0.7


def test_cross_checks_agree_with_the_closed_form_when_seeds_are_many():
    d = simulate(10, 16, (0.05, 0.03, 0.04), np.random.default_rng(5))
    primary = st.crossed_interval(d)
    lo, hi = st.pigeonhole_ci(d, n_boot=4000, seed=1)
    width = primary["ci_high"] - primary["ci_low"]
    assert abs((hi - lo) - width) < 0.35 * width
    mixed = st.mixedlm_interval(d)
    assert mixed["mean"] == pytest.approx(primary["mean"])
    assert mixed["se"] == pytest.approx(primary["se"], rel=0.2)


def test_unbalanced_designs_keep_the_larger_complete_block():
    d = pd.DataFrame(simulate(4, 6, (0.05, 0.03, 0.04), np.random.default_rng(2)))
    d.iloc[1, 2] = np.nan  # one missing cell: drop that case (20 cells) rather than that seed (18)
    out = st.crossed_interval(d)
    assert out["n_seeds"] == 4 and out["n_cases"] == 5 and out["design"] == "complete cases (1 of 6 left out)"
    assert out["mean"] == pytest.approx(d.drop(columns=2).to_numpy().mean())
    d.iloc[1, :] = np.nan
    d.iloc[1, 0] = 0.1  # a seed that scored one case: drop the seed
    out = st.crossed_interval(d)
    assert out["n_seeds"] == 3 and out["design"] == "complete seeds (1 of 4 left out)"


def test_one_seed_gives_a_case_only_interval():
    out = st.crossed_interval(GAIN[None, :])
    assert out["design"] == "cases only (1 seed)" and out["df"] == len(GAIN) - 1
    assert out["p"] == pytest.approx(stats.ttest_1samp(GAIN, 0.0).pvalue)


# --- replication, power, verdict -----------------------------------------------------------------------


def test_probability_of_improvement():
    a = np.array([[0.6, 0.7], [0.5, 0.8]])
    assert st.probability_of_improvement(a, a - 0.2, n_boot=100)[0] == 1.0
    assert st.probability_of_improvement(a, a, n_boot=0)[0] == 0.5  # each case: 2 ties of 4 pairs
    b = np.array([[0.55, 0.9], [0.45, 0.9]])
    # case 0: A {0.6, 0.5} vs B {0.55, 0.45}: 3 of 4 pairs; case 1: A {0.7, 0.8} vs B {0.9, 0.9}: none
    point, lo, hi = st.probability_of_improvement(a, b, n_boot=500)
    assert point == pytest.approx(0.375) and 0 <= lo <= point <= hi <= 1


def test_seeds_needed_follows_statsmodels_power():
    from statsmodels.stats.power import TTestPower

    pure = {"seed": 0.02**2, "case": 0.0, "resid": 0.0}  # per-seed sd 0.02 (statistics.md: about 6 seeds)
    assert st.seeds_needed(pure, 16, 0.03) == math.ceil(TTestPower().solve_power(1.5, power=0.8, alpha=0.05))
    assert st.seeds_needed(pure, 16, 0.03) == 6
    assert st.seeds_needed({"seed": 0.05**2, "case": 0.0, "resid": 0.0}, 16, 0.03) == 24
    assert st.seeds_needed({"seed": 0.0, "case": 0.3**2, "resid": 0.0}, 4, 0.03) == math.inf
    assert st.seed_power(pure, 6, 16, 0.03) >= 0.8 > st.seed_power(pure, 5, 16, 0.03)


def test_verdict_rules():
    assert st.verdict(0.05, 0.001, 3, 3) == "too few seeds"  # below MIN_SEEDS whatever the p
    assert st.verdict(0.05, 0.001, 5, 4) == "better" and st.verdict(-0.05, 0.01, 6, 20) == "worse"
    assert st.verdict(0.01, 0.4, 5, 4) == "no evidence"  # had the seeds, found nothing
    assert st.verdict(0.01, 0.4, 5, 30) == "too few seeds"  # could not have found the target difference
    assert st.verdict(0.01, math.nan, 5, 4) == "too few seeds"


def test_a_claimed_row_never_has_an_interval_through_zero():
    """Verdicts better / worse come from Holm p < 0.05 of the same t-test, so their raw 95% CI excludes 0."""
    rng = np.random.default_rng(11)
    frames = []
    for r in range(8):
        base = 0.5 + simulate(6, 12, (0.05, 0.1, 0.03), rng, truth=0.0)
        row = base + simulate(6, 12, (0.02, 0.01, 0.03), rng, truth=[-0.06, 0.0, 0.01, 0.06][r % 4])
        for s in range(6):
            frames += [rows(f"base{r}", {s: base[s]}), rows(f"row{r}", {s: row[s]})]
    per_case = pd.concat(frames, ignore_index=True)
    from transferbench.evaluation.leaderboard import add_verdicts, comparison_columns

    table = pd.DataFrame([
        {"model": "m", **comparison_columns(st.compare(per_case[per_case.strategy == f"row{r}"],
                                                       per_case[per_case.strategy == f"base{r}"], n_boot=0))}
        for r in range(8)
    ])  # fmt: skip
    add_verdicts(table, ["model"])
    claimed = table[table.verdict.isin(["better", "worse"])]
    assert len(claimed) and ((claimed.ci_low > 0) | (claimed.ci_high < 0)).all()
    assert set(table.verdict) >= {"better", "worse"}
    assert (table.p_holm >= table.p).all()


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


def test_wilcoxon_edge_cases():
    assert st.wilcoxon_p(np.zeros(5)) == 1.0 and math.isnan(st.wilcoxon_p(np.array([])))
