"""Figures of the comparison layer: forest plot of the differences to the step-matched scratch, paired
per-case lines, the critical-difference diagram (Demsar 2006) and the rank-stability blob plot (challengeR).
Significance is drawn from the leaderboard's ``verdict`` column only, never from a p-value of its own."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd

from transferbench.evaluation import statistics as st
from transferbench.evaluation.comparisons import row_label
from transferbench.evaluation.leaderboard import KEYS, MATCHED, without_collapsed
from transferbench.plots import new_figure, styled
from transferbench.plots import save_figure as save

VERDICT_COLOUR = {"better": "#0072B2", "worse": "#D55E00", "no evidence": "0.45", "too few seeds": "white"}


def _budget(table: pd.DataFrame) -> str:
    budgets = sorted(table["n_train"].dropna().unique()) if "n_train" in table else []
    return f", {int(budgets[0])} labelled target volume(s)" if len(budgets) == 1 else ""


@styled
def forest(board: pd.DataFrame, model: str, path: Path) -> pd.DataFrame | None:
    """Every row's DSC difference to its step-matched scratch with the crossed seeds x cases 95% interval,
    the dot coloured by the row's ``verdict``; with several label budgets each row's label starts with its
    budget (``n1: ...``), largest budget on top. Returns the drawn rows (label, diff, ci, verdict)."""
    col = f"dsc_diff_{MATCHED}"
    b = board[(board.model == model)].dropna(subset=[col]) if col in board else board.iloc[:0]
    if b.empty:
        return None
    several = "n_train" in b and b["n_train"].nunique() > 1
    b = b.sort_values(["n_train", col] if several else col)
    y = np.arange(len(b))
    fig, ax = new_figure(figsize=(6.4, 1.2 + 0.32 * len(b)))
    low, high = b[f"ci_low_{MATCHED}"], b[f"ci_high_{MATCHED}"]
    ax.errorbar(b[col], y, xerr=[b[col] - low, high - b[col]], fmt="none", ecolor="0.4", capsize=2, lw=1)
    colours = [VERDICT_COLOUR.get(v, "0.45") for v in b["verdict"]]
    ax.scatter(b[col], y, c=colours, edgecolors="0.2", linewidths=0.6, zorder=3, s=22)
    ax.axvline(0, color="k", lw=0.8)
    span = max(0.05, float(np.nanmax(np.abs([low.min(), high.max()]))))
    ax.set_xlim(-min(1.0, span * 1.05), min(1.0, span * 1.05))  # a DSC difference lies in [-1, 1]
    budgets = [f"n{int(n)}: " for n in b["n_train"]] if several else [""] * len(b)
    names = [
        f"{n}{row_label(s, src)} (vs {base}; seeds won {won})"
        for n, s, src, base, won in zip(
            budgets, b.strategy, b.source, b.matched_baseline, b[f"seeds_won_{MATCHED}"]
        )
    ]
    ax.set_yticks(y, names, fontsize=7)
    ax.set_xlabel("DSC difference to the step-matched scratch (crossed seeds x cases 95% CI)")
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], marker="o", ls="", color=c, markeredgecolor="0.2", label=v)
               for v, c in VERDICT_COLOUR.items() if v in set(b["verdict"])]  # fmt: skip
    ax.legend(handles=handles, title="verdict", fontsize=7, title_fontsize=7, loc="lower right")
    ax.set_title(f"{model}{_budget(b)}: transfer gain at equal compute", fontsize=9)
    save(fig, path)
    return pd.DataFrame({"row": names, "diff": b[col].to_numpy(), "ci_low": low.to_numpy(), "ci_high": high.to_numpy(),
                         "verdict": b["verdict"].to_numpy()})  # fmt: skip


@styled
def paired_cases(per_case: pd.DataFrame, board: pd.DataFrame, model: str, path: Path) -> pd.DataFrame | None:
    """One panel per row: each case's seed-averaged DSC under the matched baseline and under the row, on the
    seeds and cases the leaderboard's comparison used (``statistics.compare``, as the table). Returns the
    drawn panels (row, baseline, mean difference, cases won, n_cases, verdict)."""
    b = (
        board[(board.model == model) & (board.matched_baseline.fillna("") != "")]
        if "matched_baseline" in board
        else board.iloc[:0]
    )
    if b.empty:
        return None
    ok = without_collapsed(per_case)
    groups = {k: g for k, g in ok[ok.model == model].groupby(KEYS)}
    cols = min(4, len(b))
    rows = -(-len(b) // cols)
    fig, axes = new_figure(rows, cols, figsize=(2.4 * cols, 2.4 * rows), squeeze=False, sharey=True)
    drawn = []
    for ax, r in zip(axes.flat, b.itertuples(index=False)):
        cmp = st.compare(groups.get((model, r.strategy, r.source), ok.iloc[:0]),
                         groups.get((model, r.matched_baseline, "-"), ok.iloc[:0]), n_boot=0)  # fmt: skip
        a, base = cmp["case_a"], cmp["case_b"]
        for c in a.index:
            up = a[c] >= base[c]
            ax.plot([0, 1], [base[c], a[c]], color="#0072B2" if up else "#D55E00", lw=0.8, alpha=0.8)
        short = "matched" if r.matched_baseline.startswith(MATCHED) else r.matched_baseline
        ax.set_xticks([0, 1], [short, "row"], fontsize=6)
        ax.set_title(f"{row_label(r.strategy, r.source)}\n{cmp['diff']:+.3f}, {cmp['wins']}/{cmp['n_cases']} cases, "
                     f"{r.verdict}", fontsize=6)  # fmt: skip
        drawn.append({"strategy": r.strategy, "source": r.source, "baseline": r.matched_baseline,
                      "diff": float((a - base).mean()), "wins": cmp["wins"], "n_cases": cmp["n_cases"],
                      "seeds": cmp["n_seeds"], "verdict": r.verdict})  # fmt: skip
    for ax in list(axes.flat)[len(b) :]:
        ax.axis("off")
    axes[0, 0].set_ylabel("case DSC (mean over the paired seeds)", fontsize=7)
    fig.suptitle(f"{model}{_budget(b)}: paired cases, matched baseline -> row (blue: row better); "
                 "title: mean difference, cases won, verdict", fontsize=8)  # fmt: skip
    fig.tight_layout()
    save(fig, path)
    return pd.DataFrame(drawn)


@styled
def cd_diagram(analysis: dict, model: str, path: Path) -> None:
    """Critical-difference diagram: mean Friedman ranks, bars join rows Nemenyi does not separate."""
    import scikit_posthocs as sp

    if analysis.get("posthoc") is None:
        return
    ranks = analysis["mean_rank"]
    fig, ax = new_figure(figsize=(8, 0.8 + 0.22 * len(ranks)))
    # scikit-posthocs orders the crossbars by iterating sets of the group names; string hashes change
    # between processes, so integer names keep the figure byte-identical from run to run
    names = list(ranks.index)
    ids = pd.Series(ranks.to_numpy(), index=range(len(names)))
    sig = analysis["posthoc"].copy()
    sig.index = sig.columns = range(len(names))
    palette = {i: matplotlib.colormaps["tab10"](i % 10) for i in range(len(names))}
    drawn = sp.critical_difference_diagram(ids, sig, ax=ax, label_fmt_left="{label}", label_fmt_right="{label}",
                                           color_palette=palette, label_props={"fontsize": 7})  # fmt: skip
    for text in drawn["labels"]:
        i = int(text.get_text())
        text.set_text(f"{names[i]} ({ids[i]:.2g})")
    ax.set_title(f"{model}: mean rank over {analysis['n_cases']} cases (Friedman p = {analysis['p']:.2g}, "
                 f"Nemenyi CD = {analysis['cd']:.2f}; conditional on the trained models)", fontsize=9)  # fmt: skip
    save(fig, path)


@styled
def rank_blobs(analysis: dict, model: str, path: Path) -> None:
    """Bootstrap rank distribution per row (dot area = share of case resamples with that rank)."""
    shares = analysis.get("shares")
    if shares is None or shares.empty:
        return
    order = list(analysis["mean_rank"].sort_values().index)
    y = {row: i for i, row in enumerate(order)}
    fig, ax = new_figure(figsize=(6.4, 0.9 + 0.3 * len(order)))
    ax.scatter(shares["rank"], shares["row"].map(y), s=300 * shares["share"], color="#0072B2", alpha=0.7)
    ax.set_yticks(range(len(order)), order, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("rank (1 = best mean DSC)")
    what = "seed and case" if analysis.get("rank_seeds", 0) > 1 else "case"
    ax.set_title(f"{model}: rank stability over 1000 {what} bootstraps (Kendall tau {analysis['kendall_tau']:.2f})",
                 fontsize=9)  # fmt: skip
    save(fig, path)


@styled
def similarity_gain(board: pd.DataFrame, similarity: pd.DataFrame, labels: dict[str, str], model: str,
                    path: Path) -> None:  # fmt: skip
    """Each single source's measured fine-tune gain over the step-matched scratch against its measured
    lesion similarity to the target (one panel per similarity measure, one row per label budget)."""
    col = f"dsc_diff_{MATCHED}"
    if col not in board or similarity.empty:
        return
    b = board[(board.model == model) & (board.strategy == "finetune") & board.source.isin(labels)].dropna(
        subset=[col]
    )
    sim = similarity.set_index("source")
    b = b[b.source.map(labels).isin(sim.index)]
    if b.empty:
        return
    budgets = sorted(b.n_train.unique(), reverse=True) if "n_train" in b else [None]
    measures = ["intensity_overlap", "location_overlap", "size_overlap"]
    fig, axes = new_figure(len(budgets), len(measures), figsize=(3.2 * len(measures), 2.8 * len(budgets)),
                             sharey="row", squeeze=False)  # fmt: skip
    for row, n in zip(axes, budgets):
        part = b if n is None else b[b.n_train == n]
        for ax, m in zip(row, measures):
            x = part.source.map(labels).map(sim[m])
            yerr = [part[col] - part[f"ci_low_{MATCHED}"], part[f"ci_high_{MATCHED}"] - part[col]]
            ax.errorbar(x, part[col], yerr=yerr, fmt="none", ecolor="0.5", capsize=2)
            colours = [VERDICT_COLOUR.get(v, "0.45") for v in part.get("verdict", [""] * len(part))]
            ax.scatter(x, part[col], c=colours, edgecolors="0.2", linewidths=0.6, s=18, zorder=3)
            for xi, yi, name in zip(x, part[col], part.source):
                ax.annotate(name, (xi, yi), fontsize=6, xytext=(3, 3), textcoords="offset points")
            ax.axhline(0, color="k", lw=0.8)
            ax.set_xlabel(m.replace("_", " ") + " with the target", fontsize=8)
        row[0].set_ylabel(
            ("DSC gain over scratch_matched" + ("" if n is None else f"\n{n} labelled")), fontsize=8
        )
    fig.suptitle(f"{model}: fine-tune gain against measured lesion similarity (crossed 95% CI; dot: verdict, "
                 "blue better, vermillion worse, grey no evidence, white too few seeds)", fontsize=8)  # fmt: skip
    fig.tight_layout()
    save(fig, path)
