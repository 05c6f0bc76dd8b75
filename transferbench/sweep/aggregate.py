"""Turn stored runs into ``per_case.csv``, ``runs.csv``, ``leaderboard.csv`` / ``.md`` and figures.

Reads only what the runs wrote, through the results store (``plan.json`` and each run's ``result.json`` /
``per_case_test.csv``), so ``transferbench leaderboard RESULTS_DIR`` rebuilds everything identically
without training anything. When no run folder is there (results received from someone else, or a git
checkout, which does not hold ``runs/``), it re-analyses the folder's own ``per_case.csv``, ``runs.csv``,
``val_curves.csv`` and ``plan.json`` instead: every table and figure except the prediction overlays.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pandas as pd

from transferbench.errors import TransferbenchError
from transferbench.evaluation import statistics as st
from transferbench.evaluation.comparisons import comparisons, rank_analysis, ranks_table
from transferbench.evaluation.leaderboard import (
    build_leaderboard,
    collapsed,
    converged,
    epochs_to_reach,
    plateau_gain,
    plateau_p,
)
from transferbench.evaluation.reference import reference_for
from transferbench.files import INCOMPLETE, atomic_write_text, staged_outputs
from transferbench.logs import LOGGER
from transferbench.sweep.external import external_tables
from transferbench.sweep.plan import Plan
from transferbench.sweep.report import leaderboard_markdown
from transferbench.sweep.store import ResultsStore

META = ["model", "strategy", "source", "n_train", "fold", "seed"]


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
        "target_difference": spec.target_difference,
        "min_seeds": spec.min_seeds,
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
        records.append(_run_record(r, res, store, info, results))
        df = store.folder(r["id"]).per_case() if res and r["kind"] == "finetune" else None
        if df is not None:
            for k in reversed(META):
                df.insert(0, k, r.get(k))
            df["run"] = r["id"]
            df["collapsed"] = collapsed(df, res["val_curve"])
            df["unconverged"] = converged(res["val_curve"], res.get("plateau_epochs")) is False
            records[-1]["collapsed"] = bool(df["collapsed"].iloc[0]) if len(df) else False
            frames.append(df)
    target = info["target"]["dataset"]
    outside, outside_runs = external_tables(store.root, target)
    records += outside_runs
    frames += [outside] if len(outside) else []
    runs = pd.DataFrame(records)
    if len(runs):
        runs["fold"] = runs["fold"].astype("Int64")
    per_case = (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame(columns=[*META, "case", "test_set", "class"])
    )
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


def _run_record(r: dict, res: dict | None, store: ResultsStore, info: dict, results: dict) -> dict:
    """One row of ``runs.csv``: the planned run, its outcome and cost (``collapsed`` is set later)."""
    failure = None if res else store.failure(r["id"])
    status = "done" if res else (failure.get("status", "failed") if failure is not None else "not run")
    error = failure.get("error", "") if failure is not None else ""
    dep_wall = _chain_wall(r["id"], info, results)
    return {
        "id": r["id"],
        "kind": r["kind"],
        **{k: r.get(k) for k in META},
        "status": status,
        "wall_s": res["wall_s"] if res else math.nan,
        "resumed": bool(res.get("resumed")) if res else False,
        "attempts": res.get("attempts", 1) if res else math.nan,
        "wall_total_s": res.get("wall_total_s", res["wall_s"]) if res else math.nan,
        "pretrain_wall_s": dep_wall,
        "epochs": res["epochs"] if res else math.nan,
        "total_steps": r.get("total_steps", math.nan),
        "steps_done": res.get("global_step", math.nan) if res else math.nan,
        "val_max": max((d for _, d in res["val_curve"]), default=math.nan) if res else math.nan,
        "plateau_epochs": res.get("plateau_epochs") if res else None,
        "plateau_gain": plateau_gain(res["val_curve"], res.get("plateau_epochs")) if res else math.nan,
        "plateau_p": plateau_p(res["val_curve"], res.get("plateau_epochs")) if res else math.nan,
        "converged": converged(res["val_curve"], res.get("plateau_epochs")) if res else None,
        "collapsed": False,
        "epochs_to_dice": epochs_to_reach(res["val_curve"], info["dice_threshold"]) if res else math.nan,
        "error": error,
        "notes": "; ".join(r.get("notes", [])),
    }


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


CURVE_COLUMNS = ["id", "epoch", "val_dice"]
PER_CASE_NEEDS = [*META, "run", "case", "test_set", "class", "dsc", "collapsed"]
RUNS_NEEDS = ["id", "kind", *META, "status", "total_steps"]


def curves_table(results: dict[str, dict]) -> pd.DataFrame:
    """``val_curves.csv``: every finished run's validation curve (run id, 0-based epoch, Dice)."""
    rows = [(run_id, e, d) for run_id, res in results.items() for e, d in res.get("val_curve", [])]
    return pd.DataFrame(rows, columns=CURVE_COLUMNS)


