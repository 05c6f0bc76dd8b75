"""Figures of the comparison layer: forest plot of the differences to the step-matched scratch, paired
per-case lines, the critical-difference diagram (Demsar 2006) and the rank-stability blob plot (challengeR)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from transferbench.evaluation import statistics as st  # noqa: E402
from transferbench.evaluation.comparisons import row_label  # noqa: E402
from transferbench.evaluation.leaderboard import KEYS, MATCHED, without_collapsed  # noqa: E402
from transferbench.plots import save_figure as save  # noqa: E402


def forest(board: pd.DataFrame, model: str, path: Path) -> None:
    """Every row's DSC difference to its step-matched scratch with the two-level 95% CI."""
    col = f"dsc_diff_{MATCHED}"
    b = board[(board.model == model)].dropna(subset=[col]) if col in board else board.iloc[:0]
    if b.empty:
        return
    b = b.sort_values(col)
    y = np.arange(len(b))
    fig, ax = plt.subplots(figsize=(6.4, 0.9 + 0.32 * len(b)))
    lo, hi = b[col] - b[f"ci_low_{MATCHED}"], b[f"ci_high_{MATCHED}"] - b[col]
    sig = b[f"p_holm_{MATCHED}"] < 0.05
    ax.errorbar(b[col], y, xerr=[lo, hi], fmt="none", ecolor="0.4", capsize=2, lw=1)
    ax.scatter(b[col], y, c=np.where(sig, "#0072B2", "0.6"), zorder=3, s=18)
    ax.axvline(0, color="k", lw=0.8)
    names = [
        f"{row_label(s, src)} (vs {base})" for s, src, base in zip(b.strategy, b.source, b.matched_baseline)
    ]
    ax.set_yticks(y, names, fontsize=7)
    ax.set_xlabel("DSC difference to the step-matched scratch (95% two-level bootstrap CI)")
    ax.set_title(f"{model}: transfer gain at equal compute (blue: Holm p < 0.05)", fontsize=9)
    save(fig, path)


def paired_cases(per_case: pd.DataFrame, board: pd.DataFrame, model: str, path: Path) -> None:
    """One panel per row: each case's run-mean DSC, its matched baseline to the row (one line per case)."""
    b = (
        board[(board.model == model) & (board.matched_baseline.fillna("") != "")]
        if "matched_baseline" in board
        else board.iloc[:0]
    )
    if b.empty:
        return
    ok = without_collapsed(per_case)
    groups = {k: g for k, g in ok[ok.model == model].groupby(KEYS)}
    cols = min(4, len(b))
    rows = -(-len(b) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.3 * cols, 2.2 * rows), squeeze=False, sharey=True)
    for ax, r in zip(axes.flat, b.itertuples(index=False)):
        a = st.case_means(groups.get((model, r.strategy, r.source), ok.iloc[:0]))
        base = st.case_means(groups.get((model, r.matched_baseline, "-"), ok.iloc[:0]))
        common = a.index.intersection(base.index)
        for c in common:
            up = a[c] >= base[c]
            ax.plot([0, 1], [base[c], a[c]], color="#0072B2" if up else "#D55E00", lw=0.8, alpha=0.8)
        short = "matched" if r.matched_baseline.startswith(MATCHED) else r.matched_baseline
        ax.set_xticks([0, 1], [short, "row"], fontsize=6)
        ax.set_title(row_label(r.strategy, r.source), fontsize=7)
    for ax in list(axes.flat)[len(b) :]:
        ax.axis("off")
    axes[0, 0].set_ylabel("case DSC (mean over runs)", fontsize=7)
    fig.suptitle(f"{model}: paired cases, matched baseline -> row (blue: row better)", fontsize=9)
    save(fig, path)


def cd_diagram(analysis: dict, model: str, path: Path) -> None:
    """Critical-difference diagram: mean Friedman ranks, bars join rows Nemenyi does not separate."""
    import scikit_posthocs as sp

    if analysis.get("posthoc") is None:
        return
    ranks = analysis["mean_rank"]
    fig, ax = plt.subplots(figsize=(8, 0.8 + 0.22 * len(ranks)))
    # scikit-posthocs orders the crossbars by iterating sets of the group names; string hashes change
    # between processes, so integer names keep the figure byte-identical from run to run
    names = list(ranks.index)
    ids = pd.Series(ranks.to_numpy(), index=range(len(names)))
    sig = analysis["posthoc"].copy()
    sig.index = sig.columns = range(len(names))
    palette = {i: plt.get_cmap("tab10")(i % 10) for i in range(len(names))}
    drawn = sp.critical_difference_diagram(ids, sig, ax=ax, label_fmt_left="{label}", label_fmt_right="{label}",
                                           color_palette=palette, label_props={"fontsize": 7})  # fmt: skip
    for text in drawn["labels"]:
        i = int(text.get_text())
        text.set_text(f"{names[i]} ({ids[i]:.2g})")
    ax.set_title(f"{model}: mean rank over {analysis['n_cases']} cases (Friedman p = {analysis['p']:.2g}, "
                 f"Nemenyi CD = {analysis['cd']:.2f})", fontsize=9)  # fmt: skip
    save(fig, path)


def rank_blobs(analysis: dict, model: str, path: Path) -> None:
    """Bootstrap rank distribution per row (dot area = share of case resamples with that rank)."""
    shares = analysis.get("shares")
    if shares is None or shares.empty:
        return
    order = list(analysis["mean_rank"].sort_values().index)
    y = {row: i for i, row in enumerate(order)}
    fig, ax = plt.subplots(figsize=(6.4, 0.9 + 0.3 * len(order)))
    ax.scatter(shares["rank"], shares["row"].map(y), s=300 * shares["share"], color="#0072B2", alpha=0.7)
    ax.set_yticks(range(len(order)), order, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("rank (1 = best mean DSC)")
    ax.set_title(f"{model}: rank stability over 1000 case bootstraps (Kendall tau {analysis['kendall_tau']:.2f})",
                 fontsize=9)  # fmt: skip
    save(fig, path)


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
    fig, axes = plt.subplots(len(budgets), len(measures), figsize=(3.2 * len(measures), 2.8 * len(budgets)),
                             sharey="row", squeeze=False)  # fmt: skip
    for row, n in zip(axes, budgets):
        part = b if n is None else b[b.n_train == n]
        for ax, m in zip(row, measures):
            x = part.source.map(labels).map(sim[m])
            yerr = [part[col] - part[f"ci_low_{MATCHED}"], part[f"ci_high_{MATCHED}"] - part[col]]
            ax.errorbar(x, part[col], yerr=yerr, fmt="o", color="#0072B2", ecolor="0.5", capsize=2, ms=4)
            for xi, yi, name in zip(x, part[col], part.source):
                ax.annotate(name, (xi, yi), fontsize=6, xytext=(3, 3), textcoords="offset points")
            ax.axhline(0, color="k", lw=0.8)
            ax.set_xlabel(m.replace("_", " ") + " with the target", fontsize=8)
        row[0].set_ylabel(
            ("DSC gain over scratch_matched" + ("" if n is None else f"\n{n} labelled")), fontsize=8
        )
    fig.suptitle(f"{model}: fine-tune gain against measured lesion similarity", fontsize=9)
    fig.tight_layout()
    save(fig, path)
