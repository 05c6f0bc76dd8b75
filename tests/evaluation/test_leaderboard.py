"""Leaderboard rows on hand-made per-case tables: baselines, collapsed runs, run columns, comparisons."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from transferbench.evaluation.comparisons import comparisons, rank_analysis, ranks_table
from transferbench.evaluation.leaderboard import (
    MATCHED,
    build_leaderboard,
    censored_median,
    collapsed,
    converged,
    epochs_to_reach,
    matched_baseline,
    plateau_gain,
    plateau_p,
    to_markdown,
)

# multiples of 1/64 so that every difference below is exact in floating point
BASE = np.array([32, 40, 26, 45, 35, 42, 31, 38, 47, 33]) / 64


def part(strategy: str, source: str, offset, seeds=(0, 1), empty_seed=None) -> list[dict]:
    out = []
    for seed in seeds:
        for i, b in enumerate(BASE):
            dsc = 0.0 if seed == empty_seed else b + (offset(i) if callable(offset) else offset)
            out.append({"model": "unet3d", "strategy": strategy, "source": source, "fold": 0, "seed": seed,
                        "run": f"{strategy}-{source}-{seed}", "case": f"c{i}", "class": 1, "dsc": dsc,
                        "nsd_3mm": dsc, "gt_ml": 10.0, "pred_ml": 0.0 if seed == empty_seed else 9.0})  # fmt: skip
    return out


def table() -> pd.DataFrame:
    df = pd.DataFrame(
        part("scratch", "-", 0.0)
        + part("scratch_matched", "-", 0.0625)
        + part("finetune", "tumor", 0.125)  # +1/8 over scratch, +1/16 over the matched scratch
        + part("joint", "tumor", lambda i: 0.0625 if i % 2 else -0.0625, empty_seed=1)
    )
    df["collapsed"] = df.run == "joint-tumor-1"
    return df


def runs_table() -> pd.DataFrame:
    steps = {"scratch": 160, "scratch_matched": 400, "finetune": 400, "joint": 160}
    src = {"finetune": "tumor", "joint": "tumor"}
    rows = []
    for s, n in steps.items():
        for seed in (0, 1):
            rows.append({"model": "unet3d", "strategy": s, "source": src.get(s, "-"), "status": "done",
                         "total_steps": n, "wall_s": 10.0, "pretrain_wall_s": 30.0 if s == "finetune" else np.nan,
                         "epochs_to_dice": {0: 4.0, 1: np.nan}[seed] if s != "finetune" else 2.0 + seed})  # fmt: skip
    return pd.DataFrame(rows)


def test_rows_compare_with_the_step_matched_and_the_plain_scratch():
    board = build_leaderboard(table(), runs_table(), n_boot=300).set_index(["strategy", "source"])
    ft = board.loc[("finetune", "tumor")]
    assert ft.matched_baseline == "scratch_matched" and ft.steps == 400
    assert ft.dsc_diff_scratch_matched == 0.0625 and ft.dsc_diff_scratch == 0.125
    # every d[s, c] is 1/16: no variance, a zero-width crossed interval
    assert ft.ci_low_scratch_matched == ft.ci_high_scratch_matched == 0.0625 and ft.p_scratch_matched == 0
    assert ft.n_cases == 10 and ft.n_runs == 2 and ft.collapsed == 0 and ft.n_seeds_scratch_matched == 2
    # secondary: exact Wilcoxon on 10 cases (not 20 case x seed pairs): two-sided p = 2 / 2**10
    assert ft.p_case_scratch_matched == pytest.approx(2 / 1024)
    assert ft.per_seed_scratch_matched == "s0 +0.062, s1 +0.062" and ft.wins_scratch_matched == "10/10"
    assert ft.seeds_won_scratch_matched == "2 of 2" and ft.prob_improve_scratch_matched > 0.5
    # two seeds are below the minimum: no claim, however clear the cases are
    assert ft.verdict == "too few seeds" and ft.verdict_scratch == "too few seeds"
    joint = board.loc[("joint", "tumor")]
    assert joint.matched_baseline == "scratch"  # adds no steps: the plain scratch is its matched control
    matched = board.loc[("scratch_matched", "-")]
    assert matched.matched_baseline == "" and matched.dsc_diff_scratch == 0.0625
    assert math.isnan(board.loc[("scratch", "-")].p_holm_scratch)


def test_collapsed_run_is_counted_and_left_out_of_the_mean():
    board = build_leaderboard(table(), runs_table(), n_boot=100).set_index(["strategy", "source"])
    joint = board.loc[("joint", "tumor")]
    assert joint.collapsed == 1 and joint.n_runs == 2
    assert joint.dsc_mean == pytest.approx(BASE.mean())  # seed 0 only: +-1/16 alternating
    assert joint.dsc_mean_all == pytest.approx(BASE.mean() / 2)  # seed 1 predicted nothing anywhere
    assert joint.per_seed_scratch == "s0 +0.000" and joint.dsc_diff_scratch == pytest.approx(0.0)
    assert joint.n_seeds_scratch == 1 and joint.interval_scratch == "cases only (1 seed)"


def test_collapse_rule():
    runs = pd.DataFrame(part("x", "-", 0.0, seeds=(0,), empty_seed=0))
    assert collapsed(runs)
    runs.loc[0, "pred_ml"] = 3.0  # one case of ten predicted: still 90% empty
    assert collapsed(runs)
    runs.loc[1, "pred_ml"] = 3.0
    assert not collapsed(runs)
    assert collapsed(pd.DataFrame(part("x", "-", 0.1, seeds=(0,))), val_curve=[(1, 0.0), (3, 0.0)])
    # near-empty counts as empty: under 10% of the reference volume on >= 90% of the cases with a lesion
    near = pd.DataFrame(part("x", "-", 0.1, seeds=(0,))).assign(pred_ml=0.9)  # 9% of 10 ml everywhere
    assert collapsed(near)
    assert not collapsed(near.assign(pred_ml=1.0))  # 10%: a small but real prediction


def test_plateau_rule():
    rising = [(e, 0.1 + 0.03 * e) for e in range(8)]  # +0.06 from quarter 3 to quarter 4
    assert plateau_gain(rising) == pytest.approx(0.06) and converged(rising) is False
    flat = [(e, 0.7 + (0.015 if e % 2 else 0.0)) for e in range(8)]  # noise around a plateau
    assert plateau_gain(flat) == pytest.approx(0.0) and converged(flat) is True
    slow = [(e, 0.5 + 0.005 * e) for e in range(12)]  # +0.015 per quarter: under the tolerance
    assert converged(slow) is True
    assert converged(rising[:7]) is None and converged(None) is None  # too short to tell: unknown
    assert plateau_p(rising) < 1e-6  # a steady rise: the slope is far beyond the (absent) scatter


def test_a_gain_made_of_scatter_is_not_under_training():
    """Quarter means 0.02 apart from scatter alone (a zigzag, no trend): converged; the same gain as a steady
    rise: not."""
    zigzag = [0.57, 0.63, 0.56, 0.62, 0.64, 0.58, 0.65, 0.59]
    curve = [(e, 0.6) for e in range(8)] + [(8 + i, d) for i, d in enumerate(zigzag)]
    assert plateau_gain(curve) == pytest.approx(0.02) and plateau_p(curve) > 0.2
    assert converged(curve) is True
    steady = [(e, 0.6) for e in range(8)] + [(8 + i, 0.59 + 0.005 * i) for i in range(8)]
    assert plateau_gain(steady) == pytest.approx(0.02) and plateau_p(steady) < 0.05
    assert converged(steady) is False


def test_plateau_rule_reads_the_curve_before_a_wsd_decay():
    """A flat curve at the constant rate, then the decay's annealing gain: converged, not under-trained."""
    curve = [(e, 0.6 + (0.01 if e % 2 else 0.0)) for e in range(16)] + [(e, 0.66) for e in range(16, 20)]
    assert converged(curve) is False  # the whole curve: the decay's +0.06 reads as under-training
    assert plateau_gain(curve, until=16) == pytest.approx(0.0) and converged(curve, until=16) is True
    still_rising = [(e, 0.3 + 0.02 * e) for e in range(20)]
    assert converged(still_rising, until=16) is False  # rising before the decay: still under-trained
    assert converged(curve, until=7) is None  # too few validations before the decay to tell
    assert converged(curve, until=float("nan")) is False  # runs.csv's empty cell: the whole curve