def read_table(path: Path, needs: list[str]) -> pd.DataFrame:
    """A committed results table, or one error naming the file and what it lacks."""
    if not path.is_file():
        raise TransferbenchError(
            f"{path}: missing; a results folder without run folders is re-analysed from it"
        )
    try:
        table = pd.read_csv(path, keep_default_na=False, na_values=[""])
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as err:
        raise TransferbenchError(f"{path}: not a readable CSV table ({err})") from None
    missing = [c for c in needs if c not in table.columns]
    if missing:
        raise TransferbenchError(f"{path}: missing column(s) {', '.join(missing)}; not a transferbench table")
    return table


def committed_tables(store: ResultsStore, info: dict) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, list]]:
    """(per-case table, runs table, validation curves) from a results folder's committed tables, for
    re-analysis without its run folders. Rows come from the per-case records only; a record of a run the
    plan does not name is refused. Outside rows are re-read from their manifest (a new one joins)."""
    root = store.root
    per_case = read_table(root / "per_case.csv", PER_CASE_NEEDS)
    runs = read_table(root / "runs.csv", RUNS_NEEDS)
    planned = {r["id"] for r in info["runs"]}
    per_case = per_case[~per_case["run"].astype(str).str.startswith("external:")]
    runs = runs[~runs["id"].astype(str).str.startswith("external:")]
    unknown = sorted(set(per_case["run"]) - planned) or sorted(set(runs["id"]) - planned)
    if unknown:
        raise TransferbenchError(
            f"{root / 'per_case.csv'}: run {unknown[0]!r} is not in {root / 'plan.json'}; the tables do not "
            "belong to this plan"
        )
    curves = _committed_curves(root)
    flags = {  # the collapse rule of this version, not the one the tables were written with
        run: collapsed(g, curves.get(run) or _val_max_curve(runs, run)) for run, g in per_case.groupby("run")
    }
    per_case["collapsed"] = per_case["run"].map(flags).fillna(False).astype(bool)
    runs["collapsed"] = runs["id"].map(flags).fillna(False).astype(bool)
    until = dict(zip(runs["id"], runs["plateau_epochs"])) if "plateau_epochs" in runs else {}
    state = {run: converged(curves.get(run), until.get(run)) for run in runs["id"]}  # this version's rule
    if curves:  # tables without curves keep the flags they were written with
        runs["plateau_gain"] = runs["id"].map(lambda r: plateau_gain(curves.get(r), until.get(r)))
        runs["plateau_p"] = runs["id"].map(lambda r: plateau_p(curves.get(r), until.get(r)))
        runs["converged"] = runs["id"].map(state)
        per_case["unconverged"] = per_case["run"].map(lambda r: state.get(r) is False)
    for col in ("source",):
        per_case[col], runs[col] = per_case[col].astype(str), runs[col].astype(str)
    outside, outside_runs = external_tables(root, info["target"]["dataset"])
    if len(outside):
        per_case = pd.concat([per_case, outside], ignore_index=True)
        runs = pd.concat([runs, pd.DataFrame(outside_runs)], ignore_index=True)
    if len(runs):
        runs["fold"] = runs["fold"].astype("Int64")
    return per_case, runs, curves


def _committed_curves(root: Path) -> dict[str, list]:
    """``val_curves.csv`` as run id -> [(epoch, Dice)] (empty when the folder has none)."""
    curves: dict[str, list] = {}
    path = root / "val_curves.csv"
    if path.is_file():
        for run_id, g in read_table(path, CURVE_COLUMNS).groupby("id", sort=False):
            curves[str(run_id)] = list(zip(g["epoch"].astype(int), g["val_dice"].astype(float)))
    return curves


def _val_max_curve(runs: pd.DataFrame, run_id: str) -> list | None:
    """A one-point curve from runs.csv's ``val_max`` when the folder has no curves (enough for the rule)."""
    row = runs[runs["id"] == run_id]
    if "val_max" not in runs or row.empty or pd.isna(row["val_max"].iloc[0]):
        return None
    return [(0, float(row["val_max"].iloc[0]))]


