"""Leaderboard figures (matplotlib, Agg): difference-to-scratch heatmap, per-case distributions of DSC, NSD
and HD95, learning curves and prediction overlays. Written atomically as PNG (200 dpi) and PDF into
``<results>/figures/`` (``transferbench.plots``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from transferbench.evaluation import stat_figures as sf  # noqa: E402
from transferbench.evaluation.leaderboard import MATCHED, is_baseline, without_collapsed  # noqa: E402
from transferbench.plots import OKABE_ITO, radiological  # noqa: E402
from transferbench.plots import save_figure as save  # noqa: E402
from transferbench.run_folder import RunFolder  # noqa: E402

Curves = dict[str, list]  # run id -> [(epoch, validation Dice), ...]


def heatmap(board: pd.DataFrame, model: str, path: Path) -> None:
    """Strategy x source grid of the DSC difference to the step-matched scratch; cells that were not run
    (or have no matched baseline) are hatched, not coloured like a zero difference."""
    from matplotlib.patches import Patch, Rectangle

    col = f"dsc_diff_{MATCHED}"
    b = board[(board.model == model) & ~board.strategy.map(is_baseline)].dropna(subset=[col])
    if b.empty:
        return
    table = b.pivot(index="strategy", columns="source", values=col)
    pvals = b.pivot(index="strategy", columns="source", values=f"p_holm_{MATCHED}")
    values = table.to_numpy(dtype=float)
    lim = max(0.05, float(np.nanmax(np.abs(values))))
    fig, ax = plt.subplots(figsize=(1.8 + 1.3 * table.shape[1], 1.2 + 0.5 * table.shape[0]))
    im = ax.imshow(np.ma.masked_invalid(values), cmap="RdBu", vmin=-lim, vmax=lim, aspect="auto")
    for (i, j), v in np.ndenumerate(values):
        if np.isnan(v):
            ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, hatch="///", edgecolor="0.55", lw=0))
        else:
            star = "*" if pvals.iloc[i, j] < 0.05 else ""
            ink = "white" if abs(v) > 0.6 * lim else "black"
            ax.text(j, i, f"{v:+.3f}{star}", ha="center", va="center", fontsize=8, color=ink)
    ax.set_xticks(range(table.shape[1]), table.columns, rotation=30, ha="right")
    ax.set_yticks(range(table.shape[0]), table.index)
    ax.set_xlabel("source")
    ax.set_ylabel("strategy")
    ax.set_title(f"{model}: DSC difference to the step-matched scratch (* Holm p < 0.05)", fontsize=9)
    fig.colorbar(im, ax=ax, shrink=0.8, label="DSC difference to scratch_matched")
    if np.isnan(values).any():
        hatch = Patch(facecolor="white", edgecolor="0.55", hatch="///", label="not run")
        ax.legend(handles=[hatch], loc="upper left", bbox_to_anchor=(0.0, -0.35), fontsize=7, frameon=False)
    save(fig, path)


METRICS = [("dsc", "DSC", "higher is better"), ("nsd", "NSD", "higher is better"),
           ("hd95_mm", "HD95 (mm)", "lower is better; one empty mask: left out")]  # fmt: skip


def distributions(per_case: pd.DataFrame, model: str, path: Path) -> None:
    """Per row: the per-case DSC, NSD and HD95 side by side (box plots with every case-seed point)."""
    d = per_case[per_case.model == model].dropna(subset=["dsc"])
    if d.empty:
        return
    nsd = next((c for c in d.columns if c.startswith("nsd_")), "nsd")
    keys = [(s, src) for (s, src), _ in d.groupby(["strategy", "source"])]
    names = [f"{s}\n{src}" if src != "-" else s for s, src in keys]
    fig, axes = plt.subplots(1, 3, figsize=(3 * max(3.0, 0.45 * len(keys)), 3.8), sharex=True)
    rng = np.random.default_rng(0)
    for ax, (column, label, note) in zip(axes, METRICS):
        column = nsd if column == "nsd" else column
        groups = [g[column].dropna().to_numpy() for _, g in d.groupby(["strategy", "source"])]
        ax.boxplot(groups, showfliers=False)
        for i, g in enumerate(groups, start=1):
            ax.scatter(i + rng.uniform(-0.15, 0.15, len(g)), g, s=4, alpha=0.5, color="k")
        ax.set_xticks(range(1, len(keys) + 1), names, rotation=60, ha="right", fontsize=6)
        ax.set_ylabel(f"per-case {label if column != nsd else f'NSD at {nsd[4:]}'}")
        ax.set_title(f"{label} ({note})", fontsize=8)
    fig.suptitle(f"{model}: per-case metrics (test cases x folds x seeds)", fontsize=9)
    fig.subplots_adjust(wspace=0.4)
    save(fig, path)


def learning_curves(val_curves: Curves, runs: pd.DataFrame, model: str, path: Path) -> None:
    r = runs[(runs.model == model) & (runs.kind == "finetune") & (runs.status == "done")]
    if r.empty:
        return
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for strategy, g in r.groupby("strategy"):
        curves = {}
        for run_id in g["id"]:
            for epoch, dice in val_curves.get(run_id, []):
                curves.setdefault(epoch + 1, []).append(dice)
        if curves:
            xs = sorted(curves)
            (line,) = ax.plot(xs, [np.mean(curves[x]) for x in xs], marker="o", ms=3, label=strategy)
            lo, hi = [np.min(curves[x]) for x in xs], [np.max(curves[x]) for x in xs]
            ax.fill_between(xs, lo, hi, color=line.get_color(), alpha=0.15, lw=0)
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation Dice on the training cases\n(mean; band: min-max over runs)")
    ax.set_title(f"{model}: convergence per strategy", fontsize=9)
    ax.legend(fontsize=7, ncol=2)
    save(fig, path)


def overlays(
    folder_of: Callable[[str], RunFolder],
    info: dict,
    per_case: pd.DataFrame,
    board: pd.DataFrame,
    model: str,
    path: Path,
) -> None:
    """Three test cases of the first fold and seed: image, reference, scratch and the best strategy."""
    import nibabel as nib

    from transferbench.data.sources import create_source

    b = board[(board.model == model) & (board.strategy != "scratch")].dropna(subset=["dsc_mean"])
    d = per_case[per_case.model == model]
    if b.empty or d.empty:
        return
    best = b.sort_values("dsc_mean", ascending=False).iloc[0]
    first = d[(d.fold == d.fold.min()) & (d.seed == d.seed.min())]
    pick = lambda s, src: first[(first.strategy == s) & (first.source == src)]  # noqa: E731
    base, top = pick("scratch", "-"), pick(best.strategy, best.source)
    cases = sorted(set(base["case"]) & set(top["case"]))[:3]
    if not cases:
        return
    target = info["target"]
    src = create_source(
        target["dataset"], **({"label_mode": target["label_mode"]} if "label_mode" in target else {})
    )
    found = {c.case_id: c for c in src.find_cases(info["data_root"])}
    from matplotlib.lines import Line2D

    ref_colour, pred_colour = OKABE_ITO[0], OKABE_ITO[1]  # blue and orange: colour-blind safe
    fig, axes = plt.subplots(len(cases), 3, figsize=(9, 3 * len(cases)), squeeze=False)
    for row, case in zip(axes, cases):
        ras = lambda p: nib.as_closest_canonical(nib.load(p))  # noqa: E731  (stored orientations differ)
        img = np.asarray(ras(found[case].image).dataobj, dtype=np.float32)
        gt = np.asarray(ras(found[case].label).dataobj) > 0
        z = int(np.argmax(gt.sum(axis=(0, 1)))) if gt.any() else img.shape[2] // 2
        for ax, (name, run_id) in zip(row, [("reference", None), ("scratch", base[base.case == case].run.iloc[0]),
                                            (f"{best.strategy} / {best.source}", top[top.case == case].run.iloc[0])]):  # fmt: skip
            ax.imshow(radiological(img[:, :, z]), cmap="gray")
            if gt[:, :, z].any():
                ax.contour(radiological(gt[:, :, z]), levels=[0.5], colors=[ref_colour], linewidths=0.9)
            if run_id is not None:
                mask = np.asarray(ras(folder_of(run_id).prediction(case)).dataobj) > 0
                if mask[:, :, z].any():
                    ax.contour(radiological(mask[:, :, z]), levels=[0.5], colors=[pred_colour], linewidths=0.9,
                               linestyles="--")  # fmt: skip
            dsc = "" if run_id is None else f" DSC {d[(d.run == run_id) & (d.case == case)].dsc.iloc[0]:.2f}"
            ax.set_title(f"{case}: {name}{dsc}", fontsize=7)
            ax.text(0.02, 0.5, "R", transform=ax.transAxes, color="w", fontsize=7, va="center")
            ax.text(0.98, 0.5, "L", transform=ax.transAxes, color="w", fontsize=7, va="center", ha="right")
            ax.axis("off")
    handles = [Line2D([], [], color=ref_colour, label="reference"),
               Line2D([], [], color=pred_colour, ls="--", label="prediction")]  # fmt: skip
    fig.legend(handles=handles, loc="lower center", ncol=2, fontsize=8, frameon=False)
    fig.suptitle("axial slices, radiological convention (patient's right on the left)", fontsize=8)
    save(fig, path)


def write_figures(
    out: Path,
    info: dict,
    per_case: pd.DataFrame,
    board: pd.DataFrame,
    runs: pd.DataFrame,
    val_curves: Curves,
    folder_of: Callable[[str], RunFolder],
    ranking: dict[str, dict] | None = None,
) -> None:
    """Every figure into ``out``; ``folder_of`` gives a run's folder (its stored predictions)."""
    for model in sorted(per_case["model"].unique()):
        sf.forest(board, model, out / f"{model}_forest.png")
        sf.paired_cases(per_case, board, model, out / f"{model}_paired_cases.png")
        if ranking and model in ranking:
            sf.cd_diagram(ranking[model], model, out / f"{model}_critical_difference.png")
            sf.rank_blobs(ranking[model], model, out / f"{model}_rank_stability.png")
        heatmap(board, model, out / f"{model}_diff_heatmap.png")
        distributions(per_case, model, out / f"{model}_per_case_metrics.png")
        learning_curves(val_curves, runs, model, out / f"{model}_learning_curves.png")
        try:
            overlays(folder_of, info, per_case, board, model, out / f"{model}_overlays.png")
        except (FileNotFoundError, OSError, KeyError, IndexError) as err:  # predictions or data not present
            print(f"overlays skipped for {model}: {err}")