def test_an_unconverged_run_is_counted_and_left_out_like_a_collapsed_one():
    per_case = table()
    late = (per_case.strategy == "finetune") & (per_case.seed == 1)
    per_case["unconverged"] = late
    board = build_leaderboard(per_case, runs_table(), n_boot=100).set_index(["strategy", "source"])
    row = board.loc[("finetune", "tumor")]
    assert row.unconverged == 1 and row.collapsed == 0 and row[f"n_seeds_{MATCHED}"] == 1


def test_holm_families_and_run_columns():
    board = build_leaderboard(table(), runs_table(), n_boot=100).set_index(["strategy", "source"])
    # family "vs scratch_matched": finetune and joint (their matched controls)
    ps = board[["p_scratch_matched", "p_holm_scratch_matched"]].dropna()
    assert len(ps) == 2 and (ps.p_holm_scratch_matched >= ps.p_scratch_matched).all()
    assert board.loc[("finetune", "tumor"), "epochs_to_dice"] == 2.0  # runs at 2 and 3: lower median
    assert board.loc[("joint", "tumor"), "epochs_to_dice"] == 4.0  # 4 and never: Kaplan-Meier median 4
    assert board.loc[("joint", "tumor"), "reached_dice"] == 1 and board.loc[("joint", "tumor"), "complete"]


