"""Every packaged sweep plans (``--dry-run``): spec valid, runs planned, data headers checked. The time
estimate's calibration is stood in for (it is measured in ``test_estimate``; timing every packaged network
here took half a minute a sweep)."""

from __future__ import annotations

import pytest

from transferbench.cli.main import main
from transferbench.sweeps import packaged_sweeps


@pytest.mark.parametrize("name", sorted(packaged_sweeps()))
def test_dry_run(name, synthetic_root, tmp_path, monkeypatch, capsys):
    from transferbench.sweep import estimate

    costs = {"step_s": 0.1, "infer_s": 1.0, "val_infer_s": 0.5}
    monkeypatch.setattr(estimate, "side_by_side", lambda *a: dict(costs))
    monkeypatch.chdir(tmp_path)  # relative data and results folders resolve here: nothing is generated
    monkeypatch.setenv("TRANSFERBENCH_DATA", str(synthetic_root))
    monkeypatch.delenv("TRANSFERBENCH_IMAGENET", raising=False)
    assert main(["sweep", "--config", name, "--dry-run"]) == 0
    err = capsys.readouterr().err
    assert f"sweep {name}: " in err and " runs = " in err
    assert "ft-unet3d-scratch" in err and "estimated time" in err
    assert not (tmp_path / "results").exists()


def test_more_seeds_keep_the_done_runs(synthetic_root, tmp_path, monkeypatch):
    """``sweep --seeds 0-6`` on the default sweep plans seeds 5 and 6 besides the five it has, and every run
    of the five keeps its id: the runs already done are resumed from, not retrained."""
    from transferbench.sweep.plan import make_plan
    from transferbench.sweep.spec import load_spec

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TRANSFERBENCH_DATA", str(synthetic_root))
    five = {r.id for r in make_plan(load_spec("synthetic")).runs}
    seven = make_plan(load_spec("synthetic", seeds=list(range(7)))).runs
    assert five < {r.id for r in seven}
    assert {r.seed for r in seven if r.id not in five} == {5, 6}


@pytest.mark.parametrize(
    ("text", "seeds"),
    [("0-7", list(range(8))), ("0,1,2,5", [0, 1, 2, 5]), ("0-2,9", [0, 1, 2, 9]), ("3", [3])],
)
def test_seed_list(text, seeds):
    from transferbench.cli.main import seed_list

    assert seed_list(text) == seeds


@pytest.mark.parametrize("text", ["a", "0-2,1", "", "1.5"])
def test_seed_list_refuses(text):
    import argparse

    from transferbench.cli.main import seed_list

    with pytest.raises(argparse.ArgumentTypeError):
        seed_list(text)


def test_a_seed_listed_twice_is_refused(tmp_path):
    from transferbench.errors import SpecError
    from transferbench.sweep.spec import load_spec
    from transferbench.sweeps import packaged_sweeps

    text = packaged_sweeps()["synthetic"].read_text().replace("seeds: [0, 1, 2, 3, 4]", "seeds: [0, 1, 1]")
    (tmp_path / "twice.yaml").write_text(text)
    with pytest.raises(SpecError, match="`seeds`: lists a seed twice"):
        load_spec(tmp_path / "twice.yaml")
