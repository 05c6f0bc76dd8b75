"""Leaderboard statistics: per-case scores in, one row per model x strategy x source out.

Every comparison with ``scratch`` is *paired*: the same model, fold, seed, case and class. The difference
in DSC gets a percentile bootstrap 95% CI over the pairs and a two-sided Wilcoxon signed-rank p-value;
p-values are Holm-corrected over all comparisons of one model (one family per model).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

KEYS = ["model", "strategy", "source"]
PAIR = ["model", "fold", "seed", "case", "class"]
BASELINE = "scratch"


def holm(pvalues: list[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (NaN stays NaN), in the input order."""
    p = np.asarray(pvalues, dtype=float)
    ok = np.flatnonzero(~np.isnan(p))
    out = np.full_like(p, np.nan)
    order = ok[np.argsort(p[ok], kind="stable")]
    m = len(order)
    running = 0.0
    for i, idx in enumerate(order):
        running = max(running, min(1.0, (m - i) * p[idx]))
        out[idx] = running
    return out.tolist()


def bootstrap_ci(
    diffs: np.ndarray, n_boot: int = 2000, seed: int = 0, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean paired difference (resampling pairs)."""
    if len(diffs) == 0:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    means = diffs[rng.integers(0, len(diffs), (n_boot, len(diffs)))].mean(axis=1)
    lo, hi = np.quantile(means, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)


def wilcoxon_p(diffs: np.ndarray) -> float:
    if len(diffs) == 0:
        return math.nan
    if np.allclose(diffs, 0):
        return 1.0
    return float(stats.wilcoxon(diffs, zero_method="wilcox", alternative="two-sided").pvalue)


def paired_differences(per_case: pd.DataFrame, row_keys: tuple, metric: str = "dsc") -> np.ndarray:
    """``metric`` of the row minus scratch's, on the cases both scored (undefined cases dropped)."""
    model, strategy, source = row_keys
    rows = per_case[(per_case.model == model) & (per_case.strategy == strategy) & (per_case.source == source)]
    base = per_case[(per_case.model == model) & (per_case.strategy == BASELINE)]
    merged = rows.merge(base, on=PAIR, suffixes=("", "_base"))
    d = (merged[metric] - merged[f"{metric}_base"]).dropna()
    return d.to_numpy(dtype=float)


def epochs_to_reach(curve: list, threshold: float) -> float:
    """First epoch (1-based) whose validation Dice reaches ``threshold``; NaN if it never does."""
    for epoch, dice in curve:
        if dice >= threshold:
            return float(epoch) + 1
    return math.nan


def build_leaderboard(
    per_case: pd.DataFrame,
    runs: pd.DataFrame | None = None,
    n_boot: int = 2000,
    seed: int = 0,
    nsd_column: str = "nsd_3mm",
) -> pd.DataFrame:
    """The leaderboard table; ``runs`` (one row per planned target run) adds cost and completeness columns.

    ``runs`` columns: model, strategy, source, status, wall_s, pretrain_wall_s, epochs_to_dice.
    """
    rows = []
    for keys, g in per_case.groupby(KEYS, sort=False):
        row = dict(zip(KEYS, keys))
        row["runs"] = int(g[["fold", "seed"]].drop_duplicates().shape[0])
        row["cases"] = int(len(g))
        row["undefined"] = int(g["dsc"].isna().sum())
        for metric, name in (("dsc", "dsc"), (nsd_column, "nsd")):
            row[f"{name}_mean"] = float(g[metric].mean())
            row[f"{name}_sd"] = float(g[metric].std(ddof=1)) if g[metric].notna().sum() > 1 else math.nan
        if keys[1] != BASELINE:
            d = paired_differences(per_case, keys, "dsc")
            dn = paired_differences(per_case, keys, nsd_column)
            row["pairs"] = len(d)
            row["dsc_diff"] = float(d.mean()) if len(d) else math.nan
            row["dsc_diff_ci_low"], row["dsc_diff_ci_high"] = bootstrap_ci(d, n_boot, seed)
            row["nsd_diff"] = float(dn.mean()) if len(dn) else math.nan
            row["p_wilcoxon"] = wilcoxon_p(d)
        rows.append(row)
    board = pd.DataFrame(rows)
    for col in ("pairs", "dsc_diff", "dsc_diff_ci_low", "dsc_diff_ci_high", "nsd_diff", "p_wilcoxon"):
        if col not in board:
            board[col] = math.nan
    board["p_holm"] = math.nan
    for idx in board.groupby("model").groups.values():
        board.loc[idx, "p_holm"] = holm(board.loc[idx, "p_wilcoxon"].tolist())
    board["rank"] = board.groupby("model")["dsc_mean"].rank(ascending=False, method="min").astype(int)
    if runs is not None and len(runs):
        cost = runs.groupby(KEYS, sort=False).agg(
            planned=("status", "size"),
            finished=("status", lambda s: int((s == "done").sum())),
            finetune_wall_s=("wall_s", "mean"),
            pretrain_wall_s=("pretrain_wall_s", "mean"),
            epochs_to_dice=("epochs_to_dice", "mean"),
            reached_dice=("epochs_to_dice", lambda s: int(s.notna().sum())),
            **({"notes": ("notes", _join_notes)} if "notes" in runs else {}),
        )
        board = board.merge(cost.reset_index(), on=KEYS, how="outer")
        board["complete"] = board["finished"] == board["planned"]
        board[["runs", "cases"]] = board[["runs", "cases"]].fillna(0).astype(int)
    board = board.sort_values(["model", "rank", "strategy", "source"], na_position="last").reset_index(
        drop=True
    )
    return board


def source_summary(board: pd.DataFrame, singles: Sequence[str]) -> pd.DataFrame:
    """Which source helps most, per model: over the strategies run with each single source, the mean
    paired difference to ``scratch``, the mean rank of the source among the single sources within a
    strategy (1 = best DSC) and in how many strategies it ranks first."""
    if "dsc_diff" not in board:  # no finished target run: nothing to compare yet
        board = board.assign(dsc_diff=pd.Series(dtype=float), dsc_mean=pd.Series(dtype=float))
    rows = board[board["source"].isin(singles) & board["dsc_diff"].notna()].copy()
    if rows.empty:
        return pd.DataFrame(
            columns=["model", "source", "strategies", "mean_dsc_diff", "mean_rank", "best_in"]
        )
    rows["within"] = rows.groupby(["model", "strategy"])["dsc_mean"].rank(ascending=False, method="min")
    out = rows.groupby(["model", "source"]).agg(
        strategies=("strategy", "nunique"),
        mean_dsc_diff=("dsc_diff", "mean"),
        mean_rank=("within", "mean"),
        best_in=("within", lambda r: int((r == 1).sum())),
    )
    return (
        out.reset_index()
        .sort_values(["model", "mean_dsc_diff"], ascending=[True, False])
        .reset_index(drop=True)
    )


def _join_notes(values: pd.Series) -> str:
    """Distinct notes of a row's runs (``"; "``-separated strings), e.g. a skipped ImageNet stage."""
    notes = {n for v in values if isinstance(v, str) and v for n in v.split("; ")}
    return "; ".join(sorted(notes))


def to_markdown(df: pd.DataFrame, floatfmt: str = ".3f") -> str:
    """A GitHub-flavoured Markdown table (no extra dependency)."""

    def cell(v) -> str:
        if isinstance(v, float):
            if math.isnan(v):
                return ""
            return format(v, ".2g") if 0 < abs(v) < 1e-3 else format(v, floatfmt)
        return str(v)

    head = "| " + " | ".join(df.columns) + " |"
    sep = "|" + "|".join("---" for _ in df.columns) + "|"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([head, sep, *body]) + "\n"
