"""Case-level paired statistics (``reference/statistics.md``): the case is the unit, runs replicate training.

A comparison A vs B averages each case's score over A's runs (seeds, and folds that test the case) and over
B's, tests the per-case differences ``d_c`` with the Wilcoxon signed-rank test (scipy; exact for small n),
and puts a two-level bootstrap CI around their mean (cases resampled, then runs within each case), so that
seed-to-seed disagreement widens the interval. Holm comes from statsmodels, Friedman from scipy, the
Nemenyi post-hoc from scikit-posthocs. Written by hand: only the two-level bootstrap and rank stability,
which those libraries lack.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
from scipy import stats

UNIT = ["case", "class"]  # the unit of analysis: a test case (and class, for multi-class targets)


def score_matrix(rows: pd.DataFrame, metric: str = "dsc") -> pd.DataFrame:
    """Cases x runs table of ``metric`` (NaN where a run did not test or could not score a case)."""
    if rows.empty:
        return pd.DataFrame()
    return rows.pivot_table(index=UNIT, columns="run", values=metric, aggfunc="mean", dropna=False)


def case_means(rows: pd.DataFrame, metric: str = "dsc") -> pd.Series:
    """Each case's score averaged over the runs that scored it (cases no run could score dropped)."""
    if rows.empty:
        return pd.Series(dtype=float)
    return rows.groupby(UNIT)[metric].mean().dropna()


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


