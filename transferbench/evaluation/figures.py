"""Leaderboard figures (matplotlib, Agg): difference-to-scratch heatmap, per-case distributions, learning
curves and prediction overlays. Written atomically as PNG into ``<results>/figures/``."""

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
from transferbench.evaluation.plotting import save  # noqa: E402
from transferbench.run_folder import RunFolder  # noqa: E402

Curves = dict[str, list]  # run id -> [(epoch, validation Dice), ...]


def heatmap(board: pd.DataFrame, model: str, path: Path) -> None:
    col = f"dsc_diff_{MATCHED}"
    b = board[(board.model == model) & ~board.strategy.map(is_baseline)].dropna(subset=[col])
    if b.empty:
        return
    table = b.pivot(index="strategy", columns="source", values=col)
    pvals = b.pivot(index="strategy", columns="source", values=f"p_holm_{MATCHED}")
    lim = max(0.05, float(np.nanmax(np.abs(table.to_numpy()))))
    fig, ax = plt.subplots(figsize=(1.4 + 1.3 * table.shape[1], 0.9 + 0.5 * table.shape[0]))
    im = ax.imshow(table.to_numpy(), cmap="RdBu", vmin=-lim, vmax=lim, aspect="auto")
    for (i, j), v in np.ndenumerate(table.to_numpy()):
        if not np.isnan(v):
            star = "*" if pvals.iloc[i, j] < 0.05 else ""
            ax.text(j, i, f"{v:+.3f}{star}", ha="center", va="center", fontsize=8)
    ax.set_xticks(range(table.shape[1]), table.columns, rotation=30, ha="right")
    ax.set_yticks(range(table.shape[0]), table.index)
    ax.set_title(f"{model}: DSC difference to the step-matched scratch (* Holm p < 0.05)", fontsize=9)
    fig.colorbar(im, ax=ax, shrink=0.8)
    save(fig, path)


def distributions(per_case: pd.DataFrame, model: str, path: Path) -> None:
    d = per_case[per_case.model == model].dropna(subset=["dsc"])
    if d.empty:
        return
    groups = [
        (f"{s}\n{src}" if src != "-" else s, g["dsc"].to_numpy())
        for (s, src), g in d.groupby(["strategy", "source"])
    ]
    fig, ax = plt.subplots(figsize=(max(6, 0.55 * len(groups)), 3.6))
    ax.boxplot([g for _, g in groups], showfliers=False)
    rng = np.random.default_rng(0)
    for i, (_, g) in enumerate(groups, start=1):
        ax.scatter(i + rng.uniform(-0.15, 0.15, len(g)), g, s=5, alpha=0.5, color="k")
    ax.set_xticks(range(1, len(groups) + 1), [n for n, _ in groups], rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("per-case DSC")
    ax.set_title(f"{model}: per-case DSC (test cases x folds x seeds)", fontsize=9)
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
    fig, axes = plt.subplots(len(cases), 3, figsize=(9, 3 * len(cases)), squeeze=False)
    for row, case in zip(axes, cases):
        ras = lambda p: nib.as_closest_canonical(nib.load(p))  # noqa: E731  (stored orientations differ)
        img = np.asarray(ras(found[case].image).dataobj, dtype=np.float32)
        gt = np.asarray(ras(found[case].label).dataobj) > 0
        z = int(np.argmax(gt.sum(axis=(0, 1)))) if gt.any() else img.shape[2] // 2
        for ax, (name, run_id) in zip(row, [("reference", None), ("scratch", base[base.case == case].run.iloc[0]),
                                            (f"{best.strategy} / {best.source}", top[top.case == case].run.iloc[0])]):  # fmt: skip
            ax.imshow(np.rot90(img[:, :, z]), cmap="gray")
            mask = gt if run_id is None else np.asarray(ras(folder_of(run_id).prediction(case)).dataobj) > 0
            if mask[:, :, z].any():
                ax.contour(
                    np.rot90(mask[:, :, z]), levels=[0.5], colors="r" if run_id else "lime", linewidths=0.8
                )
            dsc = "" if run_id is None else f" DSC {d[(d.run == run_id) & (d.case == case)].dsc.iloc[0]:.2f}"
            ax.set_title(f"{case}: {name}{dsc}", fontsize=7)
            ax.axis("off")
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
        distributions(per_case, model, out / f"{model}_per_case_dsc.png")
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
