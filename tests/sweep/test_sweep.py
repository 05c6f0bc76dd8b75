"""Sweeps end to end on tiny networks: plan, run, resume after a kill, skip finished work, fail cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from transferbench.cli.main import main
from transferbench.errors import SpecError
from transferbench.sweep.plan import make_plan
from transferbench.sweep.spec import load_spec

FAST = {"data": {"target_spacing": [6.0, 6.0, 9.0], "patch_size": [32, 32, 16], "samples_per_volume": 2}}


def write_spec(tmp_path: Path, root: Path, name: str = "tiny", **changes) -> Path:
    spec = {
        "name": name,
        "base_config": "synthetic_unet3d",
        "data_root": str(root),
        "results_dir": str(tmp_path / "results" / name),
        "target": {"folds": [0]},
        "models": {"unet3d": {"overrides": {"model": {"net": {"init_args": {"preset": "tiny"}}}}}},
        "sources": {"tumor": "msd_lung_tumor"},
        "strategies": ["scratch", "finetune"],
        "seeds": [0],
        "budget": {
            "pretrain": {
                "trainer": {"max_epochs": 2, "check_val_every_n_epoch": 2},
                "data": {"iterations_per_epoch": 3},
            },
            "finetune": {
                "trainer": {"max_epochs": 2, "check_val_every_n_epoch": 1},
                "data": {"iterations_per_epoch": 3},
            },
        },
        "overrides": FAST,
        "baselines": ["scratch"],  # the compute controls have their own test
    }
    spec.update(changes)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def png_dpi(path: Path) -> float:
    """The resolution a PNG declares (its pHYs chunk: pixels per metre)."""
    import struct

    data = path.read_bytes()
    at = data.index(b"pHYs")
    return round(struct.unpack(">I", data[at + 4 : at + 8])[0] * 0.0254, 1)


def outputs(results: Path) -> dict[str, bytes]:
    return {
        n: (results / n).read_bytes()
        for n in (
            "per_case.csv",
            "leaderboard.csv",
            "leaderboard.md",
            "runs.csv",
            "comparisons.csv",
            "ranks.csv",
            "val_curves.csv",
        )
    }


def test_tiny_sweep_end_to_end_and_idempotent(synthetic_root, tmp_path, capsys):
    path = write_spec(tmp_path, synthetic_root, baselines=["scratch", "scratch_matched", "scratch_converged"])
    assert main(["sweep", "--config", str(path)]) == 0
    results = tmp_path / "results" / "tiny"
    per_case = pd.read_csv(results / "per_case.csv")
    assert len(per_case) == 4 * 16 and not per_case.duplicated(["strategy", "source", "case"]).any()
    assert set(per_case.strategy) == {"scratch", "finetune", "scratch_matched", "scratch_converged"}
    # the step-matched scratch trains as many optimiser steps as pretraining + fine-tuning (read from the plan)
    plan = {r["strategy"]: r for r in json.loads((results / "plan.json").read_text())["runs"]}
    assert plan["finetune"]["total_steps"] == plan["pretrain"]["steps"] + plan["finetune"]["steps"] == 12
    assert plan["scratch_matched"]["total_steps"] == plan["scratch_matched"]["steps"] == 12
    assert plan["scratch"]["total_steps"] == 6 and plan["scratch_converged"]["total_steps"] == 24
    runs = pd.read_csv(results / "runs.csv").set_index("strategy")
    assert (
        runs.loc["scratch_matched", "steps_done"] == 12 and runs.loc["scratch_converged", "steps_done"] == 24
    )
    board = pd.read_csv(results / "leaderboard.csv").set_index("strategy")
    ft = board.loc["finetune"]
    assert ft.matched_baseline == "scratch_matched" and ft.steps == 12 and ft.n_cases == 16 and ft.n_runs == 1
    assert 2 / 2**16 <= ft.p_case_scratch_matched <= 1 and ft.verdict == "too few seeds"  # one seed
    assert ft.interval_scratch_matched == "cases only (1 seed)" and ft.seeds_won_scratch_matched in (
        "0 of 1",
        "1 of 1",
    )
    assert {"ci_low_scratch_matched", "finetune_wall_s", "pretrain_wall_s", "epochs_to_dice", "rank",
            "collapsed", "dsc_mean_all"} <= set(board.columns)  # fmt: skip
    assert ft.pretrain_wall_s > 0
    assert sorted(p.name for p in (results / "figures").glob("*.png")) == [
        "unet3d_critical_difference.png", "unet3d_diff_heatmap.png", "unet3d_forest.png",
        "unet3d_learning_curves.png", "unet3d_overlays.png", "unet3d_paired_cases.png",
        "unet3d_per_case_metrics.png", "unet3d_rank_stability.png", "unet3d_similarity_gain.png",
    ]  # fmt: skip
    pngs = sorted((results / "figures").glob("*.png"))
    assert sorted((results / "figures").glob("*.pdf")) == [
        p.with_suffix(".pdf") for p in pngs
    ]  # both formats
    for p in pngs:
        assert png_dpi(p) >= 200, p.name
    assert (results / "similarity.csv").is_file() and "## Source-target lesion similarity" in (
        results / "leaderboard.md"
    ).read_text()
    md = (results / "leaderboard.md").read_text()
    assert "conditional on the trained models" in md and "2 / 2^16" in md
    assert "## Friedman test" in md
    first = outputs(results)
    capsys.readouterr()
    # a second invocation trains nothing and rewrites identical tables
    assert main(["sweep", "--config", str(path)]) == 0
    err = capsys.readouterr().err
    assert err.count("already done") == 5 and "start " not in err
    assert outputs(results) == first
    (env,) = json.loads((results / "environment.json").read_text())  # recorded once, not again on a rerun
    assert (
        env["packages"]["torch"] == torch.__version__.split("+")[0]
        or env["packages"]["torch"] == torch.__version__
    )
    assert env["packages"]["monai"] and len(env.get("constraints_sha256", "")) == 64
    # the leaderboard command rebuilds the same tables from the stored runs alone
    for name in ("leaderboard.csv", "per_case.csv"):
        (results / name).unlink()
    assert main(["leaderboard", str(results), "--no-figures"]) == 0
    assert outputs(results) == first
    # figures are byte-identical across processes (string hashing differs between them)
    figures = []
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "WANDB_MODE": "disabled"}
        cmd = [sys.executable, "-m", "transferbench.cli.main", "leaderboard", str(results)]
        subprocess.run(cmd, env=env, check=True, capture_output=True)
        figures.append({p.name: p.read_bytes() for p in (results / "figures").iterdir()})
    assert figures[0] == figures[1]
    # a fresh clone has the tables but not runs/: the leaderboard re-analyses them, every table identical
    import shutil

    clone = tmp_path / "clone"
    shutil.copytree(results, clone, ignore=shutil.ignore_patterns("runs", "figures"))
    capsys.readouterr()
    assert main(["leaderboard", str(clone)]) == 0
    assert "no run folders; re-analysing per_case.csv" in capsys.readouterr().err  # logged, not output
    assert outputs(clone) == first
    drawn = sorted(p.name for p in (clone / "figures").glob("*.png"))
    assert "unet3d_learning_curves.png" in drawn and "unet3d_overlays.png" not in drawn  # no predictions here
    # tables that do not belong to the plan, or no tables at all: refused, nothing rewritten
    per_case.assign(run="someone-elses-run").to_csv(clone / "per_case.csv", index=False)
    before = {p.name: p.read_bytes() for p in clone.iterdir() if p.is_file()}
    assert main(["leaderboard", str(clone)]) == 1
    assert "per_case.csv: run 'someone-elses-run' is not in" in capsys.readouterr().err
    (clone / "per_case.csv").unlink()
    before.pop("per_case.csv")
    assert main(["leaderboard", str(clone)]) == 1
    assert "none of the 5 planned runs has a record" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in clone.iterdir() if p.is_file()} == before


def test_dry_run_shares_pretraining(synthetic_root, tmp_path, capsys):
    path = write_spec(
        tmp_path,
        synthetic_root,
        sources={"tumor": "msd_lung_tumor", "gtv": "structseg_gtv"},
        source_sets={"both": ["tumor", "gtv"]},
        strategies=[
            "scratch",
            "finetune",
            {"label": "enc", "name": "encoder", "freeze_encoder": True},
            "multisource",
            "hybrid",
        ],
        seeds=[0, 1],
    )
    spec = load_spec(path)
    plan = make_plan(spec)
    kinds = pd.Series([r.kind for r in plan.runs]).value_counts()
    # per seed: pretrain tumor, gtv, tumor+gtv; target: scratch 1 + finetune 2 + enc 3 + multisource 1 + hybrid 3
    assert kinds["pretrain"] == 6 and kinds["finetune"] == 20
    assert len({r.id for r in plan.runs}) == len(plan.runs)
    assert plan.naive_trainings() == 20 + 18
    assert [r.id for r in make_plan(load_spec(path)).runs] == [r.id for r in plan.runs]  # stable ids
    changed = write_spec(tmp_path, synthetic_root, name="tiny2", seeds=[0])
    other = {r.id for r in make_plan(load_spec(changed)).runs}
    assert {
        r.id
        for r in plan.runs
        if r.seed == 0 and r.strategy in ("scratch", "finetune", "pretrain") and r.source in ("tumor", "-")
    } == other
    assert main(["sweep", "--config", str(path), "--dry-run"]) == 0
    err = capsys.readouterr().err
    assert "26 runs = 6 pretraining + 20 target runs" in err and "would train 38 times" in err
    assert not (tmp_path / "results").exists()  # a dry run writes nothing


@pytest.mark.parametrize(
    "changes, key",
    [
        ({"strategies": ["scratch", "transfer_all"]}, "`strategies[1]`: unknown strategy 'transfer_all'"),
        (
            {"strategies": [{"name": "encoder", "frozen": True}]},
            "`strategies[0]`: strategy 'encoder' has no argument",
        ),
        ({"sources": {"tumor": "msd_tumour"}}, "`sources.tumor`: unknown source 'msd_tumour'"),
        (
            {
                "models": {
                    "u": {"overrides": {"model": {"net": {"class_path": "transferbench.models.UNet4D"}}}}
                }
            },
            "`models.u`: unknown network class",
        ),
        ({"target": {"folds": [0, 7]}}, "`target.folds`: fold(s) [7] outside"),
        ({"data_root": "/nonexistent/data"}, "`data_root`: data root /nonexistent/data does not exist"),
        (
            {"strategies": [{"name": "finetune", "sources": ["lidc"]}]},
            "`strategies[0].sources`: 'lidc' is not a label",
        ),
        ({"budget": {"warmup": {}}}, "`budget.warmup`: unknown phase"),
    ],
)
def test_bad_specs_rejected_at_planning_time(synthetic_root, tmp_path, changes, key, capsys):
    path = write_spec(tmp_path, synthetic_root, **changes)
    with pytest.raises(SpecError, match=None) as info:
        load_spec(path)
    assert key in str(info.value) and str(path) in str(info.value)
    assert main(["sweep", "--config", str(path)]) == 1
    assert key in capsys.readouterr().err
    assert not (tmp_path / "results").exists()


def test_failing_pretraining_is_recorded_and_the_rest_runs(synthetic_root, tmp_path):
    bad_budget = {
        "pretrain": {
            "trainer": {"max_epochs": 1},
            "data": {"iterations_per_epoch": 2, "patch_size": [30, 30, 15]},
        },
        "finetune": {"trainer": {"max_epochs": 1}, "data": {"iterations_per_epoch": 2}},
    }
    path = write_spec(tmp_path, synthetic_root, budget=bad_budget)
    assert main(["sweep", "--config", str(path)]) == 1
    results = tmp_path / "results" / "tiny"
    runs = pd.read_csv(results / "runs.csv").set_index("strategy")
    assert runs.loc["scratch", "status"] == "done"
    assert runs.loc["pretrain", "status"] == "failed" and "divisible" in runs.loc["pretrain", "error"]
    assert runs.loc["finetune", "status"] == "failed"
    failed = results / "runs" / runs.loc["pretrain", "id"]
    # a failed attempt with nothing to resume leaves its log and its error only (no empty logs or W&B runs)
    assert sorted(p.name for p in failed.iterdir()) == ["attempts.json", "failed.json", "fit.log", "run.yaml"]
    md = (results / "leaderboard.md").read_text()
    assert "Incomplete: 2 of 3 runs did not finish" in md
    board = pd.read_csv(results / "leaderboard.csv").set_index("strategy")
    assert bool(board.loc["scratch", "complete"]) and not bool(board.loc["finetune", "complete"])


def test_killed_sweep_resumes_without_duplicates(synthetic_root, tmp_path):
    budget = {
        "pretrain": {"trainer": {"max_epochs": 1}, "data": {"iterations_per_epoch": 2}},
        "finetune": {
            "trainer": {"max_epochs": 6, "check_val_every_n_epoch": 1},
            "data": {"iterations_per_epoch": 4},
        },
    }
    path = write_spec(tmp_path, synthetic_root, name="killed", budget=budget, strategies=["scratch"])
    results = tmp_path / "results" / "killed"
    env = {**os.environ, "WANDB_MODE": "disabled"}
    cmd = [sys.executable, "-m", "transferbench.cli.main", "sweep", "--config", str(path)]
    proc = subprocess.Popen(
        cmd, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 120
    killed_in = None
    while time.time() < deadline and proc.poll() is None:
        for ckpt in results.glob("runs/*/checkpoints/last.ckpt"):
            if not (ckpt.parent.parent / "result.json").exists():
                killed_in = ckpt.parent.parent
                os.killpg(proc.pid, signal.SIGKILL)
                break
        if killed_in:
            break
        time.sleep(0.2)
    proc.wait()
    assert killed_in is not None, "the sweep finished before it could be interrupted"
    assert not (killed_in / "result.json").exists()
    assert subprocess.run(cmd, env=env, capture_output=True).returncode == 0
    result = json.loads((killed_in / "result.json").read_text())
    assert result["resumed"] is True and result["epochs"] == 6
    per_case = pd.read_csv(results / "per_case.csv")
    assert len(per_case) == 16 and not per_case.duplicated(["case", "class"]).any()
    epochs = [e for e, _ in result["val_curve"]]
    assert epochs == list(range(6))  # the learning curve spans both attempts, no epoch twice
    run = pd.read_csv(results / "runs.csv").set_index("id").loc[killed_in.name]
    assert bool(run.resumed) and run.attempts == 2 and run.wall_total_s > run.wall_s  # both attempts' time
    # the same sweep uninterrupted, two workers: the same numbers (draws seeded per epoch, one thread per run)
    again = write_spec(tmp_path, synthetic_root, name="whole", budget=budget, strategies=["scratch"])
    whole = tmp_path / "results" / "whole"
    done = subprocess.run([*cmd[:-1], str(again), "--jobs", "2"], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    pd.testing.assert_frame_equal(pd.read_csv(whole / "per_case.csv"), per_case)


def test_submitit_local_executor(synthetic_root, tmp_path):
    path = write_spec(
        tmp_path,
        synthetic_root,
        name="slurmish",
        launcher={"name": "submitit", "cluster": "local", "submitit": {"timeout_min": 10}},
    )
    assert main(["sweep", "--config", str(path)]) == 0
    results = tmp_path / "results" / "slurmish"
    per_case = pd.read_csv(results / "per_case.csv")
    assert len(per_case) == 32 and set(per_case.strategy) == {"scratch", "finetune"}
    # one submitit job per run: the pretraining level first, then the two target runs
    assert len(list((results / "submitit").glob("*_log.out"))) == 3
    log = (results / "sweep.log").read_text()  # what the sweep said, timestamped, kept in its results folder
    assert "sweep slurmish: 3 runs" in log and "3/3 runs finished" in log


def test_extra_test_set_gets_its_own_leaderboard(synthetic_root, tmp_path):
    """MosMed as the extra COVID-19 test set: tested by every target run, reported apart from the target."""
    import shutil

    root = tmp_path / "data"
    shutil.copytree(synthetic_root, root, ignore=shutil.ignore_patterns(".transferbench_cache"))
    covid = root / "COVID-19-CT-Seg"
    for n, case in ((255, "coronacases_001"), (256, "radiopaedia_10_85902_1")):
        (root / "MosMedData/studies/CT-1").mkdir(parents=True, exist_ok=True)
        (root / "MosMedData/masks").mkdir(parents=True, exist_ok=True)
        shutil.copy(
            covid / "COVID-19-CT-Seg_20cases" / f"{case}.nii.gz",
            root / f"MosMedData/studies/CT-1/study_0{n}.nii.gz",
        )
        shutil.copy(
            covid / "Infection_Mask" / f"{case}.nii.gz", root / f"MosMedData/masks/study_0{n}_mask.nii.gz"
        )
    path = write_spec(
        tmp_path, root, name="extra", strategies=["scratch"], target={"folds": [0], "extra_test": ["mosmed"]}
    )
    assert main(["sweep", "--config", str(path)]) == 0
    results = tmp_path / "results" / "extra"
    per_case = pd.read_csv(results / "per_case.csv")
    assert per_case.groupby("test_set").case.nunique().to_dict() == {"covid19_ct_seg": 16, "mosmed": 2}
    assert pd.read_csv(results / "leaderboard.csv").n_cases.tolist() == [16]
    assert pd.read_csv(results / "leaderboard_mosmed.csv").n_cases.tolist() == [2]
    assert "## Extra test set: mosmed" in (results / "leaderboard.md").read_text()
    plan = make_plan(load_spec(path))
    absent = write_spec(
        tmp_path, synthetic_root, name="absent", target={"folds": [0], "extra_test": ["mosmed"]}
    )
    spec = load_spec(absent)
    assert "extra_test" not in spec.target and "no mosmed cases" in spec.notes[0]
    assert all(
        r.id not in {q.id for q in make_plan(spec).runs} for r in plan.runs
    )  # the test set is part of the id


def test_ncovsegnet_two_stage_chain_plan_and_skipped_imagenet(synthetic_root, tmp_path):
    """ImageNet -> LIDC-IDRI -> COVID-19: the ImageNet stage uses the sweep's weights file, or is marked
    skipped without one; a network without a ResNet-50 backbone cannot have that stage."""
    import torch

    models = {"ncovsegnet": {"base_config": "synthetic_ncovsegnet"}, "unet3d": {}}
    strategies = [
        "scratch",
        {
            "label": "two_stage",
            "name": "finetune",
            "chain": ["imagenet"],
            "sources": ["lidc"],
            "models": ["ncovsegnet"],
        },
        {"label": "imagenet_only", "name": "imagenet", "models": ["ncovsegnet"]},
    ]
    path = write_spec(
        tmp_path, synthetic_root, models=models, sources={"lidc": "lidc_idri"}, strategies=strategies
    )
    spec = load_spec(path)
    assert any("ImageNet stages are skipped" in n for n in spec.notes)
    runs = {(r.model, r.kind, r.strategy): r for r in make_plan(spec).runs}
    assert len(runs) == 5  # 2 scratch + LIDC pretraining + two_stage + imagenet_only
    pre = runs[("ncovsegnet", "pretrain", "pretrain")]
    assert pre.source == "imagenet>lidc" and pre.config.strategy["name"] == "imagenet"
    assert pre.config.strategy["skip_if_missing"] is True
    two = runs[("ncovsegnet", "finetune", "two_stage")]
    assert two.deps == [pre.id] and two.notes == pre.notes == ["ImageNet stage skipped (no weights file)"]
    assert runs[("unet3d", "finetune", "scratch")].notes == []
    weights = tmp_path / "resnet50.pth"
    torch.save({"conv1.weight": torch.zeros(1)}, weights)
    with_file = make_plan(
        load_spec(
            write_spec(
                tmp_path,
                synthetic_root,
                name="w",
                models=models,
                sources={"lidc": "lidc_idri"},
                strategies=strategies,
                imagenet_weights=str(weights),
            )
        )
    )
    pre_w = next(r for r in with_file.runs if r.kind == "pretrain")
    assert pre_w.config.strategy == {
        "name": "imagenet",
        "weights": str(weights),
        "skip_if_missing": False,
    }
    assert not pre_w.notes and pre_w.id != pre.id
    bad = write_spec(tmp_path, synthetic_root, name="bad", imagenet_weights=str(tmp_path / "nope.pth"))
    with pytest.raises(
        SpecError, match="`imagenet_weights`: .*nope.pth not found; expected a torchvision-format"
    ):
        load_spec(bad)
    unet = write_spec(
        tmp_path,
        synthetic_root,
        name="u",
        sources={"lidc": "lidc_idri"},
        strategies=[{"name": "finetune", "chain": ["imagenet"]}],
    )
    with pytest.raises(SpecError, match="model 'unet3d' has no ResNet-50 backbone"):
        make_plan(load_spec(unet))


# --- compute controls (scratch, scratch_matched, scratch_converged) and common random numbers

ALL = ["scratch", "scratch_matched", "scratch_converged"]


def plan_of(tmp_path, root, **changes):
    return make_plan(load_spec(write_spec(tmp_path, root, **changes)))


def test_matched_scratch_trains_as_many_steps_as_its_transfer_runs(synthetic_root, tmp_path):
    plan = plan_of(tmp_path, synthetic_root, baselines=ALL, seeds=[0, 1],
                   strategies=["finetune", "joint", "hybrid"])  # fmt: skip
    by = {(r.strategy, r.seed): r for r in plan.runs if r.kind == "finetune"}
    for seed in (0, 1):
        ft, matched = by[("finetune", seed)], by[("scratch_matched", seed)]
        pre = next(r for r in plan.runs if r.id == ft.deps[0])
        assert ft.total_steps == pre.steps + ft.steps == matched.total_steps == matched.steps == 12
        assert matched.config.resolved["trainer"]["max_epochs"] == 4 and not matched.deps
        assert by[("scratch", seed)].total_steps == by[("joint", seed)].total_steps == 6
        assert by[("scratch_converged", seed)].steps == 24  # 2 x the largest matched budget
        assert (
            matched.config.strategy
            == by[("scratch", seed)].config.strategy
            == {"name": "scratch", "sources": []}
        )


def test_distinct_totals_get_one_matched_scratch_each(synthetic_root, tmp_path):
    plan = plan_of(tmp_path, synthetic_root, baselines=["scratch_matched"], converged_factor=3,
                   strategies=["finetune", {"label": "two_stage", "name": "finetune", "chain": ["tumor"],
                                            "sources": ["gtv"]}],
                   sources={"tumor": "msd_lung_tumor", "gtv": "structseg_gtv"})  # fmt: skip
    labels = sorted(r.strategy for r in plan.runs if r.strategy.startswith("scratch"))
    assert labels == ["scratch_matched_12", "scratch_matched_18"]
    steps = {r.strategy: r.steps for r in plan.runs if r.strategy.startswith("scratch")}
    assert steps == {"scratch_matched_12": 12, "scratch_matched_18": 18}
    assert {r.total_steps for r in plan.runs if r.strategy == "two_stage"} == {18}
    # the matched run of the first total keeps its id when the second total's row arrives: not retrained
    before = plan_of(tmp_path, synthetic_root, baselines=["scratch_matched"], strategies=["finetune"],
                     sources={"tumor": "msd_lung_tumor", "gtv": "structseg_gtv"})  # fmt: skip
    (first,) = [r for r in before.runs if r.strategy == "scratch_matched"]
    (again,) = [r for r in plan.runs if r.strategy == "scratch_matched_12"]
    assert again.id == first.id and first.id.startswith("ft-unet3d-scratch_matched-")


def test_baselines_are_declared_and_validated(synthetic_root, tmp_path):
    plan = plan_of(tmp_path, synthetic_root, baselines=[], strategies=["finetune"])
    assert {r.strategy for r in plan.runs} == {"pretrain", "finetune"}
    with pytest.raises(SpecError, match="`baselines`"):
        load_spec(write_spec(tmp_path, synthetic_root, baselines=["scratch_long"]))
    with pytest.raises(SpecError, match="`converged_factor`"):
        load_spec(write_spec(tmp_path, synthetic_root, converged_factor=0.5))


def test_common_random_numbers_share_a_seed_across_strategies(synthetic_root, tmp_path):
    shared = plan_of(tmp_path, synthetic_root, baselines=ALL)
    seeds = {r.strategy: r.config.seed for r in shared.runs if r.kind == "finetune"}
    assert set(seeds.values()) == {0}
    independent = plan_of(tmp_path, synthetic_root, baselines=ALL, common_random_numbers=False)
    seeds = {r.strategy: r.config.seed for r in independent.runs if r.kind == "finetune"}
    assert len(set(seeds.values())) == 4 and {r.seed for r in independent.runs} == {0}
    same = {r.id for r in shared.runs if r.kind == "pretrain"}
    assert same == {r.id for r in independent.runs if r.kind == "pretrain"}  # pretraining keeps its seed


def test_dry_run_warns_below_the_minimum_seeds_and_prints_the_power(synthetic_root, tmp_path, capsys):
    from transferbench.cli.main import main

    assert main(["sweep", "--config", str(write_spec(tmp_path, synthetic_root)), "--dry-run"]) == 0
    err = capsys.readouterr().err
    assert "warning: 1 seed(s), fewer than min_seeds 5: every verdict will be `too few seeds`" in err
    # no leaderboard yet: the power of the planned seeds for assumed between-seed sds
    assert "1 seeds, target difference 0.03 DSC: sd 0.02: power" in err and "6 seeds for 80%" in err
    spec = write_spec(tmp_path, synthetic_root, seeds=[0, 1, 2, 3, 4], target_difference=0.05)
    results = tmp_path / "results" / "tiny"
    results.mkdir(parents=True)
    # a leaderboard with measured variance components: the power from them
    pd.DataFrame({"n_cases": [16], "var_seed_scratch_matched": [0.02**2], "var_case_scratch_matched": [0.0],
                  "var_resid_scratch_matched": [0.0]}).to_csv(results / "leaderboard.csv")  # fmt: skip
    assert main(["sweep", "--config", str(spec), "--dry-run"]) == 0
    err = capsys.readouterr().err
    assert "warning:" not in err and "detecting a DSC difference of 0.05" in err
    assert "needs 4 seeds; with 5 seed(s) the power is" in err and f"measured in {results}" in err


def test_label_budget_axis_plans_nested_budgets_with_their_own_controls(synthetic_root, tmp_path):
    full = plan_of(tmp_path, synthetic_root, baselines=ALL)
    plan = plan_of(tmp_path, synthetic_root, baselines=ALL, target={"folds": [0], "train_cases": [1, 2, 4]})
    runs = [r for r in plan.runs if r.kind == "finetune"]
    by = {(r.strategy, r.n_train): r for r in runs}
    assert sorted(by) == sorted((s, n) for s in ("scratch", "finetune", "scratch_matched", "scratch_converged")
                                for n in (1, 2, 4))  # fmt: skip
    assert (
        by[("finetune", 1)].config.resolved["data"]["train_cases"] == 1 and "-n1-" in by[("finetune", 1)].id
    )
    assert by[("finetune", 2)].deps == by[("finetune", 4)].deps  # one pretraining for every budget
    assert by[("scratch_matched", 1)].total_steps == by[("finetune", 1)].total_steps
    # the fold's full budget keeps the run ids it had without the axis
    assert {r.id for r in runs if r.n_train == 4} == {r.id for r in full.runs if r.kind == "finetune"}
    with pytest.raises(SpecError, match="`target.train_cases`"):
        load_spec(write_spec(tmp_path, synthetic_root, target={"folds": [0], "train_cases": [1, 5]}))


def test_a_label_budget_gets_its_own_target_steps_and_strategy_rows(synthetic_root, tmp_path):
    budget = yaml.safe_load(write_spec(tmp_path, synthetic_root).read_text())["budget"]
    budget["finetune_n4"] = {"trainer": {"max_epochs": 4}}  # more volumes, more steps
    strategies = [
        {"name": "finetune", "train_cases": [1]},
        {"name": "finetune", "train_cases": [4], "sources": ["tumor"]},  # the same row, another budget
    ]
    plan = plan_of(tmp_path, synthetic_root, baselines=ALL, budget=budget, strategies=strategies,
                   target={"folds": [0], "train_cases": [1, 4]})  # fmt: skip
    by = {(r.strategy, r.n_train): r for r in plan.runs if r.kind == "finetune"}
    assert by[("finetune", 1)].steps == 6 and by[("finetune", 4)].steps == 12
    pre = by[("finetune", 4)].total_steps - by[("finetune", 4)].steps
    assert by[("scratch_matched", 4)].steps == 12 + pre and by[("scratch_matched", 1)].steps == 6 + pre
    assert by[("scratch_converged", 4)].steps == 2 * (12 + pre)
    with pytest.raises(SpecError, match="label\\(s\\) used twice"):
        load_spec(write_spec(tmp_path, synthetic_root, strategies=[*strategies, "finetune"]))
    with pytest.raises(SpecError, match="budget.finetune_x"):
        load_spec(write_spec(tmp_path, synthetic_root, budget={**budget, "finetune_x": {}}))


def test_self_supervised_rows_get_their_pretraining_and_matched_scratch(synthetic_root, tmp_path):
    sources = {"tumor": "msd_lung_tumor", "pool": "synthetic_unlabelled", "mosmed_pool": "mosmed_unlabelled"}
    strategies = [
        "finetune",
        {"label": "finetune_mae", "name": "finetune", "pretext": "mae", "sources": ["pool", "tumor", "mosmed_pool"]},
    ]  # fmt: skip
    spec = load_spec(write_spec(tmp_path, synthetic_root, sources=sources, strategies=strategies,
                                optional_sources=["mosmed_pool"], baselines=["scratch_matched"]))  # fmt: skip
    assert "mosmed_pool" not in spec.sources and any("optional source mosmed_pool" in n for n in spec.notes)
    plan = make_plan(spec)
    by = {(r.strategy, r.source): r for r in plan.runs}
    pre = by[("pretrain", "pool_mae")]
    assert pre.config.resolved["model"]["pretext"] == "mae" and pre.config.resolved["data"]["images_only"]
    assert pre.config.resolved["model"]["net"]["init_args"]["out_channels"] == 1
    assert by[("pretrain", "tumor_mae")].id != by[("pretrain", "tumor")].id  # labels unread: another model
    ssl = by[("finetune_mae", "pool")]
    assert ssl.deps == [pre.id] and ssl.total_steps == ssl.steps + pre.steps
    assert by[("scratch_matched", "-")].steps == ssl.total_steps  # compute-fair: one matched scratch
    from transferbench.errors import StrategyError

    bare = [{"name": "finetune", "sources": ["pool"]}]  # named explicitly without a pretext: refused
    with pytest.raises(StrategyError, match="have no labels"):
        plan_of(tmp_path, synthetic_root, sources=sources, strategies=bare, optional_sources=["mosmed_pool"])


def test_self_supervised_then_supervised_pretraining_is_a_chain(synthetic_root, tmp_path):
    """`chain: [pool:mae]`: MAE on the unlabelled pool, then supervised on the tumour source from it, then the
    target; every stage counts in the row's steps, and its matched scratch trains as long."""
    sources = {"tumor": "msd_lung_tumor", "pool": "synthetic_unlabelled"}
    strategies = ["finetune", {"label": "finetune_mae_then_sup", "name": "finetune", "chain": ["pool:mae"],
                               "sources": ["tumor"]}]  # fmt: skip
    plan = plan_of(tmp_path, synthetic_root, sources=sources, strategies=strategies,
                   baselines=["scratch_matched"])  # fmt: skip
    by = {(r.strategy, r.source): r for r in plan.runs}
    ssl, sup = by[("pretrain", "pool_mae")], by[("pretrain", "pool_mae>tumor")]
    assert ssl.config.resolved["model"]["pretext"] == "mae" and not ssl.deps
    stage = sup.config.resolved["strategy"]
    assert sup.deps == [ssl.id] and stage["pretext"] == "mae" and stage["sources"] == ["synthetic_unlabelled"]
    assert stage["pretrained"].endswith(f"{ssl.id}/checkpoints/last.ckpt")
    assert "pretext" not in sup.config.resolved["model"]  # the stage itself is supervised, on the tumours
    row = by[("finetune_mae_then_sup", "tumor")]
    assert row.deps == [sup.id] and row.total_steps == row.steps + sup.steps + ssl.steps
    assert by[("pretrain", "tumor")].id != sup.id  # plain supervised pretraining stays its own run
    assert row.total_steps in {r.steps for r in plan.runs if r.strategy.startswith("scratch_matched")}


