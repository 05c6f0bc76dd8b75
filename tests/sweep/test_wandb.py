"""W&B in sweeps, offline: one W&B run per training, its stable id, its full config and per-case Table, its
project and entity, and the artifact lineage pretrain -> fine-tune."""

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


def _run_info(run_dir: Path) -> dict:
    """What W&B recorded offline: config, job_type, run id, project, entity, artifacts (name -> type),
    metric summaries defined."""
    from wandb.proto import wandb_internal_pb2 as pb

    info = {"config": {}, "artifacts": {}, "metrics": {}}
    for data in _records(next(run_dir.glob("*.wandb"))):
        record = pb.Record()
        record.ParseFromString(data)
        kind = record.WhichOneof("record_type")
        items = (
            record.run.config.update if kind == "run" else record.config.update if kind == "config" else []
        )
        if kind == "run":
            run = record.run
            info.update(job_type=run.job_type, run_id=run.run_id, project=run.project, entity=run.entity)
        elif kind == "artifact":
            info["artifacts"][record.artifact.name] = record.artifact.type
        elif kind == "metric" and record.metric.name:
            info["metrics"][record.metric.name] = record.metric.summary
        info["config"].update({i.key: json.loads(i.value_json) for i in items})
    return info


def test_one_wandb_run_per_training_with_its_id_config_table_and_lineage(
    synthetic_root, tmp_path, wandb_offline
):
    spec = write_spec(
        tmp_path, synthetic_root, strategies=["finetune"], wandb={"project": "tb-test", "entity": "lab"}
    )
    plan = make_plan(load_spec(spec))
    pre, ft = (next(r for r in plan.runs if r.kind == k) for k in ("pretrain", "finetune"))
    for run in (pre, ft):  # one process, as a sweep worker that goes on to its next run
        assert execute_run(run)["status"] == "done"
    scope = str((tmp_path / "results" / "tiny").resolve())
    info = {}
    for run, job in ((pre, "pretrain"), (ft, "finetune")):
        folder = tmp_path / "results" / "tiny" / "runs" / run.id
        (offline,) = _offline_runs(folder)  # exactly one W&B run, in this run's own folder
        info[job] = got = _run_info(offline)
        assert got["run_id"] == wandb_id(run.id, scope) and got["job_type"] == job
        assert (got["project"], got["entity"]) == ("tb-test", "lab")  # from the sweep file's `wandb:`
        config = got["config"]  # the full resolved config, not only the module's hyper-parameters
        assert {"trainer", "model", "data", "seed_everything", "strategy"} <= set(config)
        assert config["model"]["net"]["init_args"]["preset"] == "tiny"
        tables = list(offline.glob("files/media/table/test/per_case_*.table.json"))
        assert bool(tables) == (job == "finetune")  # the per-case scores as a Table after testing
        if tables:
            assert len(json.loads(tables[0].read_text())["data"]) == 16
        if job == "pretrain":
            assert config["trainer"]["max_epochs"] == 2 and config["data"]["dataset"] == "msd_lung_tumor"
        # its checkpoint as a model artifact; best val/dice and lowest loss as summaries
        assert got["artifacts"][f"checkpoint-{got['run_id']}"] == "model"
        assert "val/dice" in got["metrics"] and "train/loss" in got["metrics"]
        (curves,) = folder.glob("logs/version_*/metrics.csv")  # the learning rate of each parameter group
        assert any(c.startswith("lr-") for c in curves.read_text().splitlines()[0].split(","))
    # the lineage: the fine-tune declares the pretraining's checkpoint artifact as its input
    assert info["finetune"]["config"]["uses_artifacts"] == [f"checkpoint-{info['pretrain']['run_id']}:latest"]
    assert info["finetune"]["artifacts"][f"per_case-{info['finetune']['run_id']}"] == "results"
    assert "uses_artifacts" not in info["pretrain"]["config"]


def test_an_online_fine_tune_calls_use_artifact(monkeypatch):
    """Online (not reachable here), the declared inputs go through ``use_artifact``: W&B's lineage graph."""
    from transferbench.training import loggers

    used, config = [], {}

    class Run:
        settings = type("S", (), {"mode": "online", "_offline": False})()

        def define_metric(self, *args, **kwargs):
            pass

        def use_artifact(self, name):
            used.append(name)

    Run.config = type("C", (), {"update": lambda self, d, allow_val_change=False: config.update(d)})()
    logger = type("L", (), {"experiment": Run(), "uses": ["pre-a", "pre-b"]})()
    loggers.declare_inputs(logger)
    assert used == ["checkpoint-pre-a:latest", "checkpoint-pre-b:latest"] == config["uses_artifacts"]


def test_wandb_ids_are_valid_stable_and_unique_per_results_folder():
    assert (
        wandb_id("pre-ncovsegnet-pretrain-imagenet>lidc-s0-51bf3a1835")
        == "pre-ncovsegnet-pretrain-imagenet_lidc-s0-51bf3a1835"
    )
    long = "ft-unet3d-" + "x" * 80 + "-s0-0123456789"
    other = "ft-unet3d-" + "x" * 80 + "-s0-9876543210"
    assert len(wandb_id(long)) <= 64 and wandb_id(long) == wandb_id(long) != wandb_id(other)
    a, b = (
        wandb_id("ft-unet3d-scratch-s0-0123456789", "/r/a"),
        wandb_id("ft-unet3d-scratch-s0-0123456789", "/r/b"),
    )
    assert a != b and a == wandb_id("ft-unet3d-scratch-s0-0123456789", "/r/a")  # two folders, two W&B runs


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
