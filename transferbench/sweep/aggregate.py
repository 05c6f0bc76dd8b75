"""Turn stored runs into ``per_case.csv``, ``runs.csv``, ``leaderboard.csv`` / ``.md`` and figures.

Reads only what the runs wrote, through the results store (``plan.json`` and each run's ``result.json`` /
``per_case_test.csv``), so ``transferbench leaderboard RESULTS_DIR`` rebuilds everything identically
without training anything.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from transferbench.evaluation.comparisons import comparisons, rank_analysis, ranks_table
from transferbench.evaluation.leaderboard import build_leaderboard, collapsed, epochs_to_reach
from transferbench.evaluation.reference import reference_for
from transferbench.files import atomic_write_text
from transferbench.sweep.plan import Plan
from transferbench.sweep.report import leaderboard_markdown
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
        "converged_factor": spec.converged_factor,
        "common_random_numbers": spec.common_random_numbers,
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
                "total_steps": r.get("total_steps", math.nan),
                "steps_done": res.get("global_step", math.nan) if res else math.nan,
                "val_max": max((d for _, d in res["val_curve"]), default=math.nan) if res else math.nan,
                "plateau_gain": plateau_gain(res["val_curve"]) if res else math.nan,
                "collapsed": False,
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
            df["collapsed"] = collapsed(df, res["val_curve"])
            records[-1]["collapsed"] = bool(df["collapsed"].iloc[0]) if len(df) else False
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


def plateau_gain(curve: list) -> float:
    """Best validation Dice in the last quarter of the epochs minus the best before it (< 0.01: the
    curve has plateaued); NaN with fewer than 4 validations."""
    if len(curve) < 4:
        return math.nan
    last_epoch = curve[-1][0]
    late = [d for e, d in curve if e >= 0.75 * last_epoch]
    early = [d for e, d in curve if e < 0.75 * last_epoch]
    return float(max(late) - max(early)) if late and early else math.nan


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
    """Write per_case.csv, runs.csv, leaderboard.csv / .md, comparisons.csv, ranks.csv,
    rank_stability.csv (and figures); returns the leaderboard."""
    results_dir = Path(results_dir)
    store = ResultsStore(results_dir)
    info, per_case, runs, results = collect(store)
    atomic_write_text(results_dir / "per_case.csv", per_case.to_csv(index=False))
    atomic_write_text(results_dir / "runs.csv", runs.to_csv(index=False))
    target_runs = runs[runs.kind == "finetune"]
    nsd = next((c for c in per_case.columns if c.startswith("nsd_")), "nsd_3mm")
    target = info["target"]["dataset"]
    main = per_case[per_case["test_set"] == target]
    board = (
        build_leaderboard(main, target_runs, nsd_column=nsd)
        if len(main)
        else pd.DataFrame(columns=["model", "strategy", "source"])
    )
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
    tests = comparisons(main, board, info) if len(main) else comparisons(main, board.iloc[:0], info)
    atomic_write_text(results_dir / "comparisons.csv", tests.to_csv(index=False))
    ranking = rank_analysis(main) if len(main) else {}
    atomic_write_text(results_dir / "ranks.csv", ranks_table(ranking).to_csv(index=False))
    shares = [a["shares"].assign(model=m) for m, a in ranking.items()]
    stability = (
        pd.concat(shares, ignore_index=True)
        if shares
        else pd.DataFrame(columns=["row", "rank", "share", "model"])
    )
    atomic_write_text(
        results_dir / "rank_stability.csv", stability[["model", "row", "rank", "share"]].to_csv(index=False)
    )
    markdown = leaderboard_markdown(info, board, runs, main, tests, ranking, extra)
    atomic_write_text(results_dir / "leaderboard.md", markdown)
    if figures and not main.empty:
        from transferbench.evaluation.figures import write_figures

        curves = {run_id: res["val_curve"] for run_id, res in results.items()}
        write_figures(results_dir / "figures", info, main, board, runs, curves, store.folder, tests, ranking)
    return board
