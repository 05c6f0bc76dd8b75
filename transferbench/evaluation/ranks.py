"""Rank tests over seed-averaged case means (conditional on the trained models) and rank stability by a
bootstrap over seeds and cases (challengeR's blob plot; Wiesenfarth et al. 2021)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
from scipy import stats

from transferbench.evaluation.tables import case_means, seed_case_matrix


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


def seed_case_cube(
    rows_by_label: dict[str, pd.DataFrame], metric: str = "dsc"
) -> tuple[list[str], np.ndarray]:
    """(labels, rows x seeds x cases array) on the seeds every row has and the cases every row scored in every
    one of them: what a bootstrap over seeds and cases resamples."""
    tables = {k: seed_case_matrix(v, metric) for k, v in rows_by_label.items() if len(v)}
    if not tables:
        return [], np.zeros((0, 0, 0))
    seeds = sorted(set.intersection(*(set(t.index) for t in tables.values())))
    cases = set.intersection(*(set(t.columns[t.loc[seeds].notna().all(axis=0)]) for t in tables.values()))
    cases = sorted(cases)
    labels = list(tables)
    return labels, np.stack([tables[k].loc[seeds, cases].to_numpy(dtype=float) for k in labels])


def rank_stability(
    table: pd.DataFrame, n_boot: int = 1000, seed: int = 0, cube: np.ndarray | None = None
) -> tuple[pd.DataFrame, float]:
    """Share of bootstrap resamples in which each row holds each rank (challengeR's blob plot), and the
    median Kendall tau between the full ranking and the resampled ones. With ``cube`` (rows x seeds x cases,
    rows in ``table``'s column order) seeds and cases are both resampled (the pigeonhole bootstrap, every
    row drawing the same seeds, as they are paired); without it, cases only."""
    k = table.shape[1]
    if cube is not None and cube.size and cube.shape[1] > 1:
        _, s, n = cube.shape
    else:
        cube, (n, k), s = None, table.shape, 1
    if n == 0 or k == 0:
        return pd.DataFrame(columns=["row", "rank", "share"]), math.nan
    rng = np.random.default_rng(seed)
    if cube is None:
        values = table.to_numpy(dtype=float)
        full = stats.rankdata(-values.mean(axis=0), method="min")
        means = np.stack([values[rng.integers(0, n, n)].mean(axis=0) for _ in range(n_boot)])
    else:
        full = stats.rankdata(-cube.mean(axis=(1, 2)), method="min")
        ws = rng.multinomial(s, np.full(s, 1 / s), n_boot)
        wc = rng.multinomial(n, np.full(n, 1 / n), n_boot)
        means = np.einsum("bs,rsc,bc->br", ws, cube, wc) / (s * n)
    counts = np.zeros((k, k))
    taus = []
    for m in means:
        r = stats.rankdata(-m, method="min").astype(int)
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