def test_leaderboard_and_figure_per_label_budget(tmp_path):
    import numpy as np

    from transferbench.evaluation.figures import label_budget
    from transferbench.evaluation.leaderboard import build_leaderboard
    from transferbench.sweep.aggregate import _per_budget

    rows = []
    for n, gain in ((1, 0.2), (4, 0.0)):  # fine-tuning helps with one labelled case, not with four
        for strategy, add in (("scratch", 0.0), ("finetune", gain)):
            for i, b in enumerate(np.linspace(0.3, 0.6, 8)):
                rows.append({"model": "m", "strategy": strategy, "source": "-" if strategy == "scratch" else "a",
                             "n_train": n, "fold": 0, "seed": 0, "run": f"{strategy}{n}", "case": f"c{i}",
                             "class": 1, "dsc": b * n / 4 + add, "nsd_3mm": b})  # fmt: skip
    per_case = pd.DataFrame(rows)
    board = _per_budget(per_case, pd.DataFrame(), lambda p, r: build_leaderboard(p, None, n_boot=100))
    assert list(board.columns[:4]) == ["model", "strategy", "source", "n_train"]
    ft = board[board.strategy == "finetune"].set_index("n_train")
    assert ft.loc[1, "dsc_diff_scratch"] == pytest.approx(0.2) and ft.loc[
        4, "dsc_diff_scratch"
    ] == pytest.approx(0.0)
    assert list(board.n_train) == [4, 4, 1, 1]  # the full budget first
    label_budget(per_case, tmp_path)
    assert (tmp_path / "m_label_budget.png").stat().st_size > 1000