def _gather(store: ResultsStore, out: Path) -> tuple[dict, pd.DataFrame, pd.DataFrame, dict[str, list], bool]:
    """(plan info, per-case table, runs table, validation curves, re-analysis?) from the run folders, their
    tables written into ``out``; from the results folder's tables when no run folder is there."""
    results_dir = store.root
    info, per_case, runs, results = collect(store)
    if not (len(runs) and (runs["status"] == "not run").all()):
        atomic_write_text(out / "per_case.csv", per_case.to_csv(index=False))
        atomic_write_text(out / "runs.csv", runs.to_csv(index=False))
        atomic_write_text(out / "val_curves.csv", curves_table(results).to_csv(index=False))
        return info, per_case, runs, {run_id: res["val_curve"] for run_id, res in results.items()}, False
    if not (results_dir / "per_case.csv").is_file():
        raise TransferbenchError(
            f"{results_dir}: none of the {len(runs)} planned runs has a record under {results_dir}/runs/ and "
            f"there is no per_case.csv to re-analyse; nothing written. Reproduce the runs with `transferbench "
            f"sweep --config {info.get('spec', info['name'])}` (finished runs are skipped)"
        )
    per_case, runs, curves = committed_tables(store, info)
    LOGGER.info(f"{results_dir}: no run folders; re-analysing per_case.csv, runs.csv and val_curves.csv")
    own = ~per_case["run"].astype(str).str.startswith("external:")  # outside rows live in external/
    atomic_write_text(out / "per_case.csv", per_case[own].to_csv(index=False))  # the collapse flags of now
    own = ~runs["id"].astype(str).str.startswith("external:")
    atomic_write_text(out / "runs.csv", runs[own].to_csv(index=False))
    return info, per_case, runs, curves, True


def aggregate(results_dir: str | Path, figures: bool = True) -> pd.DataFrame:
    """Write per_case.csv, runs.csv, val_curves.csv, leaderboard.csv / .md, comparisons.csv, ranks.csv,
    rank_stability.csv (and figures); returns the leaderboard. Without any run folder, re-analyses the
    committed tables (``committed_tables``), rewriting them only with the collapse flags of this version. Everything is written into a
    staging folder and moved into place together (``staged_outputs``): an interrupted aggregation leaves
    the previous complete set."""
    results_dir = Path(results_dir)
    if (results_dir / INCOMPLETE).is_file():
        LOGGER.warning(
            f"{results_dir}: an earlier aggregation was killed while moving its outputs; rewriting them all"
        )
    for stale in results_dir.glob(".staged-*"):  # a killed aggregation's staging folder
        shutil.rmtree(stale, ignore_errors=True)
    with staged_outputs(results_dir, keep_in=("*_overlays.png", "*_overlays.pdf")) as out:
        return _aggregate_into(ResultsStore(results_dir), out, figures)


def _aggregate_into(store: ResultsStore, out: Path, figures: bool) -> pd.DataFrame:
    info, per_case, runs, curves, rerender = _gather(store, out)
    results_dir = store.root
    target_runs = runs[runs.kind == "finetune"]
    nsd = next((c for c in per_case.columns if c.startswith("nsd_")), "nsd_3mm")
    target = info["target"]["dataset"]
    main = per_case[per_case["test_set"] == target]
    design = {"delta": info.get("target_difference", st.TARGET_DIFFERENCE),
              "min_seeds": info.get("min_seeds", st.MIN_SEEDS)}  # fmt: skip
    board = _per_budget(main, target_runs, lambda p, r: build_leaderboard(p, r, nsd_column=nsd, **design))
    extra = {}
    for name in sorted(set(per_case["test_set"]) - {target}):  # extra test sets: one leaderboard each
        part = per_case[per_case["test_set"] == name]
        extra[name] = _per_budget(
            part, target_runs, lambda p, r: build_leaderboard(p, r, nsd_column=nsd, **design)
        )
        atomic_write_text(out / f"leaderboard_{name}.csv", extra[name].to_csv(index=False))
    if not info.get("synthetic", True) and len(board):
        board["reference"] = [
            reference_for(
                info["strategies"].get(s, s),
                tuple(info["sources"].get(src, [])),
                info["target"].get("fold_scheme"),
            )
            for s, src in zip(board["strategy"], board["source"])
        ]
    atomic_write_text(out / "leaderboard.csv", board.to_csv(index=False))
    tests = _per_budget(main, board, lambda p, b: comparisons(p, b, info, **design))
    atomic_write_text(out / "comparisons.csv", tests.to_csv(index=False))
    ranking = _rank_analysis(main)
    atomic_write_text(out / "ranks.csv", ranks_table(ranking).to_csv(index=False))
    shares = [a["shares"].assign(model=m) for m, a in ranking.items()]
    columns = ["model", "row", "rank", "share"]
    stability = pd.concat(shares, ignore_index=True)[columns] if shares else pd.DataFrame(columns=columns)
    atomic_write_text(out / "rank_stability.csv", stability.to_csv(index=False))
    similarity = _similarity(info, results_dir, out)
    markdown = leaderboard_markdown(info, board, runs, main, tests, ranking, extra, similarity)
    atomic_write_text(out / "leaderboard.md", markdown)
    if figures and not main.empty:
        folder_of = None if rerender else store.folder
        _figures(out / "figures", info, main, board, runs, curves, folder_of, ranking, similarity)
    return board


