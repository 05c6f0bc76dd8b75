"""Every packaged sweep plans (``--dry-run``): spec valid, runs planned, data headers checked."""

from __future__ import annotations

import pytest

from transferbench.cli.main import main
from transferbench.sweeps import packaged_sweeps


@pytest.mark.parametrize("name", sorted(packaged_sweeps()))
def test_dry_run(name, synthetic_root, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # relative data and results folders resolve here: nothing is generated
    monkeypatch.setenv("TRANSFERBENCH_DATA", str(synthetic_root))
    monkeypatch.delenv("TRANSFERBENCH_IMAGENET", raising=False)
    assert main(["sweep", "--config", name, "--dry-run"]) == 0
    err = capsys.readouterr().err
    assert f"sweep {name}: " in err and " runs = " in err
    assert "ft-unet3d-scratch" in err
    assert not (tmp_path / "results").exists()
