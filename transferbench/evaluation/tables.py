"""Per-case tables of a row's runs: the shapes every statistic starts from (case x run, seed x case)."""

from __future__ import annotations

import pandas as pd

UNIT = ["case", "class"]  # the unit of analysis: a test case (and class, for multi-class targets)


def score_matrix(rows: pd.DataFrame, metric: str = "dsc") -> pd.DataFrame:
    """Cases x runs table of ``metric`` (NaN where a run did not test or could not score a case)."""
    if rows.empty:
        return pd.DataFrame()
    return rows.pivot_table(index=UNIT, columns="run", values=metric, aggfunc="mean", dropna=False)


def seed_case_matrix(rows: pd.DataFrame, metric: str = "dsc") -> pd.DataFrame:
    """Seeds x cases table of ``metric``, each cell the mean over that seed's runs (folds) testing the case."""
    if rows.empty:
        return pd.DataFrame()
    table = rows.pivot_table(index="seed", columns=UNIT, values=metric, aggfunc="mean", dropna=False)
    return table.sort_index()


def case_means(rows: pd.DataFrame, metric: str = "dsc") -> pd.Series:
    """Each case's score averaged over the runs that scored it (cases no run could score dropped)."""
    if rows.empty:
        return pd.Series(dtype=float)
    return rows.groupby(UNIT)[metric].mean().dropna()
