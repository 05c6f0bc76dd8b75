"""The Python API page's examples (docs/python-api.md) run as written (the data root pointed at the test
session's data)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "python-api.md"


def _examples() -> list[str]:
    return re.findall(r"```python\n(.*?)```", PAGE.read_text(), flags=re.S)


def test_the_readme_has_three_api_examples():
    assert len(_examples()) == 3


@pytest.mark.parametrize("index", range(3))
def test_readme_api_example_runs(index, synthetic_root, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)  # the committed results/synthetic are read relative to the checkout
    code = _examples()[index].replace('"data/synthetic"', repr(str(synthetic_root)))
    exec(compile(code, f"docs/python-api.md example {index + 1}", "exec"), {})
    out = capsys.readouterr().out
    assert out.strip()
    if index == 1:  # the packaged default sweep's own plan, counted here independently
        from transferbench.sweep.plan import make_plan
        from transferbench.sweep.spec import load_spec

        assert f"{len(make_plan(load_spec('synthetic')).runs)} runs" in out
    if index == 2:
        assert "positive_control" in out and "verdict" in out and re.search(r"over \d+ seeds x 16 cases", out)
