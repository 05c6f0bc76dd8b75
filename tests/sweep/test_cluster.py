"""Slurm through submitit, with a stand-in `sbatch` on PATH: what every level is submitted with."""

from __future__ import annotations

import os
import stat

from test_sweep import write_spec

from transferbench.cli.main import main

SBATCH = """#!/usr/bin/env bash
# stand-in scheduler: keep the submitted script, answer as sbatch does
n=$(ls "{log}" | wc -l)
cp "$1" "{log}/submission_$n.sh"
echo "Submitted batch job $((1000 + n))"
"""


def _stand_in_sbatch(tmp_path, monkeypatch):
    bin_dir, log = tmp_path / "bin", tmp_path / "submitted"
    bin_dir.mkdir()
    log.mkdir()
    sbatch = bin_dir / "sbatch"
    sbatch.write_text(SBATCH.format(log=log))
    srun = bin_dir / "srun"  # submitit looks for it to decide it is on a Slurm cluster
    srun.write_text("#!/usr/bin/env bash\nexit 1\n")
    for tool in (sbatch, srun):
        tool.chmod(tool.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return log


def test_user_slurm_parameters_reach_every_level_and_detach_returns(
    synthetic_root, tmp_path, monkeypatch, capsys
):
    log = _stand_in_sbatch(tmp_path, monkeypatch)
    submitit = {"timeout_min": 5, "slurm_additional_parameters": {"account": "proj42", "qos": "high"}}
    path = write_spec(tmp_path, synthetic_root, name="queued",
                      launcher={"name": "submitit", "cluster": "slurm", "submitit": submitit})  # fmt: skip
    assert main(["sweep", "--config", str(path), "--detach"]) == 0
    scripts = sorted(log.iterdir())
    assert len(scripts) == 2  # the pretraining level, then the target level (scratch + finetune) as arrays
    texts = [s.read_text() for s in scripts]
    for text in texts:  # the user's account and qos on every level, not only the first
        assert "#SBATCH --account=proj42" in text and "#SBATCH --qos=high" in text
    assert "--dependency" not in texts[0] and "#SBATCH --dependency=afterany:1000" in texts[1]
    assert "sweep --status" in capsys.readouterr().err
    results = tmp_path / "results" / "queued"
    assert main(["sweep", "--status", str(results)]) == 1  # queued, nothing done yet: a finding
    assert "3 runs planned: 3 not run" in capsys.readouterr().out
