"""Outside methods on a sweep's leaderboard: per-case results from ``transferbench evaluate`` as a row.

``transferbench leaderboard RESULTS --external "nnU-Net (external)=per_case.csv"`` checks the file (the
sweep's metric columns, exactly the test cases of its fold), copies it into ``RESULTS/external/`` and records
it in ``RESULTS/external.json``, so every later rebuild keeps the row. The row joins one model's leaderboard
at one label budget and gets the same comparisons as every other row (against ``scratch``, in the Friedman
ranks); being one trained model (one seed), its interval is over the cases only and its verdict
``too few seeds``. Declare its optimiser steps (``--external-steps``) and it is also set
against the baseline trained for as many steps (``scratch`` or a ``scratch_matched``), as a transfer row is;
without them it has no step-matched comparison. A collapsed outside run (empty or near-empty predictions
on most cases with a lesion) is flagged like any other.
"""

from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path

import pandas as pd

from transferbench.data.splits import covid_fold
from transferbench.errors import TransferbenchError
from transferbench.evaluation.leaderboard import collapsed
from transferbench.files import atomic_write_text

MANIFEST = "external.json"


def read_manifest(results_dir: Path) -> list[dict]:
    path = Path(results_dir) / MANIFEST
    return json.loads(path.read_text()) if path.is_file() else []


def _plan_defaults(
    info: dict, model: str | None, n_train: int | None, fold: int | None
) -> tuple[str, int, int]:
    runs = [r for r in info["runs"] if r["kind"] == "finetune"]
    models = sorted({r["model"] for r in runs})
    if model is None:
        if len(models) != 1:
            raise TransferbenchError(
                f"the sweep has models {models}: say which leaderboard with --external-model"
            )
        model = models[0]
    if model not in models:
        raise TransferbenchError(f"--external-model {model!r}: the sweep's models are {models}")
    folds = sorted({int(r["fold"]) for r in runs if r.get("fold") is not None})
    if fold is None:
        if len(folds) != 1:
            raise TransferbenchError(f"the sweep has folds {folds}: say which with --external-fold")
        fold = folds[0]
    if n_train is None:
        n_train = max(int(r["n_train"]) for r in runs if r["model"] == model and r.get("n_train") is not None)
    return model, int(n_train), int(fold)


def external_slug(label: str) -> str:
    """The file name an outside row's per-case CSV gets under ``external/``."""
    return re.sub(r"[^A-Za-z0-9]+", "_", label).strip("_").lower() or "external"


def check_labels(labels: list[str]) -> None:
    """Refuse, before anything is written, two labels of one invocation that would share a file."""
    seen: dict[str, str] = {}
    for label in labels:
        other = seen.setdefault(external_slug(label), label)
        if other != label:
            raise TransferbenchError(
                f"--external {other!r} and {label!r} would both be stored as external/{external_slug(label)}.csv; "
                "give them labels that differ in more than case or punctuation"
            )


def add_external(
    results_dir: str | Path,
    label: str,
    csv: str | Path,
    info: dict,
    model: str | None = None,
    n_train: int | None = None,
    fold: int | None = None,
    steps: int | None = None,
) -> dict:
    """Check ``csv`` against the sweep, copy it into the results and record it; returns the entry."""
    results_dir, csv = Path(results_dir), Path(csv)
    if not csv.is_file():
        raise TransferbenchError(
            f"{csv}: no such per-case CSV (write one with `transferbench evaluate --out`)"
        )
    table = pd.read_csv(csv)
    if "fold" in table and fold is None and table["fold"].nunique() == 1:
        fold = int(table["fold"].iloc[0])
    model, n_train, fold = _plan_defaults(info, model, n_train, fold)
    board_csv = results_dir / "per_case.csv"
    columns = pd.read_csv(board_csv, nrows=0).columns if board_csv.is_file() else []
    nsd = next((c for c in columns if c.startswith("nsd_")), "nsd_3mm")
    missing_cols = [c for c in ("case", "class", "dsc", nsd, "hd95_mm") if c not in table]
    if missing_cols:
        raise TransferbenchError(
            f"{csv}: lacks column(s) {missing_cols} (the sweep's metrics; NSD at its tolerance)"
        )
    expected = set(covid_fold(fold, info["target"].get("fold_scheme", "folds_4_train"))["test"])
    have = set(table["case"].astype(str))
    if have != expected:
        absent, extra = sorted(expected - have), sorted(have - expected)
        raise TransferbenchError(
            f"{csv}: the cases must be fold {fold}'s {len(expected)} test cases"
            + (f"; missing {', '.join(absent)}" if absent else "")
            + (f"; not in the fold's test set {', '.join(extra)}" if extra else "")
            + " (score them with `transferbench evaluate --fold K`)"
        )
    slug = external_slug(label)
    clash = [
        e["label"]
        for e in read_manifest(results_dir)
        if e["label"] != label and e["file"] == f"external/{slug}.csv"
    ]
    if clash:
        raise TransferbenchError(
            f"--external {label!r}: its file name external/{slug}.csv is already the row {clash[0]!r}'s (labels "
            "that differ only in case or punctuation share a file); choose another label"
        )
    (results_dir / "external").mkdir(exist_ok=True)
    shutil.copyfile(csv, results_dir / "external" / f"{slug}.csv")
    entry = {"label": label, "file": f"external/{slug}.csv", "model": model, "n_train": n_train, "fold": fold}
    if steps is not None:
        entry["steps"] = int(steps)
    manifest = [e for e in read_manifest(results_dir) if e["label"] != label] + [entry]
    atomic_write_text(results_dir / MANIFEST, json.dumps(manifest, indent=1) + "\n")
    return entry


def external_tables(results_dir: Path, target: str) -> tuple[pd.DataFrame, list[dict]]:
    """(per-case rows, runs records) of every recorded external row, in the sweep's per-case layout."""
    frames, records = [], []
    for e in read_manifest(results_dir):
        path = Path(results_dir) / e["file"]
        if not path.is_file():
            raise TransferbenchError(
                f"{results_dir / MANIFEST}: {e['label']!r} names {path}, which is missing"
            )
        df = pd.read_csv(path).drop(columns=["fold"], errors="ignore")
        run = f"external:{e['label']}"
        meta = {"model": e["model"], "strategy": e["label"], "source": "-", "n_train": e["n_train"],
                "fold": e["fold"], "seed": 0}  # fmt: skip
        for k, v in reversed(meta.items()):
            df.insert(0, k, v)
        df.insert(df.columns.get_loc("case") + 1, "test_set", target)
        flag = collapsed(df)
        df["run"], df["collapsed"] = run, flag
        frames.append(df)
        records.append({"id": run, "kind": "finetune", **meta, "status": "done", "wall_s": math.nan,
                        "total_steps": e.get("steps", math.nan), "collapsed": flag,
                        "notes": f"external per-case results: {e['file']}"})  # fmt: skip
    return (pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()), records
