"""Statistics for comparing training procedures (``docs/statistics.md``): seeds and cases are crossed.

A trained model is one draw of its training procedure and scores every test case, so a comparison A vs B
has two random factors, the seed (shared by every case of a run) and the case. The primary inference works
on the seeds x cases table of paired differences ``d[s, c]`` (seeds paired under common random numbers):
the mean with the two-way crossed random-effects interval (ANOVA mean squares, Satterthwaite degrees of
freedom; generalizability theory's p x i design). Cross-checks: the pigeonhole bootstrap (Owen 2007) and
statsmodels' MixedLM with crossed variance components. Secondary, and labelled conditional on the trained
models: the Wilcoxon signed-rank test over seed-averaged case differences. One verdict per comparison
(``verdict``) follows from the primary p after Holm, the number of seeds and the power for seeds.

Libraries: scipy (t, Wilcoxon, Friedman), statsmodels (Holm, MixedLM, the noncentral-t power of
``TTestPower``), scikit-posthocs (Nemenyi). Written by hand: the mean squares, the pigeonhole bootstrap,
the probability of improvement and rank stability, which those libraries lack.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

ALPHA = 0.05
TARGET_DIFFERENCE = 0.03  # DSC: the smallest transfer effect the default design is powered for
# With a stable recipe's between-seed sd of the mean difference (0.02 DSC), TTestPower needs 6 seeds to
# detect 0.03 at 80% power; 5 seeds detect 1.68 sd (0.034), 4 seeds 2.13 sd, 3 seeds 3.26 sd (0.065): below
# 5 seeds no training procedure claim of the target's size is within reach.
MIN_SEEDS = 5
VERDICTS = ("better", "worse", "no evidence", "too few seeds")

# the comparison layer's one import for callers: the interval, the rank tests and the tables re-exported
from transferbench.evaluation.crossed import (  # noqa: E402
    MeanSquares,
    complete_block,
    crossed_interval,
    mixedlm_interval,
    pigeonhole_ci,
    probability_of_improvement,
)
from transferbench.evaluation.ranks import case_table, friedman, rank_stability, seed_case_cube  # noqa: E402
from transferbench.evaluation.tables import UNIT, case_means, score_matrix, seed_case_matrix  # noqa: E402

__all__ = ["ALPHA", "MIN_SEEDS", "TARGET_DIFFERENCE", "UNIT", "VERDICTS", "MeanSquares", "case_means", "case_table",
           "compare", "complete_block", "crossed_interval", "exact_floor", "friedman", "holm", "mixedlm_interval",
           "paired_tables", "pigeonhole_ci", "probability_of_improvement", "rank_stability", "score_matrix",
           "seed_case_cube", "seed_case_matrix", "seed_power", "seeds_needed", "verdict", "wilcoxon_p"]  # fmt: skip


def wilcoxon_p(d: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p of per-case differences (scipy; 1 when all are zero)."""
    d = np.asarray(d, dtype=float)
    if len(d) == 0:
        return math.nan
    if np.allclose(d, 0):
        return 1.0
    return float(stats.wilcoxon(d, zero_method="wilcox", alternative="two-sided").pvalue)


def exact_floor(n_cases: int) -> float:
    """The smallest two-sided p an exact Wilcoxon test can give on ``n_cases`` cases: 2 / 2^n."""
    return 2.0 / 2.0**n_cases if n_cases > 0 else math.nan


def holm(pvalues) -> list[float]:
    """Holm-adjusted p-values over one family (statsmodels' ``multipletests``); NaN stays NaN."""
    from statsmodels.stats.multitest import multipletests

    p = np.asarray(list(pvalues), dtype=float)
    out = np.full_like(p, np.nan)
    ok = ~np.isnan(p)
    if ok.any():
        out[ok] = multipletests(p[ok], method="holm")[1]
    return out.tolist()


# --- replication, power and the verdict ----------------------------------------------------------------


def seed_power(components: dict, n_seeds: int, n_cases: int, delta: float = TARGET_DIFFERENCE,
               alpha: float = ALPHA) -> float:  # fmt: skip
    """Power of the two-sided test to detect ``delta`` with ``n_seeds`` seeds on ``n_cases`` cases.

    statsmodels' noncentral-t ``TTestPower`` with the seeds as units (df = S - 1, as the Satterthwaite df is
    when the seed component dominates; conservative otherwise) and the per-unit sd that gives the crossed
    Var(mean d) = sd_seed^2 / S + sd_case^2 / C + sd_resid^2 / (S C).
    """
    from statsmodels.stats.power import TTestPower

    seed_var, case_var, resid = (components.get(k, math.nan) for k in ("seed", "case", "resid"))
    if n_seeds < 2 or not all(np.isfinite([seed_var, case_var, resid])):
        return math.nan
    var = seed_var / n_seeds + case_var / n_cases + resid / (n_seeds * n_cases)
    if var <= 0:
        return 1.0
    effect = delta / math.sqrt(var * n_seeds)
    return float(TTestPower().power(effect_size=effect, nobs=n_seeds, alpha=alpha))