def _compact(m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's defined values moved to the front (zeros behind) and their count."""
    defined = ~np.isnan(m)
    order = np.argsort(~defined, axis=1, kind="stable")
    values = np.take_along_axis(np.where(defined, m, 0.0), order, axis=1)
    return values, defined.sum(axis=1)


def _resampled_case_means(values: np.ndarray, counts: np.ndarray, idx: np.ndarray, rng) -> np.ndarray:
    """For resampled cases ``idx`` (boots x n): mean of ``counts[c]`` runs drawn with replacement."""
    k = counts[idx]  # boots x n
    width = values.shape[1]
    draws = (rng.random((*idx.shape, width)) * k[..., None]).astype(int)
    picked = values[idx[..., None], draws]  # boots x n x width
    used = np.arange(width)[None, None, :] < k[..., None]
    return (picked * used).sum(axis=2) / k


def two_level_ci(
    a: np.ndarray, b: np.ndarray, n_boot: int = 2000, seed: int = 0, level: float = 0.95
) -> tuple[float, float]:
    """Percentile CI of mean(case mean of A - case mean of B), resampling cases, then runs within cases.

    ``a`` and ``b`` are cases x runs (NaN = not scored); every case needs one score on each side. Case
    indices are drawn first, so when every case's runs agree the interval equals the case bootstrap's
    with the same ``seed``.
    """
    n = a.shape[0]
    if n == 0 or n_boot <= 0:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, (n_boot, n))
    va, ka = _compact(a)
    vb, kb = _compact(b)
    d = _resampled_case_means(va, ka, idx, rng) - _resampled_case_means(vb, kb, idx, rng)
    lo, hi = np.quantile(d.mean(axis=1), [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)


def per_seed_differences(a_rows: pd.DataFrame, b_rows: pd.DataFrame, metric: str = "dsc") -> dict[int, float]:
    """Mean per-case difference within each seed (A's seed-s runs against B's): the replications."""
    out = {}
    for s in sorted(set(a_rows["seed"]) & set(b_rows["seed"])):
        a, b = case_means(a_rows[a_rows.seed == s], metric), case_means(b_rows[b_rows.seed == s], metric)
        common = a.index.intersection(b.index)
        if len(common):
            out[int(s)] = float((a[common] - b[common]).mean())
    return out


def compare(
    a_rows: pd.DataFrame, b_rows: pd.DataFrame, metric: str = "dsc", n_boot: int = 2000, seed: int = 0
) -> dict:
    """Paired, case-level comparison of two rows' per-case tables (columns run, seed, case, class, metric).

    Only the seeds both rows have are compared (a collapsed run left out of one row takes its seed out of
    the other too), so that under common random numbers the runs stay paired by seed.
    """
    common = set(a_rows.get("seed", [])) & set(b_rows.get("seed", []))
    if common:
        a_rows, b_rows = a_rows[a_rows.seed.isin(common)], b_rows[b_rows.seed.isin(common)]
    a, b = score_matrix(a_rows, metric), score_matrix(b_rows, metric)
    if a.empty or b.empty:
        return {"n_cases": 0, "diff": math.nan, "median": math.nan, "sd": math.nan, "wins": 0, "ci_low": math.nan,
                "ci_high": math.nan, "p": math.nan, "per_seed": {}}  # fmt: skip
    cases = a.index[a.notna().any(axis=1)].intersection(b.index[b.notna().any(axis=1)])
    a, b = a.loc[cases], b.loc[cases]
    d = (a.mean(axis=1) - b.mean(axis=1)).to_numpy(dtype=float)
    lo, hi = two_level_ci(a.to_numpy(dtype=float), b.to_numpy(dtype=float), n_boot, seed)
    return {
        "n_cases": len(d),
        "diff": float(d.mean()) if len(d) else math.nan,
        "median": float(np.median(d)) if len(d) else math.nan,
        "sd": float(d.std(ddof=1)) if len(d) > 1 else math.nan,
        "wins": int((d > 0).sum()),
        "ci_low": lo,
        "ci_high": hi,
        "p": wilcoxon_p(d),
        "per_seed": per_seed_differences(a_rows, b_rows, metric),
    }


def case_table(rows_by_label: dict[str, pd.DataFrame], metric: str = "dsc") -> pd.DataFrame:
    """Cases x rows table of case means, restricted to the cases every row scored (for rank tests)."""
    cols = {label: case_means(rows, metric) for label, rows in rows_by_label.items()}
    cols = {k: v for k, v in cols.items() if len(v)}
    return pd.DataFrame(cols).dropna() if cols else pd.DataFrame()


def friedman(table: pd.DataFrame, alpha: float = 0.05) -> dict:
    """Friedman test over the rows of a cases x rows table, Nemenyi post-hoc and Demsar's critical difference.

    Returns ``p``, ``mean_rank`` (1 = best, higher score better), ``posthoc`` (rows x rows Nemenyi p) and
    ``cd`` = q_alpha sqrt(k (k + 1) / (6 n)) with q_alpha the Studentised range quantile / sqrt(2).
    """
    import scikit_posthocs as sp

    n, k = table.shape
    values = table.to_numpy(dtype=float)
    mean_rank = pd.Series(stats.rankdata(-values, axis=1).mean(axis=0) if n else np.nan, index=table.columns)
    if k < 3 or n < 2:
        return {"p": math.nan, "statistic": math.nan, "mean_rank": mean_rank, "posthoc": None, "cd": math.nan,
                "n_cases": n}  # fmt: skip
    stat, p = stats.friedmanchisquare(*values.T)
    posthoc = sp.posthoc_nemenyi_friedman(values)
    posthoc.index = posthoc.columns = table.columns
    q = stats.studentized_range.ppf(1 - alpha, k, np.inf) / math.sqrt(2)
    return {"p": float(p), "statistic": float(stat), "mean_rank": mean_rank, "posthoc": posthoc,
            "cd": float(q * math.sqrt(k * (k + 1) / (6 * n))), "n_cases": n}  # fmt: skip


def rank_stability(table: pd.DataFrame, n_boot: int = 1000, seed: int = 0) -> tuple[pd.DataFrame, float]:
    """Share of case-bootstrap resamples in which each row holds each rank (challengeR's blob plot), and
    the median Kendall tau between the full ranking and the resampled ones."""
    n, k = table.shape
    if n == 0 or k == 0:
        return pd.DataFrame(columns=["row", "rank", "share"]), math.nan
    values = table.to_numpy(dtype=float)
    full = stats.rankdata(-values.mean(axis=0), method="min")
    rng = np.random.default_rng(seed)
    counts = np.zeros((k, k))
    taus = []
    for _ in range(n_boot):
        r = stats.rankdata(-values[rng.integers(0, n, n)].mean(axis=0), method="min").astype(int)
        counts[np.arange(k), r - 1] += 1
        if k > 1:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                taus.append(stats.kendalltau(full, r).statistic)
    shares = [
        {"row": table.columns[i], "rank": j + 1, "share": counts[i, j] / n_boot}
        for i in range(k)
        for j in range(k)
        if counts[i, j]
    ]
    return pd.DataFrame(shares), float(np.nanmedian(taus)) if taus else math.nan


def detectable_difference(paired_sd: float, n_cases: int, alpha: float = 0.05, power: float = 0.8) -> float:
    """Smallest mean difference a paired Wilcoxon test detects on ``n_cases`` (t-test size x sqrt(pi/3))."""
    if n_cases < 2 or not np.isfinite(paired_sd):
        return math.nan
    z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)
    return float(z * paired_sd / math.sqrt(n_cases) * math.sqrt(math.pi / 3))
