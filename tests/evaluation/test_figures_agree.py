"""Every figure that shows a comparison draws the numbers and marks of the tables: each test reads what a
figure drew (the table each figure function returns) and compares it with the leaderboard."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from transferbench.evaluation import figures, stat_figures
from transferbench.evaluation.leaderboard import build_leaderboard

SEEDS, CASES = range(5), [f"c{i:02d}" for i in range(10)]
RNG = np.random.default_rng(3)
CASE_EFFECT = RNG.uniform(0.3, 0.7, len(CASES))
SEED_EFFECT = RNG.normal(0, 0.02, len(SEEDS))
ROWS = {("scratch", "-"): 0.0, ("scratch_matched", "-"): 0.02, ("finetune", "a"): 0.12,
        ("finetune", "b"): 0.025, ("encoder", "a"): -0.1}  # fmt: skip
STEPS = {"scratch": 100, "scratch_matched": 300, "finetune": 300, "encoder": 300}


def per_case_table() -> pd.DataFrame:
    out = []
    for n_train in (1, 4):
        for (strategy, source), gain in ROWS.items():
            for s in SEEDS:
                run = f"{strategy}-{source}-{n_train}-s{s}"
                noise = RNG.normal(0, 0.02, len(CASES))
                for case, base, e in zip(CASES, CASE_EFFECT, noise):
                    dsc = base + 0.05 * n_train + gain + SEED_EFFECT[s] + e
                    out.append({"model": "m", "strategy": strategy, "source": source, "n_train": n_train,
                                "fold": 0, "seed": s, "run": run, "case": case, "class": 1, "dsc": dsc,
                                "nsd_3mm": dsc, "hd95_mm": 5.0, "gt_ml": 10.0, "pred_ml": 9.0,
                                "collapsed": False})  # fmt: skip
    df = pd.DataFrame(out)
    # finetune / b collapsed in seed 4 at n_train 4: its comparison pairs seeds 0-3 only
    bad = (df.strategy == "finetune") & (df.source == "b") & (df.seed == 4) & (df.n_train == 4)
    df.loc[bad, ["dsc", "nsd_3mm", "pred_ml"]] = [0.0, 0.0, 0.0]
    df.loc[bad, "collapsed"] = True
    return df


def runs_table(per_case: pd.DataFrame) -> pd.DataFrame:
    runs = per_case.groupby("run").first().reset_index()[["run", "model", "strategy", "source", "n_train", "seed",
                                                         "collapsed"]]  # fmt: skip
    return runs.rename(columns={"run": "id"}).assign(
        kind="finetune", status="done", total_steps=runs.strategy.map(STEPS), wall_s=1.0, pretrain_wall_s=np.nan,
        epochs_to_dice=np.nan,
    )  # fmt: skip


@pytest.fixture(scope="module")
def tables():
    per_case = per_case_table()
    runs = runs_table(per_case)
    boards = [build_leaderboard(per_case[per_case.n_train == n], runs[runs.n_train == n], n_boot=200).assign(n_train=n)
              for n in (1, 4)]  # fmt: skip
    return per_case, runs, pd.concat(boards, ignore_index=True)


@pytest.fixture(autouse=True)
def no_files(monkeypatch):
    monkeypatch.setattr(figures, "save", lambda fig, path: None)
    monkeypatch.setattr(stat_figures, "save", lambda fig, path: None)


def at(board: pd.DataFrame, n: int) -> pd.DataFrame:
    return board[board.n_train == n]


def test_the_design_has_every_verdict_the_figures_must_draw(tables):
    _, _, board = tables
    verdicts = set(at(board, 4).verdict.dropna())
    assert {"better", "worse"} <= verdicts and len(verdicts - {""}) >= 3


def test_forest_draws_the_tables_difference_interval_and_verdict(tables):
    _, _, board = tables
    b = at(board, 4)
    drawn = stat_figures.forest(b, "m", None).set_index("row")
    expect = b.dropna(subset=["dsc_diff_scratch_matched"])
    assert len(drawn) == len(expect)
    for r in expect.itertuples():
        row = drawn[drawn.index.str.startswith(f"{r.strategy} / {r.source} (")].iloc[0]
        assert row["diff"] == r.dsc_diff_scratch_matched and row["verdict"] == r.verdict
        assert row["ci_low"] == r.ci_low_scratch_matched and row["ci_high"] == r.ci_high_scratch_matched


def test_forest_of_several_budgets_draws_every_row_under_its_budget(tables):
    _, _, board = tables
    drawn = stat_figures.forest(board, "m", None)
    expect = board.dropna(subset=["dsc_diff_scratch_matched"])
    assert len(drawn) == len(expect) and expect.n_train.nunique() > 1
    for r in expect.itertuples():
        (row,) = drawn[drawn.row.str.startswith(f"n{r.n_train}: {r.strategy} / {r.source} (")].itertuples()
        assert row.diff == r.dsc_diff_scratch_matched and row.verdict == r.verdict


def test_heatmap_marks_exactly_the_claimed_cells(tables):
    _, _, board = tables
    b = at(board, 4)
    drawn = figures.heatmap(b, "m", None).set_index(["strategy", "source"])
    for r in b.dropna(subset=["dsc_diff_scratch_matched"]).itertuples():
        cell = drawn.loc[(r.strategy, r.source)]
        assert cell["value"] == r.dsc_diff_scratch_matched
        assert (cell["mark"] == "*") == (r.verdict in ("better", "worse"))


def test_paired_cases_use_the_comparisons_seeds(tables):
    per_case, _, board = tables
    b = at(board, 4)
    drawn = stat_figures.paired_cases(per_case[per_case.n_train == 4], b, "m", None)
    drawn = drawn.set_index(["strategy", "source"])
    for r in b[b.matched_baseline != ""].itertuples():
        row = drawn.loc[(r.strategy, r.source)]
        assert row["diff"] == pytest.approx(r.dsc_diff_scratch_matched)
        assert f"{row['wins']}/{row['n_cases']}" == r.wins_scratch_matched and row["verdict"] == r.verdict
    assert drawn.loc[("finetune", "b"), "seeds"] == 4  # the collapsed seed is out of both sides


def test_per_case_metrics_leave_collapsed_runs_out(tables):
    per_case, _, _ = tables
    drawn = figures.distributions(per_case[per_case.n_train == 4], "m", None)
    assert not drawn.run.isin(per_case.loc[per_case.collapsed, "run"]).any()
    assert len(drawn) == (~per_case[per_case.n_train == 4].collapsed).sum()


def test_learning_curves_are_faceted_by_label_budget(tables):
    _, runs, _ = tables
    curves = {r.id: [(0, 0.1 * r.n_train), (1, 0.2 * r.n_train)] for r in runs.itertuples()}
    drawn = figures.learning_curves(curves, runs, "m", None)
    assert set(drawn.n_train) == {1, 4}
    four = drawn[(drawn.n_train == 4) & (drawn.strategy == "finetune") & (drawn.epoch == 2)]
    assert four.dice.iloc[0] == pytest.approx(0.8)  # not pooled with the n_train 1 runs (0.2)


def test_label_budget_draws_the_leaderboards_means(tables):
    per_case, _, board = tables
    drawn = figures.label_budget(per_case, Path("not-written"), board).set_index(
        ["strategy", "source", "n_train"]
    )
    for r in board.itertuples():
        assert drawn.loc[(r.strategy, r.source, r.n_train), "dsc"] == pytest.approx(r.dsc_mean)
