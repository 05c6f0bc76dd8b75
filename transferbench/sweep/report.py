"""``leaderboard.md``: the tables of a sweep with the sentences a reader needs to interpret them."""

from __future__ import annotations

import math

import pandas as pd

from transferbench.evaluation import statistics as st
from transferbench.evaluation.leaderboard import (
    MATCHED,
    PLATEAU_ALPHA,
    PLATEAU_MIN_POINTS,
    PLATEAU_TOL,
    collapsed_mask,
    design_power,
    power_sentence,
    to_markdown,
)

MAIN = ["rank", "model", "strategy", "source", "n_train", "steps", "n_runs", "collapsed", "unconverged", "n_cases", "dsc_mean",
        "dsc_mean_all", "seed_sd", "nsd_mean", "matched_baseline", "verdict", f"dsc_diff_{MATCHED}",
        f"ci_low_{MATCHED}", f"ci_high_{MATCHED}", f"p_holm_{MATCHED}", f"seeds_won_{MATCHED}",
        f"prob_improve_{MATCHED}", f"seed_sd_base_{MATCHED}", f"seeds_needed_{MATCHED}", f"p_case_{MATCHED}",
        f"per_seed_{MATCHED}", "verdict_scratch", "dsc_diff_scratch", "ci_low_scratch", "ci_high_scratch",
        "complete", "reference", "notes"]  # fmt: skip
COST = ["model", "strategy", "source", "n_train", "planned", "finished", "finetune_wall_s", "pretrain_wall_s",
        "epochs_to_dice", "reached_dice", "plateau_gain", "converged"]  # fmt: skip
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
    delta, least = info.get("target_difference", st.TARGET_DIFFERENCE), info.get("min_seeds", st.MIN_SEEDS)
    text = [
        f"Target {target['dataset']} ({target.get('label_mode', '')}, {target.get('fold_scheme', '')}); "
        f"{'synthetic benchmark' if info.get('synthetic') else 'data root ' + info['data_root']}; "
        f"{n_cases} test cases, seeds {', '.join(map(str, seeds))}.",
        "",
        "**Seeds and cases are crossed.** A trained model is one draw of its training procedure and scores every "
        "test case. `dsc_mean` / `nsd_mean`: mean over test cases of each case's mean over the row's runs "
        "(seeds, folds), collapsed and unconverged runs left out (`dsc_mean_all` keeps them; `collapsed` and "
        "`unconverged` count them); "
        "`seed_sd`: the sd over seeds of the row's mean. A comparison takes the per-seed, per-case differences "
        "d[s, c] on the seeds both rows have (paired by seed) and the cases both scored: `dsc_diff` is their "
        "mean, `ci_low` / `ci_high` the crossed random-effects 95% interval (ANOVA mean squares, Var = "
        "(MS_seed + MS_case - MS_resid) / (S C), Satterthwaite df; `interval` names the design), its t-test p "
        "Holm-corrected (`p_holm`) over one family per model, label budget (`n_train`: labelled target volumes) "
        "and baseline.",
        "",
        f"**`verdict` is the only claim.** `better` / `worse`: Holm p < 0.05 with at least {least} seeds; "
        f"`too few seeds`: fewer than {least} seeds (below that even a stable recipe cannot detect a "
        f"{delta:g} DSC difference with 80% power), or not significant with fewer seeds than the comparison's "
        "own variance needs for it (`seeds_needed`); `no evidence`: enough seeds, nothing found. Replication: "
        "`seeds_won` (seeds whose mean difference is > 0), `per_seed`, `prob_improve` = P(row > baseline) over "
        "seeds and cases (rliable's probability of improvement; its 95% CI in comparisons.csv / "
        "leaderboard.csv), `seed_sd_base` the baseline's between-seed sd. Secondary and conditional on the "
        "trained models (it treats the runs as fixed): `p_case`, the Wilcoxon signed-rank p over the "
        "seed-averaged case differences.",
        "",
        f"**Compute-matched.** `steps` is every optimiser step a row's model needed (its pretraining chain "
        f"+ target training; a shared pretraining counts fully for each row that uses it). `{MATCHED}` trains "
        f"the target from scratch for the same number of steps and is the primary baseline "
        f"(`verdict` and `*_{MATCHED}` columns; `matched_baseline` names the row used, `scratch` when the row "
        "adds no steps); `*_scratch` columns compare with the plain target budget. `scratch_converged` trains "
        f"{info.get('converged_factor', 2.0):g}x the largest matched budget (He et al. 2019).",
    ]
    power = design_power(board, len(seeds), delta) if seeds else None
    if power is not None:
        text += ["", power_sentence(power)]
    if n_cases:
        text += ["", f"With {n_cases} cases no two-sided exact Wilcoxon `p_case` can be below "
                 f"2 / 2^{n_cases} = {st.exact_floor(n_cases):.2g}."]  # fmt: skip
    return text


