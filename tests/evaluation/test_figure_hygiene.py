"""Importing and using the figure writers changes nothing global (a notebook's backend and style stay)."""

from __future__ import annotations

import os
import subprocess
import sys

SCRIPT = """
import matplotlib
before = (matplotlib.rcParams["backend"], matplotlib.rcParams["axes.prop_cycle"])
import transferbench.data.preview, transferbench.evaluation.figures, transferbench.evaluation.stat_figures
from transferbench.plots import OKABE_ITO, new_figure, save_figure
fig, ax = new_figure(1, 2, figsize=(3, 2))
line = ax[0].plot([0, 1], [0, 1])[0]
assert line.get_color() == OKABE_ITO[0], line.get_color()  # our palette on our axes
save_figure(fig, {out!r})
import matplotlib.pyplot as plt
assert plt.get_fignums() == [], plt.get_fignums()  # pyplot manages none of ours
after = (matplotlib.rcParams["backend"], matplotlib.rcParams["axes.prop_cycle"])
assert after == before, (before, after)
print("ok")
"""


def test_figure_writers_leave_backend_and_style_alone(tmp_path):
    out = tmp_path / "f.png"
    env = {**os.environ, "MPLBACKEND": "svg"}  # a caller's own choice, which must survive
    done = subprocess.run([sys.executable, "-c", SCRIPT.format(out=str(out))], env=env, capture_output=True,
                          text=True)  # fmt: skip
    assert done.stdout.strip() == "ok", done.stderr[-2000:]
    assert out.read_bytes()[:4] == b"\x89PNG" and out.with_suffix(".pdf").is_file()
