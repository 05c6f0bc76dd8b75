"""W&B in sweeps, offline: one W&B run per training, its stable id, its full config and per-case Table."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
from test_sweep import write_spec

from transferbench.sweep.execute import execute_run
from transferbench.sweep.plan import make_plan
from transferbench.sweep.spec import load_spec
from transferbench.training.loggers import wandb_id


@pytest.fixture
def wandb_offline(monkeypatch):
    """W&B in offline mode for this test; its process-wide settings are reset around it (they are cached
    from the first use, which is ``disabled`` in the rest of the suite)."""
    import wandb

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    wandb.teardown()
    yield
    wandb.teardown()


def _offline_runs(folder):
    return sorted((folder / "wandb").glob("offline-run-*"))


def _records(path: Path, block: int = 32768):
    """The protobuf records of an offline ``.wandb`` file (a LevelDB-style log after a 7-byte header)."""
    data, pos, part = path.read_bytes(), 7, b""
    while pos + 7 <= len(data):
        left = block - pos % block
        if left < 7:
            pos += left
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        if length == 0 and kind == 0:  # block padding
            pos += left
            continue
        chunk, pos = data[pos + 7 : pos + 7 + length], pos + 7 + length
        if kind == 1:
            yield chunk
        elif kind in (2, 3):
            part = chunk if kind == 2 else part + chunk
        elif kind == 4:
            yield part + chunk


def _run_info(run_dir: Path) -> tuple[dict, str, str]:
    """(config, job_type, run id) as W&B recorded them offline."""
    from wandb.proto import wandb_internal_pb2 as pb

    config, job, run_id = {}, "", ""
    for data in _records(next(run_dir.glob("*.wandb"))):
        record = pb.Record()
        record.ParseFromString(data)
        kind = record.WhichOneof("record_type")
        items = (
            record.run.config.update if kind == "run" else record.config.update if kind == "config" else []
        )
        if kind == "run":
            job, run_id = record.run.job_type, record.run.run_id
        config.update({i.key: json.loads(i.value_json) for i in items})
    return config, job, run_id


def test_one_wandb_run_per_training_with_its_id_config_and_table(synthetic_root, tmp_path, wandb_offline):
    plan = make_plan(load_spec(write_spec(tmp_path, synthetic_root, strategies=["finetune"])))
    pre, ft = (next(r for r in plan.runs if r.kind == k) for k in ("pretrain", "finetune"))
    for run in (pre, ft):  # one process, as a sweep worker that goes on to its next run
        assert execute_run(run)["status"] == "done"
    for run, job in ((pre, "pretrain"), (ft, "finetune")):
        folder = tmp_path / "results" / "tiny" / "runs" / run.id
        (offline,) = _offline_runs(folder)  # exactly one W&B run, in this run's own folder
        config, job_type, run_id = _run_info(offline)
        assert run_id == wandb_id(run.id) and job_type == job
        # the full resolved config, not only the module's hyper-parameters
        assert {"trainer", "model", "data", "seed_everything", "strategy"} <= set(config)
        assert config["model"]["net"]["init_args"]["preset"] == "tiny"
        tables = list(offline.glob("files/media/table/test/per_case_*.table.json"))
        assert bool(tables) == (job == "finetune")  # the per-case scores as a Table after testing
        if tables:
            assert len(json.loads(tables[0].read_text())["data"]) == 16
        if job == "pretrain":
            assert config["trainer"]["max_epochs"] == 2 and config["data"]["dataset"] == "msd_lung_tumor"


def test_wandb_ids_are_valid_and_stable():
    assert (
        wandb_id("pre-ncovsegnet-pretrain-imagenet>lidc-s0-51bf3a1835")
        == "pre-ncovsegnet-pretrain-imagenet_lidc-s0-51bf3a1835"
    )
    long = "ft-unet3d-" + "x" * 80 + "-s0-0123456789"
    assert (
        len(wandb_id(long)) <= 64
        and wandb_id(long).endswith("0123456789")
        and wandb_id(long) == wandb_id(long)
    )


def test_rerunning_a_finished_sweep_logs_no_second_leaderboard_run(tmp_path, wandb_offline):
    from transferbench.sweep.run import log_summary_to_wandb

    results = tmp_path / "results"
    results.mkdir()
    (results / "leaderboard.csv").write_text("model,strategy,dsc_mean\nunet3d,scratch,0.5\n")
    log_summary_to_wandb(results, "s")
    log_summary_to_wandb(results, "s")
    assert len(_offline_runs(results)) == 1
    (results / "leaderboard.csv").write_text("model,strategy,dsc_mean\nunet3d,scratch,0.6\n")
    log_summary_to_wandb(results, "s")
    assert len(_offline_runs(results)) == 2