def _convergence(info: dict) -> str:
    held_out = info.get("target", {}).get("val_source")
    where = (
        f"Validation uses the held-out target-domain cases of `{held_out}` (no run trains or tests on them)"
        if held_out
        else "Validation uses the fold's training cases (the fold has no spare labelled case), so the plateau "
        "rule says the fit to them has stopped improving, not that generalisation has"
    )
    return (
        f"`epochs_to_dice`: lower median over a row's runs of the first epoch with validation Dice >= "
        f"{info['dice_threshold']}, a run that never reached it counted as never (blank: the median run "
        f"never did); `reached_dice` of `finished`. {where}; the tested checkpoint is the last one, so no "
        "checkpoint choice uses them and no run looks at a test case before testing. Plateau rule: "
        "`plateau_gain` is the mean validation Dice of the last quarter of a run's validations minus that of "
        "the quarter before (mean over the row's runs; a `wsd` run's validations before its decay, "
        f"`plateau_epochs`); a run with a gain >= {PLATEAU_TOL} that is also a trend beyond the curve's scatter "
        f"(`plateau_p`, the one-sided p of the slope over those two quarters, < {PLATEAU_ALPHA}) has not "
        f"converged and is left out like a collapsed one (`unconverged`); with fewer than {PLATEAU_MIN_POINTS} "
        "validations convergence is unknown and not flagged. `converged`: runs that passed the rule, of "
        "`finished`."
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
            f"differ by less are not distinguishable at 0.05). Both rank tests use seed-averaged case means, so "
            f"they are conditional on the trained models. Median Kendall tau between the ranking and 1000 "
            f"bootstrap rankings {a['kendall_tau']:.2f}, "
            + (
                f"seeds ({a['rank_seeds']}) and cases resampled"
                if a.get("rank_seeds", 0) > 1
                else "cases resampled"
            )
            + " (`rank_stability.csv`: the share of resamples in which each row holds each rank).",
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
            target_runs.groupby(["model", "strategy", "source", "n_train"], dropna=False)
            .agg(
                plateau_gain=("plateau_gain", "mean"),
                converged=("converged", lambda s: int(s.map(lambda v: v is True or v == 1.0).sum())),
            )
            .reset_index()
        )
        keys = ["model", "strategy", "source", "n_train"]
        cost = board.merge(plateau, on=[k for k in keys if k in board], how="left")
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
            lines += ["", f"## {title}", "", "`dsc_diff` = a - b (paired by seed and case, crossed interval); "
                      "Holm within this family, model and label budget; `verdict` as above.", "", to_markdown(part.drop(columns="family"))]  # fmt: skip
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
    lines += _flagged_sections(runs)
    return "\n".join(lines)


def _flagged_sections(runs: pd.DataFrame) -> list[str]:
    """Collapsed, unconverged and unfinished runs, each listed with why it is left out."""
    lines: list[str] = []
    flagged = runs[collapsed_mask(runs)] if len(runs) else runs
    if len(flagged):
        lines += ["", f"## Collapsed runs ({len(flagged)})", "", "Empty or near-empty predictions (< 10% of the "
                  "reference lesion volume) on >= 90% of the test cases with a lesion, or a validation Dice that "
                  "never left 0: left out of every mean and test above except `dsc_mean_all`.", "", to_markdown(flagged[["id", "val_max"]])]  # fmt: skip
    not_converged = runs["converged"].map(lambda v: v is False or v == 0.0) if "converged" in runs else None
    late = runs[not_converged & ~collapsed_mask(runs)] if not_converged is not None else runs.iloc[:0]
    if len(late):
        cols = [c for c in ("id", "val_max", "plateau_gain", "plateau_p") if c in late]
        lines += ["", f"## Unconverged runs ({len(late)})", "", f"Validation Dice still rising by >= {PLATEAU_TOL} "
                  "from the second-last quarter of the validations to the last, as a trend (plateau rule above): "
                  "left out of every mean and test above except `dsc_mean_all`.", "",
                  to_markdown(late[cols])]  # fmt: skip
    bad = runs[runs.status != "done"] if len(runs) else runs
    if len(bad):
        lines += ["", f"**Incomplete: {len(bad)} of {len(runs)} runs did not finish.**", ""]
        lines.append(to_markdown(bad[["id", "status", "error"]]))
    return lines
