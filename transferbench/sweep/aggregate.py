"""Turn stored runs into ``per_case.csv``, ``runs.csv``, ``leaderboard.csv`` / ``.md`` and figures.

Reads only what the runs wrote, through the results store (``plan.json`` and each run's ``result.json`` /
``per_case_test.csv``), so ``transferbench leaderboard RESULTS_DIR`` rebuilds everything identically
without training anything.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from transferbench.evaluation.leaderboard import (
    build_leaderboard,
    epochs_to_reach,
    source_summary,
    to_markdown,
)
from transferbench.evaluation.reference import reference_for
from transferbench.files import atomic_write_text
from transferbench.sweep.plan import Plan
from transferbench.sweep.store import ResultsStore

META = ["model", "strategy", "source", "fold", "seed"]


def write_plan(plan: Plan, store: ResultsStore) -> None:
    """Store what the sweep planned (and how to read it) beside its runs."""
    spec = plan.spec
    info = {
        "name": spec.name,
        "spec": _relative(spec.path),
        "data_root": spec.data_root,
        "target": spec.target,
        "dice_threshold": spec.dice_threshold,
        "synthetic": spec.prepare_synthetic or (Path(spec.data_root) / "synthetic_manifest.json").is_file(),
        "strategies": {e.label: e.config["name"] for e in spec.strategies},
        "sources": {k: spec.source_members(k) for k in [*spec.sources, *spec.source_sets]},
        "runs": [r.describe() for r in plan.runs],
    }
    store.write_plan(info)


def _relative(path: str) -> str:
    """Paths inside the working directory are stored relative, so committed results do not name a machine."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return path


def collect(store: ResultsStore) -> tuple[dict, pd.DataFrame, pd.DataFrame, dict[str, dict]]:
    """(plan info, per-case table, runs table, finished runs' records by id) from a results folder."""
    info = store.read_plan()
    records, frames = [], []
    results = {r["id"]: store.result(r["id"]) for r in info["runs"]}
    for r in info["runs"]:
        res = results[r["id"]]
        failure = None if res else store.failure(r["id"])
        status = "done" if res else ("failed" if failure is not None else "not run")
        error = failure.get("error", "") if failure is not None else ""
        dep_wall = _chain_wall(r["id"], info, results)
        records.append(
            {
                "id": r["id"],
                "kind": r["kind"],
                **{k: r[k] for k in META},
                "status": status,
                "wall_s": res["wall_s"] if res else math.nan,
                "pretrain_wall_s": dep_wall,
                "epochs": res["epochs"] if res else math.nan,
                "epochs_to_dice": epochs_to_reach(res["val_curve"], info["dice_threshold"])
                if res
                else math.nan,
                "error": error,
                "notes": "; ".join(r.get("notes", [])),
            }
        )
        df = store.folder(r["id"]).per_case() if res and r["kind"] == "finetune" else None
        if df is not None:
            for k in reversed(META):
                df.insert(0, k, r[k])
            df["run"] = r["id"]
            frames.append(df)
    runs = pd.DataFrame(records)
    if len(runs):
        runs["fold"] = runs["fold"].astype("Int64")
    per_case = (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame(columns=[*META, "case", "test_set", "class"])
    )
    target = info["target"]["dataset"]
    if "test_set" not in per_case:
        per_case.insert(per_case.columns.get_loc("case") + 1, "test_set", target)
    per_case["test_set"] = per_case["test_set"].fillna(target).replace("", target)
    order = {name: i for i, name in enumerate([target, *sorted(set(per_case["test_set"]) - {target})])}
    per_case = per_case.sort_values(
        [*META, "test_set", "case", "class"],
        key=lambda c: c.map(order) if c.name == "test_set" else c,
        kind="stable",
    ).reset_index(drop=True)
    return info, per_case, runs, {k: v for k, v in results.items() if v}


def _chain_wall(run_id: str, info: dict, results: dict) -> float:
    """Wall time of every pretraining this run starts from (its whole chain); NaN if one is missing."""
    deps = {r["id"]: r["deps"] for r in info["runs"]}
    total, todo = 0.0, list(deps[run_id])
    if not todo:
        return math.nan
    while todo:
        d = todo.pop()
        if not results.get(d):
            return math.nan
        total += results[d]["wall_s"]
        todo += deps.get(d, [])
    return total