def test_a_second_invocation_of_a_running_sweep_stops_naming_the_holder(synthetic_root, tmp_path, capsys):
    from filelock import FileLock

    path = write_spec(tmp_path, synthetic_root)
    results = tmp_path / "results" / "tiny"
    results.mkdir(parents=True)
    (results / ".sweep.holder").write_text("pid 4242 on somehost, started 2026-12-02 03:00:00")
    with FileLock(str(results / ".sweep.lock")):  # what a running invocation holds
        assert main(["sweep", "--config", str(path)]) == 1
    err = capsys.readouterr().err
    assert "another `transferbench sweep` is running on this folder (pid 4242 on somehost" in err
    assert not (results / "runs").exists() and not (results / "plan.json").exists()  # nothing trained


def test_a_model_budget_overrides_the_sweep_budget_for_that_model_only(synthetic_root, tmp_path):
    models = {
        "a": {"overrides": {"model": {"net": {"init_args": {"preset": "tiny"}}}}},
        "b": {
            "overrides": {"model": {"net": {"init_args": {"preset": "tiny"}}}},
            "budget": {"finetune": {"trainer": {"max_epochs": 5}}},
        },
    }
    plan = make_plan(load_spec(write_spec(tmp_path, synthetic_root, models=models, strategies=["scratch"])))
    epochs = {r.model: r.config.resolved["trainer"]["max_epochs"] for r in plan.runs}
    assert epochs == {"a": 2, "b": 5}
    with pytest.raises(SpecError, match="models.b.budget.warmup"):
        load_spec(write_spec(tmp_path, synthetic_root, models={"b": {"budget": {"warmup": {}}}}))


