"""``leaderboard.md``: the tables of a sweep with the sentences a reader needs to interpret them."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from transferbench.evaluation import statistics as st
from transferbench.evaluation.leaderboard import MATCHED, collapsed_mask, to_markdown

MAIN = ["rank", "model", "strategy", "source", "n_train", "steps", "n_runs", "collapsed", "n_cases", "dsc_mean",
        "dsc_mean_all", "nsd_mean", "matched_baseline", f"dsc_diff_{MATCHED}", f"ci_low_{MATCHED}",
        f"ci_high_{MATCHED}", f"p_holm_{MATCHED}", f"per_seed_{MATCHED}", "dsc_diff_scratch", "ci_low_scratch",
        "ci_high_scratch", "p_holm_scratch", "complete", "reference", "notes"]  # fmt: skip
COST = ["model", "strategy", "source", "n_train", "planned", "finished", "finetune_wall_s", "pretrain_wall_s",
        "epochs_to_dice", "reached_dice", "plateau_gain"]  # fmt: skip
FAMILIES = {
    "strategies": "Strategy against strategy (same model and source)",
    "sources": "Which source helps most: source against source (same model and strategy)",
    "multisource_vs_best_single": "Multi-source against the fine-tune row of its best single source",
    "hybrid_vs_finetune": "Hybrid against fine-tune from the same source",
}


def _header(info: dict, board: pd.DataFrame, per_case: pd.DataFrame) -> list[str]:
    target = info["target"]
    n_cases = int(per_case.groupby(st.UNIT).ngroups) if len(per_case) else 0
    seeds = sorted(per_case["seed"].unique()) if len(per_case) else []
    text = [
        f"Target {target['dataset']} ({target.get('label_mode', '')}, {target.get('fold_scheme', '')}); "
        f"{'synthetic benchmark' if info.get('synthetic') else 'data root ' + info['data_root']}; "
        f"{n_cases} test cases, seeds {', '.join(map(str, seeds))}.",
        "",
        "**The case is the unit.** `dsc_mean` / `nsd_mean`: mean over test cases of each case's mean over the "
        "row's runs (seeds, folds), collapsed runs left out (`dsc_mean_all` keeps them; `collapsed` counts "
        "them). Every comparison is paired on the cases both rows scored: per-case differences of the run "
        "means, a two-level bootstrap 95% CI (cases resampled, then runs within each case, so seed "
        "disagreement widens it), the two-sided Wilcoxon signed-rank p over the cases, Holm-corrected over "
        "one family per model, label budget (`n_train`: labelled target volumes) and baseline (statsmodels).",
        "",
        f"**Compute-matched.** `steps` is every optimiser step a row's model needed (its pretraining chain "
        f"+ target training; a shared pretraining counts fully for each row that uses it). `{MATCHED}` trains "
        f"the target from scratch for the same number of steps and is the primary baseline "
        f"(`*_{MATCHED}` columns; `matched_baseline` names the row used, `scratch` when the row adds no "
        "steps); `*_scratch` columns compare with the plain target budget. `scratch_converged` trains "
        f"{info.get('converged_factor', 2.0):g}x the largest matched budget (He et al. 2019).",
    ]
    if n_cases:
        text += ["", f"With {n_cases} cases no two-sided exact Wilcoxon p can be below "
                 f"2 / 2^{n_cases} = {st.exact_floor(n_cases):.2g}."]  # fmt: skip
    sd = board.get(f"sd_diff_{MATCHED}", pd.Series(dtype=float)).dropna()
    if len(sd) and n_cases > 1:
        mdd = st.detectable_difference(float(np.median(sd)), n_cases)
        text.append(
            f"Power: with the median paired sd of the differences ({np.median(sd):.3f}), the smallest DSC "
            f"difference detectable at alpha 0.05 with 80% power is about {mdd:.3f} (before Holm)."
        )
    if 0 < len(seeds) < 3:
        text += ["", f"**p-values are conditional on the trained models**: {len(seeds)} seed(s) per row, so "
                 "training randomness is not replicated enough to enter the test; `per_seed_*` columns show "
                 "each seed's difference."]  # fmt: skip
    return text


def _convergence(info: dict) -> str:
    return (
        f"`epochs_to_dice`: lower median over a row's runs of the first epoch with validation Dice >= "
        f"{info['dice_threshold']}, a run that never reached it counted as never (blank: the median run "
        "never did); `reached_dice` of `finished`. Validation uses the fold's training cases (the fold has no "
        "spare labelled case); the tested checkpoint is the last one, so no checkpoint choice uses them and "
        "no run looks at a test case before testing. `plateau_gain`: best validation Dice in the last quarter "
        "of training minus the best before it (mean over runs; < 0.01 = plateaued)."
    )


def _rank_section(ranking: dict[str, dict]) -> list[str]:
    lines = ["", "## Friedman test, Nemenyi post-hoc and rank stability", ""]
    for model, a in ranking.items():
        if math.isnan(a["p"]):
            lines.append(f"- {model}: fewer than 3 rows or 2 complete cases; no rank test.")
            continue
        shares = a["shares"]
        modal = shares.loc[shares.groupby("row")["share"].idxmax()].set_index("row") if len(shares) else None
        table = pd.DataFrame({"row": a["mean_rank"].index, "mean_rank": a["mean_rank"].to_numpy()})
        table = table.sort_values("mean_rank")
        if modal is not None:
            table["modal_rank"] = [int(modal.loc[r, "rank"]) for r in table["row"]]
            table["modal_share"] = [float(modal.loc[r, "share"]) for r in table["row"]]
        lines += [
            f"**{model}**: Friedman chi2 = {a['statistic']:.1f}, p = {a['p']:.2g} over {len(a['rows'])} rows "
            f"and {a['n_cases']} cases; Nemenyi critical difference {a['cd']:.2f} ranks (rows whose mean ranks "
            f"differ by less are not distinguishable at 0.05); median Kendall tau between the ranking and "
            f"{1000} case-bootstrap rankings {a['kendall_tau']:.2f} (`rank_stability.csv`: the share of "
            "resamples in which each row holds each rank).",
            "",
            to_markdown(table),
        ]
    return [*lines, ""]


def leaderboard_markdown(
    info: dict,
    board: pd.DataFrame,
    runs: pd.DataFrame,
    per_case: pd.DataFrame,
    tests: pd.DataFrame | None = None,
    ranking: dict[str, dict] | None = None,
    extra: dict[str, pd.DataFrame] | None = None,
    similarity: pd.DataFrame | None = None,
) -> str:
    lines = [f"# Leaderboard: {info['name']}", "", *_header(info, board, per_case), ""]
    cols = [c for c in MAIN if c in board.columns]
    lines.append(to_markdown(board[cols]) if len(board) else "(no finished runs)\n")
    target_runs = runs[runs.kind == "finetune"] if len(runs) else runs
    if len(board) and "planned" in board:
        plateau = (
            target_runs.groupby(["model", "strategy", "source"])["plateau_gain"].mean().rename("plateau_gain")
        )
        cost = board.merge(plateau.reset_index(), on=["model", "strategy", "source"], how="left")
        lines += [
            "",
            "## Cost and convergence",
            "",
            _convergence(info),
            "",
            to_markdown(cost[[c for c in COST if c in cost]]),
        ]
    for family, title in FAMILIES.items():
        part = tests[tests.family == family] if tests is not None and len(tests) else None
        if part is not None and len(part):
            lines += ["", f"## {title}", "", "`dsc_diff` = a - b (paired, case-level); Holm within this family "
                      "and model.", "", to_markdown(part.drop(columns="family"))]  # fmt: skip
    lines += _rank_section(ranking or {})
    if similarity is not None and len(similarity):
        lines += ["", "## Source-target lesion similarity (measured on the data)", "",
                  "`similarity.csv` (`transferbench data similarity`): histogram intersections with the target's "
                  "lesions of lesion HU (`intensity_overlap`), position in body-box coordinates "
                  "(`location_overlap`) and log component volume (`size_overlap`); median component and per-case "
                  "lesion volume (ml), median minor/major axis ratio (`elongation`), median lesion HU.", "",
                  to_markdown(similarity)]  # fmt: skip
    for name, other in (extra or {}).items():
        lines += ["", f"## Extra test set: {name}", "", "The same models, every case of the set.", ""]
        lines.append(to_markdown(other[[c for c in cols if c in other.columns and c != "reference"]]))
    flagged = runs[collapsed_mask(runs)] if len(runs) else runs
    if len(flagged):
        lines += ["", f"## Collapsed runs ({len(flagged)})", "", "Empty predictions on >= 90% of the test cases "
                  "with a non-empty reference, or a validation Dice that never left 0: left out of every mean "
                  "and test above except `dsc_mean_all`.", "", to_markdown(flagged[["id", "val_max"]])]  # fmt: skip
    bad = runs[runs.status != "done"] if len(runs) else runs
    if len(bad):
        lines += ["", f"**Incomplete: {len(bad)} of {len(runs)} runs did not finish.**", ""]
        lines.append(to_markdown(bad[["id", "status", "error"]]))
    return "\n".join(lines)
