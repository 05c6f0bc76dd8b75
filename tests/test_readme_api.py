"""The README's Python API examples run as written (the data root pointed at the test session's data)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _examples() -> list[str]:
    text = README.read_text()
    section = text[text.index("## Python API") :]
    section = section[: section.index("\n## ", 1)]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def test_the_readme_has_three_api_examples():
    assert len(_examples()) == 3


@pytest.mark.parametrize("index", range(3))
def test_readme_api_example_runs(index, synthetic_root, monkeypatch, capsys):
    monkeypatch.chdir(README.parent)  # the committed results/synthetic are read relative to the checkout
    code = _examples()[index].replace('"data/synthetic"', repr(str(synthetic_root)))
    exec(compile(code, f"README.md Python API example {index + 1}", "exec"), {})
    out = capsys.readouterr().out
    assert out.strip()
    if index == 1:  # the packaged default sweep's own plan, counted here independently
        from transferbench.sweep.plan import make_plan
        from transferbench.sweep.spec import load_spec

        assert f"{len(make_plan(load_spec('synthetic')).runs)} runs" in out
    if index == 2:
        assert "positive_control" in out and "verdict" in out and re.search(r"over \d+ seeds x 16 cases", out)