def label_budget(per_case: pd.DataFrame, out: Path) -> None:
    """Per model: test DSC against the number of labelled target volumes, one line per row that ran at
    several budgets, with its two-level bootstrap 95% CI band (collapsed runs left out)."""
    from transferbench.evaluation import statistics as st
    from transferbench.evaluation.comparisons import row_label

    ok = without_collapsed(per_case)
    for model, g in ok.groupby("model"):
        rows = {k: r for k, r in g.groupby(["strategy", "source"]) if r["n_train"].nunique() > 1}
        if not rows:
            continue
        fig, ax = plt.subplots(figsize=(6.4, 4))
        for (strategy, source), r in sorted(rows.items()):
            ns, means, lo, hi = [], [], [], []
            for n, part in r.groupby("n_train"):
                m = st.score_matrix(part).to_numpy(dtype=float)
                ns.append(int(n))
                means.append(float(np.nanmean(np.nanmean(m, axis=1))))
                ci = st.two_level_ci(m, np.zeros_like(m), n_boot=1000)
                lo.append(ci[0])
                hi.append(ci[1])
            (line,) = ax.plot(ns, means, marker="o", ms=3, label=row_label(strategy, source))
            ax.fill_between(ns, lo, hi, color=line.get_color(), alpha=0.15, lw=0)
        ax.set_xlabel("labelled target volumes (n_train)")
        ax.set_ylabel("test DSC (mean over cases; 95% CI)")
        ax.set_xticks(sorted({int(n) for r in rows.values() for n in r["n_train"].unique()}))
        ax.set_title(f"{model}: label budget", fontsize=9)
        ax.legend(fontsize=7, ncol=2)
        save(fig, out / f"{model}_label_budget.png")
