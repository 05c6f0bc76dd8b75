"""Two sweeps' twin runs side by side: how reproducible are a run's flags and its test DSC?

A *twin* is a target run that both result folders hold under the same model, strategy, source, label
budget, fold, seed and optimiser steps: a rerun on another machine, with another memory layout or another
version. The two differ only by what the rerun changed (rounding, for a layout), so their disagreement is
the noise of one run, measured directly; set beside the between-seed sd of the same rows it says how much
of the seeds' spread that noise alone reproduces, and the flags' Cohen's kappa says whether a flag is a
property of the configuration or of the draw.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

TWIN_KEYS = ["model", "strategy", "source", "n_train", "fold", "seed", "total_steps"]
FLAGS = ("unconverged", "collapsed")
PLATEAU = ("plateau_gain", "plateau_p")  # the plateau rule's statistics, when runs.csv has them


def _target_runs(runs: pd.DataFrame, per_case: pd.DataFrame) -> pd.DataFrame:
    """Target runs (no pretraining) with their flags and mean test DSC over their per-case rows."""
    target = runs[runs["kind"] != "pretrain"].copy() if "kind" in runs else runs.copy()
    target["unconverged"] = target["converged"].eq(False)  # None / NaN: too short to tell, not flagged
    target["collapsed"] = target["collapsed"].fillna(False).astype(bool)
    dsc = per_case.groupby("run")["dsc"].mean().rename("dsc")
    return target.merge(dsc, left_on="id", right_index=True, how="inner")


def twin_runs(runs_a: pd.DataFrame, per_case_a: pd.DataFrame, runs_b: pd.DataFrame,
              per_case_b: pd.DataFrame) -> pd.DataFrame:  # fmt: skip
    """One row per twin: its keys, both run ids, both mean test DSCs, ``dsc_diff`` (a - b), both flags."""
    a = _target_runs(runs_a, per_case_a)
    b = _target_runs(runs_b, per_case_b)
    cols = [*TWIN_KEYS, "id", "dsc", *FLAGS, *(c for c in PLATEAU if c in a and c in b)]
    twins = a[cols].merge(b[cols], on=TWIN_KEYS, suffixes=("_a", "_b"))
    twins["dsc_diff"] = twins["dsc_a"] - twins["dsc_b"]
    return twins.rename(columns={"id_a": "run_a", "id_b": "run_b"}).reset_index(drop=True)


def cohens_kappa(a: pd.Series, b: pd.Series) -> float:
    """Cohen's kappa of two boolean ratings of the same items (statsmodels); NaN when chance agreement is
    already total (every item rated the same by both), where agreement says nothing."""
    from statsmodels.stats.inter_rater import cohens_kappa as sm_kappa

    table = pd.crosstab(a.astype(bool), b.astype(bool)).reindex(index=[False, True], columns=[False, True],
                                                                  fill_value=0)  # fmt: skip
    counts = table.to_numpy(dtype=float)
    total = counts.sum()
    chance = float((counts.sum(0) * counts.sum(1)).sum() / total**2) if total else 1.0
    if chance >= 1.0:
        return math.nan
    with np.errstate(invalid="ignore"):  # its standard error (unused) is undefined with an empty margin
        return float(sm_kappa(counts).kappa)


def flag_agreement(twins: pd.DataFrame) -> pd.DataFrame:
    """Per flag: how many twins each sweep flagged, how many both, and Cohen's kappa."""
    rows = []
    for flag in FLAGS:
        a, b = twins[f"{flag}_a"].astype(bool), twins[f"{flag}_b"].astype(bool)
        rows.append({"flag": flag, "twins": len(twins), "flagged_a": int(a.sum()), "flagged_b": int(b.sum()),
                     "both": int((a & b).sum()), "kappa": cohens_kappa(a, b)})  # fmt: skip
    return pd.DataFrame(rows)


def _pooled_seed_sd(values: pd.DataFrame, column: str) -> float:
    """sqrt of the mean within-row variance over seeds (rows: model, strategy, source, steps), pooled by
    degrees of freedom: one run's between-seed sd on the twins' own rows."""
    groups = values.groupby(["model", "strategy", "source", "total_steps"], dropna=False)[column]
    var, dof = groups.var(ddof=1), groups.count() - 1
    keep = dof > 0
    return float(np.sqrt((var[keep] * dof[keep]).sum() / dof[keep].sum())) if keep.any() else math.nan


