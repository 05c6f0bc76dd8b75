"""Twin runs of two sweeps: matched on every key, flags compared by Cohen's kappa, DSC noise per budget."""

import math

import numpy as np
import pandas as pd
import pytest

from transferbench.cli.main import main
from transferbench.evaluation.agreement import (
    cohens_kappa,
    flag_agreement,
    flagged_plateau,
    noise_table,
    twin_runs,
)


def _tables(dsc: dict, flags: dict, tag: str, steps: int = 700) -> tuple[pd.DataFrame, pd.DataFrame]:
    """runs.csv / per_case.csv of a sweep whose target runs are ``dsc``'s keys ((strategy, n_train, seed) ->
    per-case DSCs), plus one pretraining; ``flags``: key -> (unconverged, collapsed)."""
    runs = [{"id": f"pre-{tag}", "kind": "pretrain", "model": "unet3d", "strategy": "pretrain", "source": "t",
             "n_train": np.nan, "fold": np.nan, "seed": 0, "status": "done", "total_steps": 200,
             "converged": np.nan, "collapsed": False}]  # fmt: skip
    cases = []
    for (strategy, n_train, seed), values in dsc.items():
        run = f"ft-{strategy}-n{n_train}-s{seed}-{tag}"
        unconverged, collapsed = flags.get((strategy, n_train, seed), (False, False))
        runs.append({"id": run, "kind": "finetune", "model": "unet3d", "strategy": strategy, "source": "t",
                     "n_train": n_train, "fold": 0, "seed": seed, "status": "done", "total_steps": steps,
                     "converged": not unconverged, "collapsed": collapsed})  # fmt: skip
        for i, v in enumerate(values):
            cases.append({"model": "unet3d", "strategy": strategy, "source": "t", "n_train": n_train, "fold": 0,
                          "seed": seed, "run": run, "case": f"c{i}", "test_set": "covid", "class": 1,
                          "dsc": v, "collapsed": collapsed})  # fmt: skip
    return pd.DataFrame(runs), pd.DataFrame(cases)


def test_twins_match_on_every_key_and_leave_out_pretraining():
    runs_a, cases_a = _tables({("finetune", 1, 0): [0.5, 0.7], ("finetune", 1, 1): [0.4, 0.4]}, {}, "a")
    runs_b, cases_b = _tables({("finetune", 1, 0): [0.4, 0.6], ("finetune", 4, 0): [0.8, 0.8]}, {}, "b")
    twins = twin_runs(runs_a, cases_a, runs_b, cases_b)
    assert len(twins) == 1
    row = twins.iloc[0]
    assert (row["run_a"], row["run_b"]) == ("ft-finetune-n1-s0-a", "ft-finetune-n1-s0-b")
    assert row["dsc_a"] == pytest.approx(0.6) and row["dsc_diff"] == pytest.approx(0.1)
    # the same run with another budget of steps is not its twin
    runs_c, cases_c = _tables({("finetune", 1, 0): [0.4, 0.6]}, {}, "c", steps=900)
    assert twin_runs(runs_a, cases_a, runs_c, cases_c).empty


def test_kappa_is_one_for_identical_flags_zero_at_chance_and_undefined_without_variation():
    a = pd.Series([True, True, False, False])
    assert cohens_kappa(a, a) == pytest.approx(1.0)
    # po = 0.5, pe = 0.5: agreement at chance
    assert cohens_kappa(a, pd.Series([True, False, True, False])) == pytest.approx(0.0)
    # po = 0.75, pe = 0.5 -> (0.75 - 0.5) / 0.5
    assert cohens_kappa(a, pd.Series([True, True, True, False])) == pytest.approx(0.5)
    assert math.isnan(cohens_kappa(pd.Series([False] * 4), pd.Series([False] * 4)))


