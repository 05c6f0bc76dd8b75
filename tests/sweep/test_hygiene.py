"""Small things that used to give a wrong or lost result: labels that escape the results folder, corrupt
checkpoints, multi-line errors, file modes, the torch floor, failed runs' leftovers, attempt accounting."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pandas as pd
import pytest

try:  # Python 3.11+; on 3.10 pytest's own dependency tomli is the same parser
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib
from test_sweep import write_spec

from transferbench.cli.main import main
from transferbench.errors import SpecError
from transferbench.sweep.spec import load_spec


@pytest.mark.parametrize("where", ["models", "sources", "strategy"])
def test_labels_that_would_name_paths_outside_the_results_are_refused(synthetic_root, tmp_path, where):
    changes = {
        "models": {"models": {"../u": {"overrides": {"model": {"net": {"init_args": {"preset": "tiny"}}}}}}},
        "sources": {"sources": {"a/b": "msd_lung_tumor"}, "strategies": ["scratch"]},
        "strategy": {"strategies": [{"name": "scratch", "label": "../x"}]},
    }[where]
    with pytest.raises(SpecError, match="may hold only letters, digits"):
        load_spec(write_spec(tmp_path, synthetic_root, **changes))


def test_a_corrupt_checkpoint_names_the_file_and_the_remedy(synthetic_root, tmp_path):
    from transferbench.sweep.execute import execute_run
    from transferbench.sweep.plan import make_plan

    plan = make_plan(load_spec(write_spec(tmp_path, synthetic_root, strategies=["scratch"])))
    run = plan.runs[0]
    ckpt = Path(run.results_dir) / "runs" / run.id / "checkpoints" / "last.ckpt"
    ckpt.parent.mkdir(parents=True)
    ckpt.write_bytes(b"PK\x03\x04 not really a checkpoint")
    record = execute_run(run)
    assert record["status"] == "failed"
    assert str(ckpt) in record["error"] and "delete it" in record["error"]


def test_results_get_the_users_umask(tmp_path):
    from transferbench.files import atomic_write_text

    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "x.csv", "a\n")
    finally:
        os.umask(old)
    assert (tmp_path / "x.csv").stat().st_mode & 0o777 == 0o644


def test_multi_line_errors_stay_one_table_row_and_whole_on_the_console(tmp_path):
    from transferbench.evaluation.leaderboard import to_markdown
    from transferbench.sweep.launch import Progress

    table = to_markdown(pd.DataFrame({"id": ["r"], "error": ["DataError: /a/b.nii.gz: bad\nsecond | line"]}))
    assert len(table.strip().splitlines()) == 3 and "second \\| line" in table

    class P:
        runs = [None]

    class R:
        id, results_dir = "r1", str(tmp_path)

    stream = io.StringIO()
    Progress(P(), stream).finished(
        R(), {"status": "failed", "error": "x" * 300 + " /data/case_7.nii.gz: bad\nmore"}
    )
    line = stream.getvalue()
    assert "/data/case_7.nii.gz: bad more" in line and "failed.json" in line


def test_a_text_file_as_pretrained_checkpoint_is_one_clear_error(tmp_path):
    from transferbench.errors import TransferError
    from transferbench.strategies.transfer import read_state_dict

    path = tmp_path / "weights.ckpt"
    path.write_text("these are not weights\n")
    with pytest.raises(TransferError, match="weights.ckpt: not a readable PyTorch checkpoint"):
        read_state_dict(path)


def test_torch_floor_has_weights_only_loading_by_default():
    deps = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())["project"][
        "dependencies"
    ]
    torch = next(d for d in deps if d.startswith("torch>="))
    major, minor = (int(x) for x in torch.removeprefix("torch>=").split(".")[:2])
    assert (major, minor) >= (2, 6)  # torch.load(weights_only=True) is the default from 2.6


def test_unknown_dataset_is_one_line(capsys, tmp_path):
    code = main(["fit", "--config", "synthetic_unet3d", "--data.dataset", "msd_lung", "--trainer.logger", "false",
                 "--trainer.default_root_dir", str(tmp_path / "r")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1 and "msd_lung" in err and "Traceback" not in err


def test_the_private_lightning_api_we_use_is_pinned_and_present():
    """training/cli.py relies on LightningCLI's `_InstantiatorFn` and `_add_instantiators`: the dependency is
    pinned to the Lightning minor version that has them, and the installed version is inside the pin."""
    from importlib.metadata import version

    import pytorch_lightning.cli as lcli
    from packaging.specifiers import SpecifierSet

    deps = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())["project"][
        "dependencies"
    ]
    (pin,) = [d for d in deps if d.startswith("pytorch-lightning")]
    spec = SpecifierSet(pin.removeprefix("pytorch-lightning"))
    assert any(s.operator == "<" for s in spec), f"{pin}: no upper bound on the minor version"
    assert version("pytorch-lightning") in spec
    assert hasattr(lcli, "_InstantiatorFn") and hasattr(lcli.LightningCLI, "_add_instantiators")
