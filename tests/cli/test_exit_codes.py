"""One exit-status convention for every command: 0 success, 1 a finding or a runtime error, 2 a usage error."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from transferbench.cli.main import main


def _status(argv: list[str]) -> int:
    """The process's exit status for ``transferbench ARGV`` (argparse exits through SystemExit)."""
    try:
        return main(argv)
    except SystemExit as stop:
        return 0 if stop.code is None else int(stop.code)


@pytest.fixture(scope="module")
def broken_root(synthetic_root, tmp_path_factory):
    """The synthetic benchmark with one unreadable infection mask."""
    root = tmp_path_factory.mktemp("broken") / "data"
    shutil.copytree(synthetic_root / "COVID-19-CT-Seg", root / "COVID-19-CT-Seg")
    (root / "COVID-19-CT-Seg" / "Infection_Mask" / "coronacases_001.nii.gz").write_bytes(b"not a volume")
    return root


CASES = [  # (command, outcome, argv with {root} / {broken} / {tmp} filled in, expected status)
    ("top level", "success", ["--help"], 0),
    ("top level", "usage", [], 2),
    ("top level", "usage", ["no-such-command"], 2),
    ("models", "success", ["models"], 0),
    ("models", "usage", ["models", "extra"], 2),
    ("data check", "success", ["data", "check", "covid19_ct_seg", "--root", "{root}", "--quick"], 0),
    ("data check", "finding", ["data", "check", "covid19_ct_seg", "--root", "{broken}"], 1),
    ("data check", "runtime", ["data", "check", "covid19_ct_seg", "--root", "{tmp}/nowhere"], 1),
    ("data check", "usage", ["data", "check", "covid19_ct_seg"], 2),
    ("evaluate", "runtime", ["evaluate", "--pred", "{tmp}/nowhere", "--ref", "{tmp}/nowhere"], 1),
    ("evaluate", "usage", ["evaluate", "--pred", "{tmp}"], 2),
    ("sweep", "success", ["sweep", "--status", "{repo}/results/synthetic"], 0),  # every committed run done
    ("sweep", "runtime", ["sweep", "--config", "{tmp}/missing.yaml", "--dry-run"], 1),
    ("sweep", "usage", ["sweep", "--jobs", "two"], 2),
    ("leaderboard", "runtime", ["leaderboard", "{tmp}/nowhere"], 1),
    ("leaderboard", "usage", ["leaderboard"], 2),
    ("fit", "success", ["fit", "--config", "synthetic_unet3d", "--print_config"], 0),
    ("fit", "runtime", ["fit", "--config", "synthetic_unet3d", "--strategy.name", "no_such_strategy"], 1),
    ("fit", "usage", ["fit", "--config", "synthetic_unet3d", "--optimizer", "Adam"], 2),
    ("fit", "usage", ["fit", "--config", "synthetic_unet3d", "--model.not_a_key", "1"], 2),
    ("predict", "success", ["predict", "--help"], 0),
    ("predict", "runtime", ["predict", "-i", "{tmp}", "-o", "{tmp}/out", "--run", "{tmp}/no_run"], 1),
    ("predict", "usage", ["predict", "-i", "{tmp}"], 2),
    ("export", "runtime", ["export", "nnunet", "--root", "{tmp}/nowhere", "--out", "{tmp}/raw"], 1),
    ("export", "usage", ["export", "--root", "{tmp}", "--out", "{tmp}/raw"], 2),
    ("ceiling", "usage", ["ceiling"], 2),
]


@pytest.mark.parametrize(
    "command, outcome, argv, expected", CASES, ids=lambda v: v if isinstance(v, str) else None
)
def test_exit_status(command, outcome, argv, expected, synthetic_root, broken_root, tmp_path, capsys):
    repo = Path(__file__).resolve().parents[2]
    filled = [a.format(root=synthetic_root, broken=broken_root, tmp=tmp_path, repo=repo) for a in argv]
    assert _status(filled) == expected, capsys.readouterr().err[-2000:]


def test_the_overview_names_every_command_of_the_tree():
    """`transferbench --help` is written by hand (synopses); it must list every subcommand the tree has."""
    from transferbench.cli.main import USAGE, build_parser

    tree = build_parser()
    (commands,) = [a for a in tree._actions if isinstance(a, __import__("argparse")._SubParsersAction)]
    missing = [name for name in commands.choices if f"  {name}" not in USAGE and f"|{name}" not in USAGE]
    assert not missing, missing