def test_flag_counts_and_noise_per_budget():
    keys = [("finetune", 1, s) for s in range(4)] + [("scratch", 1, s) for s in range(4)]
    dsc_a = {k: [0.5 + 0.1 * k[2]] for k in keys}
    dsc_b = {k: [0.5 + 0.1 * k[2] + (0.02 if k[2] % 2 else -0.02)] for k in keys}
    flags_a = {("finetune", 1, 0): (True, False), ("finetune", 1, 1): (True, False)}
    flags_b = {("finetune", 1, 0): (True, False), ("scratch", 1, 2): (True, False)}
    twins = twin_runs(*_tables(dsc_a, flags_a, "a"), *_tables(dsc_b, flags_b, "b"))
    agree = flag_agreement(twins).set_index("flag")
    assert agree.loc["unconverged", ["twins", "flagged_a", "flagged_b", "both"]].tolist() == [8, 2, 2, 1]
    # po = 6/8, pe = (6/8)^2 + (2/8)^2 = 10/16
    assert agree.loc["unconverged", "kappa"] == pytest.approx((6 / 8 - 10 / 16) / (1 - 10 / 16))
    assert math.isnan(agree.loc["collapsed", "kappa"])
    noise = noise_table(twins).set_index("n_train").loc[1]
    diffs = np.array([0.02, -0.02] * 4)  # a - b
    assert noise["twins"] == 8
    assert noise["diff_sd"] == pytest.approx(diffs.std(ddof=1))
    assert noise["rerun_sd_per_run"] == pytest.approx(diffs.std(ddof=1) / math.sqrt(2))
    # each row's seeds: 0.5, 0.6, 0.7, 0.8 in a; the pooled sd over the two rows is that sd
    assert noise["seed_sd_a"] == pytest.approx(np.std([0.5, 0.6, 0.7, 0.8], ddof=1))
    assert noise["rerun_share_a"] == pytest.approx(
        diffs.var(ddof=1) / 2 / np.var([0.5, 0.6, 0.7, 0.8], ddof=1)
    )


def test_the_plateau_statistics_of_the_flagged_twins_are_summarised_per_sweep():
    keys = {("finetune", 1, s): [0.5] for s in range(3)}
    (runs_a, cases_a), (runs_b, cases_b) = _tables(keys, {}, "a"), _tables(keys, {}, "b")
    runs_a["converged"] = [np.nan, False, False, True]  # the pretraining first
    runs_a["plateau_gain"], runs_a["plateau_p"] = [np.nan, 0.03, 0.05, 0.0], [np.nan, 0.01, 0.03, 0.9]
    runs_b["plateau_gain"], runs_b["plateau_p"] = np.nan, np.nan
    summary = flagged_plateau(twin_runs(runs_a, cases_a, runs_b, cases_b)).set_index("sweep")
    assert summary.loc["a", "flagged"] == 2
    assert summary.loc["a", "median_plateau_gain"] == pytest.approx(0.04)
    assert summary.loc["a", "median_plateau_p"] == pytest.approx(0.02)
    assert summary.loc["b", "flagged"] == 0 and math.isnan(summary.loc["b", "median_plateau_gain"])


def _write(folder, runs: pd.DataFrame, cases: pd.DataFrame) -> str:
    folder.mkdir()
    runs.to_csv(folder / "runs.csv", index=False)
    cases.to_csv(folder / "per_case.csv", index=False)
    return str(folder)


def test_the_command_prints_both_tables_and_writes_the_twins(tmp_path, capsys):
    keys = {("finetune", 1, s): [0.5, 0.6] for s in range(3)}
    a = _write(tmp_path / "a", *_tables(keys, {("finetune", 1, 0): (True, False)}, "a"))
    b = _write(tmp_path / "b", *_tables(keys, {}, "b"))
    out = tmp_path / "twins.csv"
    assert main(["agreement", a, b, "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "3 target runs in both" in text and "unconverged" in text and "rerun sd/run" in text
    assert len(pd.read_csv(out)) == 3


def test_the_command_names_a_missing_table_and_refuses_two_sweeps_without_twins(tmp_path, capsys):
    a = _write(tmp_path / "a", *_tables({("finetune", 1, 0): [0.5]}, {}, "a"))
    b = _write(tmp_path / "b", *_tables({("finetune", 4, 0): [0.5]}, {}, "b"))
    assert main(["agreement", a, b]) == 1
    assert "no target run in both" in capsys.readouterr().err
    (tmp_path / "b" / "per_case.csv").unlink()
    assert main(["agreement", a, b]) == 1
    err = capsys.readouterr().err
    assert "per_case.csv" in err and "missing" in err