def test_covid_benchmark_target_runs_train_nnunets_1000_epochs():
    from transferbench.sweeps import find_sweep

    raw = yaml.safe_load(Path(find_sweep("covid_benchmark")).read_text())
    assert raw["budget"]["finetune"]["trainer"]["max_epochs"] == 1000  # Task 1/2/3 rows as published
    assert raw["budget"]["pretrain"]["trainer"]["max_epochs"] == 1000


@pytest.mark.parametrize("jobs", [1, 2])
def test_every_run_gets_the_same_thread_count_whatever_jobs(synthetic_root, tmp_path, monkeypatch, jobs):
    """Thread counts change a CPU convolution's summation order: one value per sweep, not cores / jobs."""
    import concurrent.futures

    from transferbench.sweep import launch

    seen = []

    def fake_execute(run, threads=None, quiet=True):
        seen.append(threads)
        return {**run.record("done"), "wall_s": 0.0}

    class InlinePool:  # the pool's worker processes would not see the stand-in
        def __init__(self, *args, **kwargs) -> None:
            pass

        def submit(self, fn, *args):
            fut = concurrent.futures.Future()
            fut.set_result(fn(*args))
            return fut

        def shutdown(self, *args, **kwargs) -> None:
            pass

    monkeypatch.setattr(launch, "execute_run", fake_execute)
    monkeypatch.setattr(launch, "ProcessPoolExecutor", InlinePool)
    plan = make_plan(load_spec(write_spec(tmp_path, synthetic_root, launcher={"threads": 1})))
    launch.run_local(plan, jobs=jobs, threads=1)
    assert seen and set(seen) == {1}


