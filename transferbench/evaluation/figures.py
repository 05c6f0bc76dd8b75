"""Leaderboard figures (matplotlib, Agg): difference-to-scratch heatmap, per-case distributions of DSC, NSD
and HD95, learning curves and prediction overlays. Written atomically as PNG (200 dpi) and PDF into
``<results>/figures/`` (``transferbench.plots``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from transferbench.evaluation import stat_figures as sf
from transferbench.evaluation.leaderboard import MATCHED, collapsed_mask, is_baseline, without_collapsed
from transferbench.logs import LOGGER
from transferbench.plots import OKABE_ITO, new_figure, radiological, styled
from transferbench.plots import save_figure as save
from transferbench.run_folder import RunFolder

Curves = dict[str, list]  # run id -> [(epoch, validation Dice), ...]


def budget_note(table: pd.DataFrame) -> str:
    """ ", n_train N" naming the label budget a one-budget figure shows (empty when the table has none)."""
    budgets = sorted(table["n_train"].dropna().unique()) if "n_train" in table else []
    return f", {int(budgets[0])} labelled target volume(s)" if len(budgets) == 1 else ""


@styled
def heatmap(board: pd.DataFrame, model: str, path: Path) -> pd.DataFrame | None:
    """Strategy x source grid of the DSC difference to the step-matched scratch, marked by ``verdict``
    (* better or worse, ° too few seeds); cells that were not run (or have no matched baseline) are hatched,
    not coloured like a zero difference. Returns the drawn cells (strategy, source, value, mark)."""
    from matplotlib.patches import Patch, Rectangle

    col = f"dsc_diff_{MATCHED}"
    b = board[(board.model == model) & ~board.strategy.map(is_baseline)].dropna(subset=[col])
    if b.empty:
        return None
    table = b.pivot(index="strategy", columns="source", values=col)
    verdicts = b.pivot(index="strategy", columns="source", values="verdict")
    values = table.to_numpy(dtype=float)
    lim = max(0.05, float(np.nanmax(np.abs(values))))
    fig, ax = new_figure(figsize=(1.8 + 1.3 * table.shape[1], 1.2 + 0.5 * table.shape[0]))
    im = ax.imshow(np.ma.masked_invalid(values), cmap="RdBu", vmin=-lim, vmax=lim, aspect="auto")
    drawn = []
    for (i, j), v in np.ndenumerate(values):
        if np.isnan(v):
            ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, hatch="///", edgecolor="0.55", lw=0))
            continue
        mark = VERDICT_MARK.get(verdicts.iloc[i, j], "")
        ink = "white" if abs(v) > 0.6 * lim else "black"
        ax.text(j, i, f"{v:+.3f}{mark}", ha="center", va="center", fontsize=8, color=ink)
        drawn.append({"strategy": table.index[i], "source": table.columns[j], "value": v, "mark": mark})
    ax.set_xticks(range(table.shape[1]), table.columns, rotation=30, ha="right")
    ax.set_yticks(range(table.shape[0]), table.index)
    ax.set_xlabel("source")
    ax.set_ylabel("strategy")
    ax.set_title(f"{model}{budget_note(b)}: DSC difference to the step-matched scratch\n(* verdict better or "
                 "worse, ° too few seeds; unmarked: no evidence)", fontsize=9)  # fmt: skip
    fig.colorbar(im, ax=ax, shrink=0.8, label="DSC difference to scratch_matched")
    if np.isnan(values).any():
        hatch = Patch(facecolor="white", edgecolor="0.55", hatch="///", label="not run")
        ax.legend(handles=[hatch], loc="upper left", bbox_to_anchor=(0.0, -0.35), fontsize=7, frameon=False)
    save(fig, path)
    return pd.DataFrame(drawn)


VERDICT_MARK = {"better": "*", "worse": "*", "too few seeds": "°", "no evidence": ""}


METRICS = [("dsc", "DSC", "higher is better"), ("nsd", "NSD", "higher is better"),
           ("hd95_mm", "HD95 (mm)", "lower is better; one empty mask: left out")]  # fmt: skip


@styled
def distributions(per_case: pd.DataFrame, model: str, path: Path) -> pd.DataFrame | None:
    """Per row: the per-case DSC, NSD and HD95 side by side (box plots with every case-seed point), collapsed
    runs left out as in every mean (their count in the title). Returns the drawn points."""
    mine = per_case[per_case.model == model]
    d = without_collapsed(mine).dropna(subset=["dsc"])
    if d.empty:
        return None
    left_out = int(mine.loc[collapsed_mask(mine), "run"].nunique()) if "run" in mine else 0
    nsd = next((c for c in d.columns if c.startswith("nsd_")), "nsd")
    keys = [(s, src) for (s, src), _ in d.groupby(["strategy", "source"])]
    names = [f"{s}\n{src}" if src != "-" else s for s, src in keys]
    fig, axes = new_figure(1, 3, figsize=(3 * max(3.0, 0.45 * len(keys)), 3.8), sharex=True)
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
    fig.suptitle(f"{model}{budget_note(d)}: per-case metrics (test cases x folds x seeds; {left_out} collapsed "
                 "run(s) left out)", fontsize=9)  # fmt: skip
    fig.subplots_adjust(wspace=0.4)
    save(fig, path)
    return d[[c for c in ("strategy", "source", "run", "seed", "case", "dsc") if c in d.columns]]


@styled
def learning_curves(val_curves: Curves, runs: pd.DataFrame, model: str, path: Path) -> pd.DataFrame | None:
    """Validation Dice per epoch, one panel per label budget, one line per strategy (mean over its runs,
    band min-max); collapsed runs left out. Returns the drawn means (n_train, strategy, epoch, dice)."""
    r = runs[(runs.model == model) & (runs.kind == "finetune") & (runs.status == "done")]
    r = r[~r.get("collapsed", pd.Series(False, index=r.index)).astype(bool)]
    r = r[r["id"].isin(val_curves)]
    if r.empty:
        return None
    budgets = sorted(r["n_train"].dropna().unique(), reverse=True) if "n_train" in r else [None]
    fig, axes = new_figure(1, len(budgets), figsize=(5.2 * len(budgets), 3.6), squeeze=False, sharey=True)
    drawn = []
    for ax, n in zip(axes[0], budgets):
        part = r if n is None else r[r.n_train == n]
        for i, (strategy, g) in enumerate(part.groupby("strategy")):
            curves = {}
            for run_id in g["id"]:
                for epoch, dice in val_curves.get(run_id, []):
                    curves.setdefault(epoch + 1, []).append(dice)
            xs = sorted(curves)
            means = [float(np.mean(curves[x])) for x in xs]
            colour, style = OKABE_ITO[i % len(OKABE_ITO)], ["-", "--", ":"][i // len(OKABE_ITO) % 3]
            ax.plot(xs, means, marker="o", ms=3, label=strategy, color=colour, ls=style)
            lo, hi = [np.min(curves[x]) for x in xs], [np.max(curves[x]) for x in xs]
            ax.fill_between(xs, lo, hi, color=colour, alpha=0.12, lw=0)
            drawn += [{"n_train": n, "strategy": strategy, "epoch": x, "dice": m} for x, m in zip(xs, means)]
        ax.set_xlabel("epoch")
        ax.set_title("all budgets" if n is None else f"{int(n)} labelled target volume(s)", fontsize=8)
        ax.legend(fontsize=6, ncol=2)
    axes[0, 0].set_ylabel("validation Dice on the training cases\n(mean; band: min-max over runs)")
    fig.suptitle(f"{model}: convergence per strategy and label budget (collapsed runs left out)", fontsize=9)
    save(fig, path)
    return pd.DataFrame(drawn)


@styled
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

    ref_colour, pred_colour = OKABE_ITO[0], OKABE_ITO[1]  # blue and orange: colour-blind safe
    fig, axes = new_figure(len(cases), 3, figsize=(9, 3 * len(cases)), squeeze=False)
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
    folder_of: Callable[[str], RunFolder] | None,
    ranking: dict[str, dict] | None = None,
    every_budget: pd.DataFrame | None = None,
) -> None:
    """Every one-budget figure into ``out``; ``folder_of`` gives a run's folder (its stored predictions).
    Without run folders (a re-analysis) the overlays are skipped and an earlier overlay file is kept. The
    forest plot shows ``every_budget``'s rows when given (a label budget per row)."""
    for model in sorted(per_case["model"].unique()):
        sf.forest(board if every_budget is None else every_budget, model, out / f"{model}_forest.png")
        sf.paired_cases(per_case, board, model, out / f"{model}_paired_cases.png")
        if ranking and model in ranking:
            sf.cd_diagram(ranking[model], model, out / f"{model}_critical_difference.png")
            sf.rank_blobs(ranking[model], model, out / f"{model}_rank_stability.png")
        heatmap(board, model, out / f"{model}_diff_heatmap.png")
        distributions(per_case, model, out / f"{model}_per_case_metrics.png")
        if folder_of is None:
            LOGGER.info(
                f"overlays skipped for {model}: no run folders (their predictions) in this results folder"
            )
            continue
        try:
            overlays(folder_of, info, per_case, board, model, out / f"{model}_overlays.png")
        except (FileNotFoundError, OSError, KeyError, IndexError) as err:  # predictions or data not present
            LOGGER.warning(f"overlays skipped for {model}: {err}")