def test_censored_median_and_epochs_to_reach():
    assert censored_median(pd.Series([8.0, np.nan])) == 8.0  # half reached at 8: Kaplan-Meier median 8
    assert math.isnan(censored_median(pd.Series([np.nan, np.nan, 5.0])))  # the median run never reached
    assert censored_median(pd.Series([3.0, 5.0, 4.0])) == 4.0
    assert epochs_to_reach([(0, 0.2), (1, 0.49), (3, 0.51)], 0.5) == 4.0
    assert math.isnan(epochs_to_reach([(0, 0.2)], 0.5))


def test_matched_baseline_picks_equal_steps():
    steps = {("m", "a", "x"): 400, ("m", "scratch", "-"): 160, ("m", "scratch_matched_400", "-"): 400,
             ("m", "scratch_matched_640", "-"): 640, ("m", "b", "x"): 640, ("m", "c", "x"): 999}  # fmt: skip
    present = set(steps)
    assert matched_baseline(("m", "a", "x"), steps, present) == "scratch_matched_400"
    assert matched_baseline(("m", "b", "x"), steps, present) == "scratch_matched_640"
    assert matched_baseline(("m", "c", "x"), steps, present) is None


def test_comparisons_between_strategies_and_sources():
    df = pd.DataFrame(
        part("scratch", "-", 0.0) + part("finetune", "a", 0.125) + part("finetune", "b", 0.0625)
        + part("hybrid", "a", 0.0625) + part("multisource", "ab", 0.25)
    )  # fmt: skip
    board = build_leaderboard(df, n_boot=100)
    info = {"strategies": {"finetune": "finetune", "hybrid": "hybrid", "multisource": "multisource"},
            "sources": {"a": ["sa"], "b": ["sb"], "ab": ["sa", "sb"]}}  # fmt: skip
    out = comparisons(df, board, info, n_boot=100).set_index(["family", "a", "b"])
    assert out.loc[("sources", "finetune / a", "finetune / b"), "dsc_diff"] == 0.0625
    assert out.loc[("hybrid_vs_finetune", "hybrid / a", "finetune / a"), "dsc_diff"] == -0.0625
    best = out.loc["multisource_vs_best_single"]
    assert list(best.index) == [("multisource / ab", "finetune / a")] and best.dsc_diff.iloc[0] == 0.125
    strategies = out.loc["strategies"]
    assert list(strategies.index) == [("finetune / a", "hybrid / a")]
    assert (out.p_holm >= out.p).all() and (out.n_cases == 10).all()
    ranks = ranks_table(rank_analysis(df, n_boot=50)).set_index("row")
    assert ranks.loc["multisource / ab", "mean_rank"] == 1.0 and ranks.loc["scratch", "mean_rank"] == 5.0


def test_markdown_cells():
    md = to_markdown(pd.DataFrame({"a": [1.23456, float("nan")], "b": ["x", "y"]}))
    assert md.splitlines()[0] == "| a | b |" and "| 1.235 | x |" in md and "|  | y |" in md


def test_public_benchmark_reference_numbers():
    from transferbench.evaluation.reference import reference_for

    assert reference_for("scratch", ()) == "DSC 67.3 +- 22.3 / NSD 70.0 +- 24.4"
    assert reference_for("scratch", (), "folds_16_train").startswith("DSC 77.7")
    assert reference_for("source_only", ("nsclc_pleural_effusion",)) == "DSC 0.4 +- 0.9 / NSD 3.7 +- 4.8"
    assert reference_for("joint", ("structseg_gtv",)).startswith("DSC 64.2")
    assert reference_for("hybrid", ("msd_lung_tumor",)) == ""


def test_a_collapsed_run_takes_its_seed_out_of_the_comparison():
    df = pd.DataFrame(part("scratch", "-", lambda i: 0.0) + part("joint", "tumor", 0.125, empty_seed=1))
    df.loc[(df.strategy == "scratch") & (df.seed == 1), "dsc"] -= 0.25  # a weak scratch seed
    df["collapsed"] = df.run == "joint-tumor-1"
    joint = build_leaderboard(df, n_boot=100).set_index("strategy").loc["joint"]
    # joint's seed 0 against scratch's seed 0 only (not against the mean of both scratch seeds)
    assert joint.dsc_diff_scratch == 0.125 and joint.per_seed_scratch == "s0 +0.125"