def seeds_needed(components: dict, n_cases: int, delta: float = TARGET_DIFFERENCE, power: float = 0.8,
                 alpha: float = ALPHA, most: int = 200) -> float:  # fmt: skip
    """Smallest number of seeds whose ``seed_power`` reaches ``power``; inf when ``most`` seeds do not (the
    case component alone, which seeds cannot shrink, is then too large: more cases are needed)."""
    if not all(np.isfinite([components.get(k, math.nan) for k in ("seed", "case", "resid")])):
        return math.nan
    for n in range(2, most + 1):
        if seed_power(components, n, n_cases, delta, alpha) >= power:
            return float(n)
    return math.inf


def verdict(diff: float, p_holm: float, n_seeds: int, needed: float, min_seeds: int = MIN_SEEDS,
            alpha: float = ALPHA) -> str:  # fmt: skip
    """The one verdict of a comparison, from the primary (crossed) p after Holm.

    ``too few seeds`` below ``min_seeds`` whatever any p says, and when the comparison is not significant
    but had fewer seeds than its measured variance needs for the target difference (it could not have
    found one); ``no evidence`` when it had the seeds and found nothing; else ``better`` / ``worse``.
    """
    if n_seeds < min_seeds or not np.isfinite(p_holm):
        return "too few seeds"
    if p_holm < alpha:
        return "better" if diff > 0 else "worse"
    return "too few seeds" if not (needed <= n_seeds) else "no evidence"


def paired_tables(
    a_rows: pd.DataFrame, b_rows: pd.DataFrame, metric: str = "dsc"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A's and B's seeds x cases tables on the seeds both have and the cases both scored.

    Only the seeds both rows have are compared (a collapsed run left out of one row takes its seed out of the
    other too), so that under common random numbers the runs stay paired by seed.
    """
    a, b = seed_case_matrix(a_rows, metric), seed_case_matrix(b_rows, metric)
    if a.empty or b.empty:
        return pd.DataFrame(), pd.DataFrame()
    seeds = a.index.intersection(b.index)
    cases = a.columns[a.notna().any(axis=0)].intersection(b.columns[b.notna().any(axis=0)])
    return a.loc[seeds, cases], b.loc[seeds, cases]


def compare(
    a_rows: pd.DataFrame,
    b_rows: pd.DataFrame,
    metric: str = "dsc",
    n_boot: int = 2000,
    seed: int = 0,
    delta: float = TARGET_DIFFERENCE,
) -> dict:
    """Compare two rows' per-case tables (columns run, seed, case, class, metric) as training procedures.

    Primary: the crossed interval of d[s, c] = A_s(c) - B_s(c). Replication: per-seed mean differences, seeds
    won, P(A > B) with its CI, each side's between-seed sd. Secondary (conditional on the trained models):
    the Wilcoxon p over the seed-averaged case differences, cases won. Power: seeds needed for ``delta``.
    ``case_a`` / ``case_b``: the seed-averaged case scores the comparison used (figures draw these).
    """
    a, b = paired_tables(a_rows, b_rows, metric)
    d = a - b
    primary = crossed_interval(d) if not d.empty else crossed_interval(np.zeros((0, 0)))
    ca, cb = a.mean(axis=0), b.mean(axis=0)  # seed-averaged case scores (complete seeds: every cell set)
    dc = (ca - cb).dropna().to_numpy(dtype=float) if not d.empty else np.array([])
    per_seed = {int(s): float(v) for s, v in d.mean(axis=1).dropna().items()} if not d.empty else {}
    block, _ = complete_block(d) if not d.empty else (d, "")
    if not block.empty:
        pi = probability_of_improvement(a.loc[block.index, block.columns], b.loc[block.index, block.columns],
                                        n_boot, seed)  # fmt: skip
    else:
        pi = (math.nan, math.nan, math.nan)
    seed_means = lambda t: t.loc[block.index, block.columns].mean(axis=1) if not block.empty else pd.Series()  # noqa: E731
    sd = lambda v: float(v.std(ddof=1)) if len(v) > 1 else math.nan  # noqa: E731
    comps, n_cases = primary["components"], primary["n_cases"]
    return {
        **{k: primary[k] for k in ("ci_low", "ci_high", "p", "se", "df", "design", "components")},
        # one seed: no procedure-level test exists; the exact Wilcoxon over the cases is all there is
        **({"p": wilcoxon_p(dc)} if primary["n_seeds"] == 1 else {}),
        "diff": primary["mean"],
        "n_seeds": primary["n_seeds"],
        "n_cases": len(dc),
        "median": float(np.median(dc)) if len(dc) else math.nan,
        "sd": float(dc.std(ddof=1)) if len(dc) > 1 else math.nan,
        "wins": int((dc > 0).sum()),
        "p_case": wilcoxon_p(dc),
        "per_seed": per_seed,
        "seeds_won": sum(v > 0 for v in per_seed.values()),
        "prob_improve": pi[0], "prob_improve_low": pi[1], "prob_improve_high": pi[2],
        "seed_sd_a": sd(seed_means(a)), "seed_sd_b": sd(seed_means(b)),
        "seeds_needed": seeds_needed(comps, n_cases, delta) if comps else math.nan,
        "case_a": ca, "case_b": cb,
    }  # fmt: skip
