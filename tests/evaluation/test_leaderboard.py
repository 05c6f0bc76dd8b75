"""Leaderboard statistics on hand-made per-case tables whose answers are known."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from transferbench.evaluation.leaderboard import (
    bootstrap_ci,
    build_leaderboard,
    epochs_to_reach,
    holm,
    to_markdown,
)

# multiples of 1/64 so that every difference below is exact in floating point
BASE = np.array([32, 40, 26, 45, 35, 42, 31, 38, 47, 33]) / 64


def table() -> pd.DataFrame:
    rows = []
    for i, b in enumerate(BASE):
        common = {"model": "unet3d", "fold": i // 5, "seed": 0, "case": f"c{i % 5}", "class": 1}
        rows.append({**common, "strategy": "scratch", "source": "-", "dsc": b, "nsd_3mm": b})
        # +1/8 on every case: all ten signs positive
        rows.append(
            {**common, "strategy": "finetune", "source": "tumor", "dsc": b + 0.125, "nsd_3mm": b + 0.25}
        )
        # +-1/16 alternating: mean difference 0, signed ranks balanced
        rows.append(
            {
                **common,
                "strategy": "joint",
                "source": "tumor",
                "dsc": b + (0.0625 if i % 2 else -0.0625),
                "nsd_3mm": b,
            }
        )
    return pd.DataFrame(rows)


def test_means_differences_and_p_values():
    board = build_leaderboard(table(), n_boot=500).set_index(["strategy", "source"])
    ft, joint, scratch = (
        board.loc[("finetune", "tumor")],
        board.loc[("joint", "tumor")],
        board.loc[("scratch", "-")],
    )
    assert scratch.dsc_mean == pytest.approx(BASE.mean()) and scratch.dsc_sd == pytest.approx(
        BASE.std(ddof=1)
    )
    assert ft.dsc_mean == pytest.approx(BASE.mean() + 0.125) and ft.cases == 10 and ft.runs == 2
    assert ft.dsc_diff == 0.125 and ft.nsd_diff == 0.25 and ft.pairs == 10
    assert ft.dsc_diff_ci_low == 0.125 and ft.dsc_diff_ci_high == 0.125
    # exact Wilcoxon: ten positive differences -> two-sided p = 2 / 2**10
    assert ft.p_wilcoxon == pytest.approx(2 / 1024)
    assert joint.dsc_diff == 0.0 and joint.p_wilcoxon == pytest.approx(1.0)
    # Holm over the model's two comparisons
    assert ft.p_holm == pytest.approx(2 * 2 / 1024) and joint.p_holm == pytest.approx(1.0)
    assert ft["rank"] == 1 and scratch["rank"] == 2 and math.isnan(scratch.p_holm)


def test_undefined_cases_are_dropped_from_pairs():
    df = table()
    df.loc[(df.strategy == "finetune") & (df.case == "c0"), "dsc"] = np.nan
    row = build_leaderboard(df).set_index("strategy").loc["finetune"]
    assert row.pairs == 8 and row.undefined == 2 and row.dsc_diff == 0.125


def test_holm_known_vector():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    out = holm([0.2, float("nan"), 0.9])
    assert out[0] == pytest.approx(0.4) and math.isnan(out[1]) and out[2] == pytest.approx(0.9)


def test_bootstrap_ci_brackets_the_mean():
    d = np.random.default_rng(1).normal(0.05, 0.1, 200)
    lo, hi = bootstrap_ci(d)
    assert lo < d.mean() < hi and hi - lo == pytest.approx(2 * 1.96 * d.std(ddof=1) / np.sqrt(200), rel=0.2)


def test_epochs_to_reach_and_markdown():
    assert epochs_to_reach([(0, 0.2), (1, 0.49), (3, 0.51)], 0.5) == 4.0
    assert math.isnan(epochs_to_reach([(0, 0.2)], 0.5))
    md = to_markdown(pd.DataFrame({"a": [1.23456, float("nan")], "b": ["x", "y"]}))
    assert md.splitlines()[0] == "| a | b |" and "| 1.235 | x |" in md and "|  | y |" in md


def test_cost_columns_and_completeness():
    runs = pd.DataFrame(
        [
            {"model": "unet3d", "strategy": "finetune", "source": "tumor", "status": "done", "wall_s": 10.0,
             "pretrain_wall_s": 30.0, "epochs_to_dice": 2.0},
            {"model": "unet3d", "strategy": "finetune", "source": "tumor", "status": "failed", "wall_s": np.nan,
             "pretrain_wall_s": 30.0, "epochs_to_dice": np.nan},
            {"model": "unet3d", "strategy": "scratch", "source": "-", "status": "done", "wall_s": 8.0,
             "pretrain_wall_s": np.nan, "epochs_to_dice": 5.0},
        ]
    )  # fmt: skip
    board = build_leaderboard(table(), runs).set_index("strategy")
    assert (
        board.loc["finetune", "finetune_wall_s"] == 10.0 and board.loc["finetune", "pretrain_wall_s"] == 30.0
    )
    assert not board.loc["finetune", "complete"] and board.loc["scratch", "complete"]
    assert board.loc["finetune", "reached_dice"] == 1 and board.loc["scratch", "epochs_to_dice"] == 5.0


def test_public_benchmark_reference_numbers():
    from transferbench.evaluation.reference import reference_for

    assert reference_for("scratch", ()) == "DSC 67.3 +- 22.3 / NSD 70.0 +- 24.4"
    assert reference_for("scratch", (), "folds_16_train").startswith("DSC 77.7")
    assert reference_for("source_only", ("nsclc_pleural_effusion",)) == "DSC 0.4 +- 0.9 / NSD 3.7 +- 4.8"
    assert reference_for("joint", ("structseg_gtv",)).startswith("DSC 64.2")
    assert reference_for("hybrid", ("msd_lung_tumor",)) == ""


def test_source_summary_ranks_sources_within_each_strategy():
    import pandas as pd

    from transferbench.evaluation.leaderboard import source_summary

    board = pd.DataFrame(
        [
            ("m", "scratch", "-", 0.50, float("nan")),
            ("m", "finetune", "a", 0.70, 0.20),
            ("m", "finetune", "b", 0.60, 0.10),
            ("m", "joint", "a", 0.40, -0.10),
            ("m", "joint", "b", 0.45, -0.05),
            ("m", "hybrid", "all", 0.90, 0.40),  # a source set: not a single source
        ],
        columns=["model", "strategy", "source", "dsc_mean", "dsc_diff"],
    )
    out = source_summary(board, ["a", "b"]).set_index("source")
    assert out.loc["a", "mean_dsc_diff"] == pytest.approx(0.05) and out.loc[
        "b", "mean_dsc_diff"
    ] == pytest.approx(0.025)
    assert (
        out.loc["a", "mean_rank"] == 1.5 and out.loc["b", "best_in"] == 1 and out.loc["a", "strategies"] == 2
    )
    assert list(out.index) == ["a", "b"]
    empty = source_summary(pd.DataFrame(columns=["model", "strategy", "source"]), ["a"])  # every run failed
    assert empty.empty and "mean_dsc_diff" in empty.columns