def noise_table(twins: pd.DataFrame) -> pd.DataFrame:
    """Per label budget: twins, sd and median |.| of the twin differences, the per-run sd they imply
    (sd / sqrt 2: the noise of one run from what the rerun changed), the between-seed sd of the same rows in
    each sweep (pooled over rows; at small budgets it also holds which volumes each seed labels) and the
    share of that variance the rerun noise alone makes (``rerun_share_*``)."""
    rows = []
    for n_train, group in twins.groupby("n_train", dropna=False):
        sd = float(group["dsc_diff"].std(ddof=1)) if len(group) > 1 else math.nan
        rows.append({"n_train": n_train, "twins": len(group), "diff_sd": sd,
                     "diff_median_abs": float(group["dsc_diff"].abs().median()),
                     "rerun_sd_per_run": sd / math.sqrt(2),
                     "seed_sd_a": _pooled_seed_sd(group, "dsc_a"),
                     "seed_sd_b": _pooled_seed_sd(group, "dsc_b")})  # fmt: skip
    table = pd.DataFrame(rows)
    for side in ("a", "b"):  # the share of one run's between-seed variance that a rerun alone reproduces
        table[f"rerun_share_{side}"] = table["rerun_sd_per_run"] ** 2 / table[f"seed_sd_{side}"] ** 2
    return table


def flagged_plateau(twins: pd.DataFrame) -> pd.DataFrame:
    """Per sweep: the median plateau gain and trend p of the twins it flagged unconverged (how far above
    the rule's thresholds they are), when runs.csv records them."""
    rows = []
    for side in ("a", "b"):
        flagged = twins[twins[f"unconverged_{side}"].astype(bool)]
        rows.append({"sweep": side, "flagged": len(flagged),
                     **{f"median_{c}": float(flagged[f"{c}_{side}"].median()) if f"{c}_{side}" in twins
                        else math.nan for c in PLATEAU}})  # fmt: skip
    return pd.DataFrame(rows)


def format_report(twins: pd.DataFrame, name_a: str, name_b: str) -> str:
    """The two tables as text, with a header that names the sweeps and what a twin is."""
    lines = [
        f"{len(twins)} target runs in both {name_a} (a) and {name_b} (b): same model, strategy, source, "
        "n_train, fold, seed and steps",
        "",
        f"{'flag':12s} {'twins':>5s} {'a':>4s} {'b':>4s} {'both':>5s} {'kappa':>6s}",
    ]
    for r in flag_agreement(twins).itertuples():
        lines.append(
            f"{r.flag:12s} {r.twins:5d} {r.flagged_a:4d} {r.flagged_b:4d} {r.both:5d} {r.kappa:6.2f}"
        )
    for r in flagged_plateau(twins).itertuples():
        lines.append(f"unconverged twins of {r.sweep}: median plateau gain {r.median_plateau_gain:.3f}, "
                     f"median trend p {r.median_plateau_p:.3f}")  # fmt: skip
    lines += ["", "test DSC (mean over a run's cases):",
              f"{'n_train':>7s} {'twins':>5s} {'sd diff':>8s} {'med |diff|':>10s} {'rerun sd/run':>12s} "
              f"{'seed sd a':>9s} {'seed sd b':>9s} {'share a':>7s} {'share b':>7s}"]  # fmt: skip
    for r in noise_table(twins).itertuples():
        budget = "-" if pd.isna(r.n_train) else f"{float(r.n_train):g}"
        lines.append(
            f"{budget:>7s} {r.twins:5d} {r.diff_sd:8.3f} {r.diff_median_abs:10.3f} "
            f"{r.rerun_sd_per_run:12.3f} {r.seed_sd_a:9.3f} {r.seed_sd_b:9.3f} {r.rerun_share_a:7.0%} "
            f"{r.rerun_share_b:7.0%}"
        )
    return "\n".join(lines)