@styled
def label_budget(per_case: pd.DataFrame, out: Path, board: pd.DataFrame | None = None) -> pd.DataFrame | None:
    """Per model: test DSC against the number of labelled target volumes. One panel per row that ran at
    several budgets, drawn against its step-matched scratch (black, dashed) and the plain scratch (grey,
    dotted), each with its crossed seeds x cases 95% interval; a panel's title carries the row's verdict at
    each budget when ``board`` is given. Collapsed runs left out. Returns the drawn means."""
    from transferbench.evaluation.comparisons import row_label

    ok = without_collapsed(per_case)
    drawn = []
    for model, g in ok.groupby("model"):
        rows = {k: r for k, r in g.groupby(["strategy", "source"]) if r["n_train"].nunique() > 1}
        line = {key: _budget_points(r) for key, r in rows.items()}
        drawn += [{"model": model, "strategy": key[0], "source": key[1], "n_train": n, "dsc": m}
                  for key, points in line.items() for n, m, _, _ in points]  # fmt: skip
        panels = [k for k in sorted(rows) if not is_baseline(k[0])]
        if not panels:
            continue
        scratch = [k for k in rows if k[0] == "scratch"]
        cols = min(4, len(panels))
        nrows = -(-len(panels) // cols)
        fig, axes = new_figure(nrows, cols, figsize=(2.8 * cols, 2.5 * nrows), squeeze=False, sharex=True,
                                 sharey=True)  # fmt: skip
        for ax, key in zip(axes.flat, panels):
            matched = _matched_rows(board, model, key, rows) if board is not None else []
            styled = [
                *((b, "k", "--") for b in matched),
                *((b, "0.55", ":") for b in scratch),
                (key, OKABE_ITO[0], "-"),
            ]
            for k, colour, style in styled:
                ns, ms, lo, hi = zip(*line[k])
                ax.plot(ns, ms, marker="o", ms=3, color=colour, ls=style, label=row_label(*k))
                if style != ":":  # the plain scratch without its band, to keep the panel readable
                    ax.fill_between(ns, lo, hi, color=colour, alpha=0.12, lw=0)
            ax.set_ylim(0, 1)  # DSC; an interval wider than that is clipped at the axes
            title = row_label(*key) + _verdicts_by_budget(board, model, key)
            ax.set_title(title, fontsize=7)
            ax.set_xticks(sorted({n for pts in line.values() for n, *_ in pts}))
            ax.tick_params(labelsize=7)
        for ax in list(axes.flat)[len(panels) :]:
            ax.axis("off")
        handles = [Line2D([], [], color="k", ls="--", label="scratch_matched (step-matched baseline)"),
                   Line2D([], [], color="0.55", ls=":", label="scratch (target budget)"),
                   Line2D([], [], color=OKABE_ITO[0], label="the panel's row")]  # fmt: skip
        fig.legend(
            handles=handles,
            loc="lower center",
            ncol=3,
            fontsize=7,
            frameon=False,
            bbox_to_anchor=(0.5, -0.02),
        )
        fig.supxlabel("labelled target volumes (n_train)", fontsize=8, y=0.04)
        fig.supylabel("test DSC (mean; crossed 95% CI)", fontsize=8)
        fig.suptitle(f"{model}: label budget (verdict against the matched scratch per budget)", fontsize=9)
        fig.tight_layout(rect=(0, 0.05, 1, 1))
        save(fig, out / f"{model}_label_budget.png")
    return pd.DataFrame(drawn) if drawn else None


def _verdicts_by_budget(board: pd.DataFrame | None, model: str, key: tuple) -> str:
    """ "\n1: better, 4: too few seeds": a row's verdict at each label budget (empty without a board)."""
    if board is None or "verdict" not in board:
        return ""
    mine = board[(board.model == model) & (board.strategy == key[0]) & (board.source == key[1])]
    marks = [f"{int(n)}: {v}" for n, v in sorted(zip(mine.n_train, mine.verdict)) if isinstance(v, str) and v]
    return "\n" + ", ".join(marks) if marks else ""


def _matched_rows(board: pd.DataFrame, model: str, key: tuple, rows: dict) -> list[tuple]:
    """The step-matched baseline row(s) the board compares ``key`` with, among the drawn rows."""
    mine = board[(board.model == model) & (board.strategy == key[0]) & (board.source == key[1])]
    names = sorted({b for b in mine.get("matched_baseline", []) if isinstance(b, str) and b})
    return [(b, "-") for b in names if (b, "-") in rows and b != "scratch"]


def _budget_points(rows: pd.DataFrame) -> list[tuple[int, float, float, float]]:
    """(n_train, mean DSC, crossed 95% CI) of one row at each label budget."""
    from transferbench.evaluation import statistics as st

    points = []
    for n, part in rows.groupby("n_train"):
        ci = st.crossed_interval(st.seed_case_matrix(part))
        points.append((int(n), ci["mean"], ci["ci_low"], ci["ci_high"]))
    return points