def test_a_wsd_run_records_where_its_decay_begins_and_the_plateau_rule_reads_the_curve_before(
    synthetic_root, tmp_path
):
    import shutil

    from transferbench.evaluation.leaderboard import plateau_gain, plateau_p

    budget = {"finetune": {"trainer": {"max_epochs": 10, "check_val_every_n_epoch": 1},
                           "data": {"iterations_per_epoch": 2}}}  # fmt: skip
    overrides = {**FAST, "model": {"lr_schedule": "wsd", "decay_fraction": 0.2}}
    path = write_spec(tmp_path, synthetic_root, strategies=["scratch"], budget=budget, overrides=overrides)
    assert main(["sweep", "--config", str(path)]) == 0
    results = tmp_path / "results" / "tiny"
    run = pd.read_csv(results / "runs.csv").iloc[0]
    curve = pd.read_csv(results / "val_curves.csv")
    assert run.plateau_epochs == 8 and len(curve) == 10  # 20 steps, decay from step 16: epochs 0-7 precede it
    points = list(zip(curve.epoch, curve.val_dice))
    assert run.plateau_gain == pytest.approx(plateau_gain(points[:8]))
    assert run.plateau_p == pytest.approx(plateau_p(points[:8]), nan_ok=True)
    clone = tmp_path / "committed"  # re-analysed from the tables alone: the same statistic
    shutil.copytree(results, clone, ignore=shutil.ignore_patterns("runs", "figures"))
    assert main(["leaderboard", str(clone), "--no-figures"]) == 0
    assert pd.read_csv(clone / "runs.csv").iloc[0].plateau_gain == pytest.approx(run.plateau_gain)