def _figures(out: Path, info, main, board, runs, curves, folder_of, ranking, similarity) -> None:
    """Every figure: the comparison ones at the fold's full label budget (their titles say so), learning
    curves faceted by budget, the budget and similarity ones over every budget."""
    from transferbench.evaluation.figures import label_budget, learning_curves, write_figures
    from transferbench.evaluation.stat_figures import similarity_gain

    full = main["n_train"].max()
    at_full = {k.split(",")[0]: a for k, a in ranking.items() if "," not in k or k.endswith(f"={int(full)}")}
    write_figures(
        out, info, main[main.n_train == full], board[board.n_train == full], folder_of, at_full, board
    )
    for model in sorted(main["model"].unique()):
        if learning_curves(curves, runs, model, out / f"{model}_learning_curves.png") is None:
            LOGGER.info(
                f"learning curves skipped for {model}: no validation curves (val_curves.csv) recorded"
            )
    label_budget(main, out, board)
    if similarity is not None:
        labels = {k: m[0] for k, m in info.get("sources", {}).items() if len(m) == 1}
        for model in sorted(board.model.unique()):
            similarity_gain(board, similarity, labels, model, out / f"{model}_similarity_gain.png")


def _similarity(info: dict, results_dir: Path, out: Path) -> pd.DataFrame | None:
    """The measured source-target lesion similarity (``similarity.csv``) of a synthetic sweep's data, read
    from beside the benchmark (measured there first if absent) and copied into the results."""
    if not info.get("synthetic"):
        return None
    from transferbench.data.similarity import write_similarity

    beside = Path(info["data_root"]) / "similarity.csv"
    if not beside.is_file():
        if not (Path(info["data_root"]) / "synthetic_manifest.json").is_file():  # the data is not here
            kept = results_dir / "similarity.csv"
            return pd.read_csv(kept) if kept.is_file() else None
        write_similarity(info["data_root"])
    table = pd.read_csv(beside)
    atomic_write_text(out / "similarity.csv", table.to_csv(index=False))
    return table


def _per_budget(per_case: pd.DataFrame, other: pd.DataFrame, build) -> pd.DataFrame:
    """``build(per_case, other)`` on each label budget (``n_train``) separately, concatenated with an
    ``n_train`` column: every comparison and Holm family stays within one budget."""
    parts = []
    for n, part in per_case.groupby("n_train", sort=True):
        table = build(part, other[other["n_train"] == n] if "n_train" in other else other)
        parts.append(table.drop(columns="n_train", errors="ignore").assign(n_train=int(n)))
    if not parts:
        return pd.DataFrame(columns=["model", "strategy", "source", "n_train"])
    out = pd.concat(parts[::-1], ignore_index=True)  # the largest budget first
    cols = [c for c in out.columns if c != "n_train"]
    at = cols.index("source") + 1 if "source" in cols else cols.index("model") + 1
    return out[[*cols[:at], "n_train", *cols[at:]]]


def _rank_analysis(main: pd.DataFrame) -> dict[str, dict]:
    """Friedman / rank stability per model, and per label budget when there are several."""
    budgets = sorted(main["n_train"].dropna().unique())
    if len(budgets) <= 1:
        return rank_analysis(main) if len(main) else {}
    out = {}
    for n in budgets[::-1]:
        for model, a in rank_analysis(main[main.n_train == n]).items():
            out[f"{model}, n_train={int(n)}"] = a
    return out