def aggregate(results_dir: str | Path, figures: bool = True) -> pd.DataFrame:
    """Write per_case.csv, runs.csv, leaderboard.csv, leaderboard.md (and figures); returns the leaderboard."""
    results_dir = Path(results_dir)
    store = ResultsStore(results_dir)
    info, per_case, runs, results = collect(store)
    atomic_write_text(results_dir / "per_case.csv", per_case.to_csv(index=False))
    atomic_write_text(results_dir / "runs.csv", runs.to_csv(index=False))
    target_runs = runs[runs.kind == "finetune"]
    nsd = next((c for c in per_case.columns if c.startswith("nsd_")), "nsd_3mm")
    target = info["target"]["dataset"]
    main = per_case[per_case["test_set"] == target]
    if main.empty:
        board = pd.DataFrame(columns=["model", "strategy", "source"])
    else:
        board = build_leaderboard(main, target_runs, nsd_column=nsd)
    extra = {}
    for name in sorted(set(per_case["test_set"]) - {target}):  # extra test sets: one leaderboard each
        extra[name] = build_leaderboard(per_case[per_case["test_set"] == name], target_runs, nsd_column=nsd)
        atomic_write_text(results_dir / f"leaderboard_{name}.csv", extra[name].to_csv(index=False))
    if not info.get("synthetic", True) and len(board):
        board["reference"] = [
            reference_for(
                info["strategies"].get(s, s),
                tuple(info["sources"].get(src, [])),
                info["target"].get("fold_scheme"),
            )
            for s, src in zip(board["strategy"], board["source"])
        ]
    atomic_write_text(results_dir / "leaderboard.csv", board.to_csv(index=False))
    singles = [label for label, members in info.get("sources", {}).items() if len(members) == 1]
    sources = source_summary(board, singles)
    atomic_write_text(results_dir / "sources.csv", sources.to_csv(index=False))
    atomic_write_text(results_dir / "leaderboard.md", leaderboard_markdown(info, board, runs, extra, sources))
    if figures and not main.empty:
        from transferbench.evaluation.figures import write_figures

        curves = {run_id: res["val_curve"] for run_id, res in results.items()}
        write_figures(results_dir / "figures", info, main, board, runs, curves, store.folder)
    return board


def leaderboard_markdown(
    info: dict,
    board: pd.DataFrame,
    runs: pd.DataFrame,
    extra: dict[str, pd.DataFrame] | None = None,
    sources: pd.DataFrame | None = None,
) -> str:
    lines = [f"# Leaderboard: {info['name']}", ""]
    target = info["target"]
    lines.append(
        f"Target {target['dataset']} ({target.get('label_mode', '')}, {target.get('fold_scheme', '')}); "
        f"{'synthetic benchmark' if info.get('synthetic') else 'data root ' + info['data_root']}. "
        "DSC / NSD are means over test cases x folds x seeds; `dsc_diff` is the paired difference to `scratch` "
        "on the same cases with a bootstrap 95% CI; `p_holm` is the Wilcoxon signed-rank p-value, "
        f"Holm-corrected per model. `epochs_to_dice`: first epoch with validation Dice >= {info['dice_threshold']}."
    )
    lines.append("")
    cols = [
        c
        for c in [
            "rank", "model", "strategy", "source", "runs", "cases", "dsc_mean", "dsc_sd", "nsd_mean", "nsd_sd",
            "dsc_diff", "dsc_diff_ci_low", "dsc_diff_ci_high", "p_holm", "finetune_wall_s", "pretrain_wall_s",
            "epochs_to_dice", "complete", "reference", "notes",
        ]
        if c in board.columns
    ]  # fmt: skip
    lines.append(to_markdown(board[cols]) if len(board) else "(no finished runs)\n")
    if sources is not None and len(sources):
        lines += [
            "",
            "## Which source helps most",
            "",
            "Per model, over the strategies run with each single source: mean difference to `scratch`, mean "
            "rank of the source among the single sources within a strategy (1 = best) and the number of "
            "strategies where it ranks first.",
            "",
            to_markdown(sources),
        ]
    for name, other in (extra or {}).items():
        lines += ["", f"## Extra test set: {name}", "", "The same models, every case of the set.", ""]
        lines.append(to_markdown(other[[c for c in cols if c in other.columns and c != "reference"]]))
    bad = runs[runs.status != "done"]
    if len(bad):
        lines += ["", f"**Incomplete: {len(bad)} of {len(runs)} runs did not finish.**", ""]
        lines.append(to_markdown(bad[["id", "status", "error"]]))
    return "\n".join(lines)
