"""Leaderboard: per-case scores in, one row per model x strategy x source out, each compared as a procedure.

Each row is compared with two baselines of the same model, paired by seed and case (statistics.py: the
crossed seeds x cases interval is primary, the case-level Wilcoxon secondary):
``scratch_matched``, the scratch trained for as many optimiser steps as the row's runs in total (pretraining
chain + target training; the primary comparison, He et al. 2019), and the plain ``scratch`` (the target
budget only). Holm runs over one declared family per model and baseline on the primary p, and ``verdict``
(better / worse / no evidence / too few seeds against the matched baseline) is what every claim reads. Collapsed runs (empty
predictions almost everywhere, or a validation Dice that never leaves 0) are counted per row and left out
of every mean and test; ``dsc_mean_all`` keeps them in.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from transferbench.evaluation import statistics as st

KEYS = ["model", "strategy", "source"]
SCRATCH, MATCHED, CONVERGED = "scratch", "scratch_matched", "scratch_converged"
# A run is collapsed when it predicts (nearly) nothing: less than NEAR_EMPTY of the reference lesion volume on
# at least COLLAPSE_EMPTY_SHARE of the test cases with a lesion. Measured on predicted volume, not overlap, so
# a wrong but non-empty prediction stays a (bad) result of its strategy; on the default sweep the runs it
# flags predicted < 10% on 94-100% of the cases, every other run on at most 19% (a clean gap).
COLLAPSE_EMPTY_SHARE = 0.9
NEAR_EMPTY = 0.1
# A run has not converged when its validation Dice rose by at least PLATEAU_TOL from the second-last quarter of
# its validations to the last (means of each quarter) *and* the rise is a trend beyond the curve's own scatter
# (the least-squares slope over those two quarters is above 0, one-sided p < PLATEAU_ALPHA): at a constant
# learning rate one validation scatters by 0.02-0.04 Dice, and quarter means of 4 then differ by 0.02 without
# any trend about one time in six. Fewer than PLATEAU_MIN_POINTS validations: unknown, not flagged. 0.02 Dice is two thirds of the target
# difference: a run still gaining that much per quarter of its budget would move a comparison by as much as
# it can detect.
PLATEAU_TOL = 0.02
PLATEAU_ALPHA = 0.05
PLATEAU_MIN_POINTS = 8


def collapsed_mask(table: pd.DataFrame) -> pd.Series:
    """The ``collapsed`` flag of each row of a per-case or runs table (all False when it has none)."""
    return table.get("collapsed", pd.Series(False, index=table.index)).astype(bool)


def unconverged_mask(table: pd.DataFrame) -> pd.Series:
    """The ``unconverged`` flag of each row (all False when the table has none)."""
    return table.get("unconverged", pd.Series(False, index=table.index)).fillna(False).astype(bool)


def excluded_mask(table: pd.DataFrame) -> pd.Series:
    """Rows of runs that measured an optimisation failure, not their strategy: collapsed or unconverged."""
    return collapsed_mask(table) | unconverged_mask(table)


def without_collapsed(per_case: pd.DataFrame) -> pd.DataFrame:
    """The per-case rows of runs that neither collapsed nor stopped short of convergence: what every mean and
    test uses (the excluded runs are counted in the tables and shown in the figures that list them)."""
    return per_case[~excluded_mask(per_case)]


def _quarters(curve: list | None, until: float | None) -> tuple[list[float], list[float]] | None:
    """The second-last and the last quarter of the validations the rule reads (before ``until``)."""
    points = sorted(curve or [])
    if until is not None and not (isinstance(until, float) and math.isnan(until)):
        points = [(e, d) for e, d in points if e < until]
    if len(points) < PLATEAU_MIN_POINTS:
        return None
    dice = [float(d) for _, d in points]
    q = len(dice) // 4
    return dice[-2 * q : -q], dice[-q:]


def plateau_gain(curve: list | None, until: float | None = None) -> float:
    """Mean validation Dice of the last quarter of the validations minus that of the quarter before (the
    plateau rule's statistic), read on the validations of epochs before ``until`` when given (a ``wsd``
    schedule's constant part: its decay always gains, and that is annealing, not under-training); NaN with
    fewer than ``PLATEAU_MIN_POINTS`` validations."""
    parts = _quarters(curve, until)
    return math.nan if parts is None else float(np.mean(parts[1]) - np.mean(parts[0]))


def plateau_p(curve: list | None, until: float | None = None) -> float:
    """One-sided p that the validation Dice still trends up over the last two quarters the rule reads (the
    least-squares slope against the validation's position, its scatter estimated from the residuals); 0 for
    a rise without scatter, NaN when the curve is too short."""
    from scipy import stats

    parts = _quarters(curve, until)
    if parts is None:
        return math.nan
    y = np.array(parts[0] + parts[1])
    fit = stats.linregress(np.arange(len(y)), y, alternative="greater")
    if not np.isfinite(fit.pvalue):  # no scatter: the slope's sign decides
        return 0.0 if fit.slope > 0 else 1.0
    return float(fit.pvalue)


def converged(curve: list | None, until: float | None = None) -> bool | None:
    """The plateau rule: False when the gain is at least ``PLATEAU_TOL`` and a trend (``plateau_p`` below
    ``PLATEAU_ALPHA``), True otherwise, None when the curve is too short to tell (``until`` as in
    ``plateau_gain``)."""
    gain = plateau_gain(curve, until)
    if math.isnan(gain):
        return None
    if gain < PLATEAU_TOL:
        return True
    return bool(plateau_p(curve, until) >= PLATEAU_ALPHA)


def is_baseline(strategy: str) -> bool:
    return strategy in (SCRATCH, CONVERGED) or strategy.startswith(MATCHED)


def collapsed(per_case_run: pd.DataFrame, val_curve: list | None = None) -> bool:
    """Whether one run measured an optimisation failure rather than its strategy (statistics.md): a validation
    Dice that never left 0, or empty / near-empty predictions (``NEAR_EMPTY``) almost everywhere."""
    if val_curve and max(d for _, d in val_curve) <= 0.0:
        return True
    positive = per_case_run[per_case_run["gt_ml"] > 0] if "gt_ml" in per_case_run else per_case_run.iloc[:0]
    near_empty = positive["pred_ml"] < NEAR_EMPTY * positive["gt_ml"]
    return bool(len(positive) and near_empty.mean() >= COLLAPSE_EMPTY_SHARE)


def epochs_to_reach(curve: list, threshold: float) -> float:
    """First epoch (1-based) whose validation Dice reaches ``threshold``; NaN if it never does."""
    for epoch, dice in curve:
        if dice >= threshold:
            return float(epoch) + 1
    return math.nan


def censored_median(values: pd.Series) -> float:
    """Median epochs-to-threshold with "never reached" as infinitely late (the Kaplan-Meier median of
    uncensored-or-never data: the lower median); NaN when the median run never reached it."""
    v = np.sort(np.where(values.isna(), np.inf, values.to_numpy(dtype=float)))
    if len(v) == 0:
        return math.nan
    m = v[(len(v) - 1) // 2]
    return float(m) if np.isfinite(m) else math.nan


def _row_summary(rows: pd.DataFrame, ok: pd.DataFrame, nsd: str) -> dict:
    means, all_means = st.case_means(ok, "dsc"), st.case_means(rows, "dsc")
    return {
        "n_runs": int(rows["run"].nunique()),
        "collapsed": int(rows.loc[rows["collapsed"], "run"].nunique()),
        "unconverged": int(rows.loc[unconverged_mask(rows) & ~rows["collapsed"], "run"].nunique()),
        "n_cases": len(means),
        "undefined": int(rows.groupby(st.UNIT)["dsc"].mean().isna().sum()),
        "dsc_mean": float(means.mean()) if len(means) else math.nan,
        "dsc_sd": float(means.std(ddof=1)) if len(means) > 1 else math.nan,
        "dsc_mean_all": float(all_means.mean()) if len(all_means) else math.nan,
        "nsd_mean": float(st.case_means(ok, nsd).mean()) if len(ok) else math.nan,
        "seed_sd": _seed_sd(ok),
    }


def _seed_sd(ok: pd.DataFrame) -> float:
    """Between-seed sd of the row's mean DSC (each seed's mean over the cases every seed scored)."""
    table = st.seed_case_matrix(ok, "dsc").dropna(axis=1) if len(ok) else pd.DataFrame()
    return float(table.mean(axis=1).std(ddof=1)) if table.shape[0] > 1 and table.shape[1] else math.nan


def _steps(runs: pd.DataFrame | None) -> dict[tuple, float]:
    if runs is None or "total_steps" not in runs or runs.empty:
        return {}
    return runs.groupby(KEYS)["total_steps"].max().to_dict()


def matched_baseline(keys: tuple, steps: dict[tuple, float], present: set[tuple]) -> str | None:
    """The baseline row trained for as many total steps as row ``keys`` (a ``scratch_matched*``, or the
    plain ``scratch`` when the row adds no steps to it); None when no baseline matches."""
    model, want = keys[0], steps.get(keys)
    if want is None or (isinstance(want, float) and math.isnan(want)):
        return None
    same = sorted(k[1] for k in present if k[0] == model and is_baseline(k[1]) and steps.get(k) == want)
    matched = [s for s in same if s.startswith(MATCHED)]
    return matched[0] if matched else (SCRATCH if SCRATCH in same else None)


SUFFIX_COLUMNS = ["dsc_diff", "ci_low", "ci_high", "df", "p", "p_holm", "verdict", "n_seeds", "seeds_won",
                  "per_seed", "prob_improve", "prob_improve_low", "prob_improve_high", "seed_sd_base", "seeds_needed",
                  "interval", "p_case", "wins", "sd_diff", "var_seed", "var_case", "var_resid"]  # fmt: skip


def comparison_columns(cmp: dict, suffix: str = "") -> dict:
    """The columns one comparison writes (``verdict`` and ``p_holm`` are set per family afterwards)."""
    tail = f"_{suffix}" if suffix else ""
    n = cmp["n_seeds"]
    values = {
        "dsc_diff": cmp["diff"], "ci_low": cmp["ci_low"], "ci_high": cmp["ci_high"], "df": cmp["df"],
        "p": cmp["p"], "n_seeds": n, "seeds_won": f"{cmp['seeds_won']} of {n}" if n else "",
        "per_seed": ", ".join(f"s{s} {d:+.3f}" for s, d in cmp["per_seed"].items()),
        "prob_improve": cmp["prob_improve"], "prob_improve_low": cmp["prob_improve_low"],
        "prob_improve_high": cmp["prob_improve_high"], "seed_sd_base": cmp["seed_sd_b"],
        "seeds_needed": cmp["seeds_needed"], "interval": cmp["design"], "p_case": cmp["p_case"],
        "wins": f"{cmp['wins']}/{cmp['n_cases']}" if cmp["n_cases"] else "", "sd_diff": cmp["sd"],
        **{f"var_{k}": cmp["components"].get(k, math.nan) for k in ("seed", "case", "resid")},
    }  # fmt: skip
    return {f"{k}{tail}": v for k, v in values.items()}


def add_verdicts(
    table: pd.DataFrame, families: list[str], suffix: str = "", min_seeds: int = st.MIN_SEEDS
) -> None:
    """Holm over each family (rows sharing ``families`` columns) on the primary p, then one verdict per row."""
    tail = f"_{suffix}" if suffix else ""
    for col in ("dsc_diff", "p", "n_seeds", "seeds_needed"):
        if f"{col}{tail}" not in table:
            table[f"{col}{tail}"] = math.nan
    table[f"p_holm{tail}"] = math.nan
    for idx in table.groupby(families).groups.values():
        table.loc[idx, f"p_holm{tail}"] = st.holm(table.loc[idx, f"p{tail}"])
    table[f"verdict{tail}"] = [
        st.verdict(d, p, int(n), need, min_seeds) if not pd.isna(n) else ""
        for d, p, n, need in zip(table[f"dsc_diff{tail}"], table[f"p_holm{tail}"], table[f"n_seeds{tail}"],
                                 table[f"seeds_needed{tail}"])
    ]  # fmt: skip


def build_leaderboard(
    per_case: pd.DataFrame,
    runs: pd.DataFrame | None = None,
    n_boot: int = 2000,
    seed: int = 0,
    nsd_column: str = "nsd_3mm",
    delta: float = st.TARGET_DIFFERENCE,
    min_seeds: int = st.MIN_SEEDS,
) -> pd.DataFrame:
    """The leaderboard table. ``per_case`` needs KEYS, fold, seed, run, case, class, dsc, the NSD column
    and optionally ``collapsed``; ``runs`` (one row per planned target run: KEYS, status, total_steps,
    wall_s, pretrain_wall_s, epochs_to_dice) adds steps, the matched baseline, cost and completeness.
    ``verdict`` (the comparison with the matched baseline) is the column every claim reads."""
    per_case = per_case.assign(collapsed=collapsed_mask(per_case), unconverged=unconverged_mask(per_case))
    ok = without_collapsed(per_case)
    groups = {k: g for k, g in per_case.groupby(KEYS, sort=False)}
    ok_groups = {k: ok[ok.run.isin(g.run)] for k, g in groups.items()}
    steps = _steps(runs)
    rows = []
    for keys, g in groups.items():
        row = {**dict(zip(KEYS, keys)), "steps": steps.get(keys, math.nan)}
        row.update(_row_summary(g, ok_groups[keys], nsd_column))
        base = matched_baseline(keys, steps, set(groups)) if not is_baseline(keys[1]) else None
        row["matched_baseline"] = base or ""
        if base is not None:
            other = ok_groups[(keys[0], base, "-")]
            cmp = st.compare(ok_groups[keys], other, "dsc", n_boot, seed, delta)
            row.update(comparison_columns(cmp, MATCHED))
            row[f"nsd_diff_{MATCHED}"] = st.compare(ok_groups[keys], other, nsd_column, 0)["diff"]
        if keys[1] != SCRATCH and (keys[0], SCRATCH, "-") in groups:
            cmp = st.compare(ok_groups[keys], ok_groups[(keys[0], SCRATCH, "-")], "dsc", n_boot, seed, delta)
            row.update(comparison_columns(cmp, SCRATCH))
        rows.append(row)
    board = pd.DataFrame(rows)
    for suffix in (MATCHED, SCRATCH):
        for col in ("ci_low", "ci_high"):
            board[f"{col}_{suffix}"] = board.get(f"{col}_{suffix}", math.nan)
        add_verdicts(board, ["model"], suffix, min_seeds)  # one family per model and baseline
    board.insert(board.columns.get_loc("matched_baseline") + 1, "verdict", board.pop(f"verdict_{MATCHED}"))
    board["rank"] = board.groupby("model")["dsc_mean"].rank(ascending=False, method="min").astype("Int64")
    if runs is not None and len(runs):
        board = board.merge(_run_columns(runs), on=KEYS, how="outer")
        board["complete"] = board["finished"] == board["planned"]
        board[["n_runs", "n_cases"]] = board[["n_runs", "n_cases"]].fillna(0).astype(int)
    return board.sort_values(["model", "rank", "strategy", "source"], na_position="last").reset_index(
        drop=True
    )


def _run_columns(runs: pd.DataFrame) -> pd.DataFrame:
    """Cost, completeness and convergence per row, from the runs table."""
    agg = {
        "planned": ("status", "size"),
        "finished": ("status", lambda s: int((s == "done").sum())),
        "finetune_wall_s": ("wall_s", "mean"),
        "pretrain_wall_s": ("pretrain_wall_s", "mean"),
        "epochs_to_dice": ("epochs_to_dice", censored_median),
        "reached_dice": ("epochs_to_dice", lambda s: int(s.notna().sum())),
    }
    if "notes" in runs:
        agg["notes"] = ("notes", _join_notes)
    done = runs[runs.status == "done"]
    out = runs.groupby(KEYS, sort=False).agg(**{k: v for k, v in agg.items() if k in ("planned", "finished")})
    rest = done.groupby(KEYS, sort=False).agg(
        **{k: v for k, v in agg.items() if k not in ("planned", "finished")}
    )
    return out.join(rest, how="left").reset_index()


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
            if v.is_integer() and abs(v) >= 1 or math.isinf(v):  # counts (steps, seeds needed) as integers
                return str(v) if math.isinf(v) else str(int(v))
            return format(v, ".2g") if 0 < abs(v) < 1e-3 else format(v, floatfmt)
        if v is pd.NA:
            return ""
        return " ".join(str(v).split()).replace("|", "\\|")  # one line per row, pipes escaped

    head = "| " + " | ".join(df.columns) + " |"
    sep = "|" + "|".join("---" for _ in df.columns) + "|"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([head, sep, *body]) + "\n"


def design_power(board: pd.DataFrame, planned_seeds: int, delta: float = st.TARGET_DIFFERENCE) -> dict | None:
    """Power of a design from a leaderboard's measured variance components (median over the rows' comparisons
    with their matched baseline): seeds needed for ``delta`` at 80% power and the power with ``planned_seeds``.
    None when the board has no comparison with more than one seed."""
    cols = [f"var_{k}_{MATCHED}" for k in ("seed", "case", "resid")]
    if not set(cols) <= set(board.columns):
        return None
    part = board.dropna(subset=cols)
    if part.empty:
        return None
    comps = {k: float(part[c].median()) for k, c in zip(("seed", "case", "resid"), cols)}
    n_cases = int(part["n_cases"].median())
    return {
        "components": comps,
        "n_cases": n_cases,
        "needed": st.seeds_needed(comps, n_cases, delta),
        "power": st.seed_power(comps, planned_seeds, n_cases, delta),
        "planned": planned_seeds,
        "delta": delta,
    }


def power_sentence(power: dict) -> str:
    """One sentence for the leaderboard header and ``sweep --dry-run``."""
    c = power["components"]
    needed = "more than 200 (the case variance alone is too large: more cases needed)"
    if math.isfinite(power["needed"]):
        needed = f"{power['needed']:.0f}"
    return (
        f"Power for seeds: with the median variance components of the differences to the matched baseline "
        f"(sd seed {math.sqrt(c['seed']):.3f}, case {math.sqrt(c['case']):.3f}, residual "
        f"{math.sqrt(c['resid']):.3f} DSC) on {power['n_cases']} cases, detecting a DSC difference of "
        f"{power['delta']:g} at alpha 0.05 with 80% power needs {needed} seeds; with {power['planned']} "
        f"seed(s) the power is {power['power']:.0%} (statsmodels TTestPower, noncentral t, df = seeds - 1)."
    )
