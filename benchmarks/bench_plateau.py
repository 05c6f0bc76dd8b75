"""The plateau rule's error rates on simulated validation curves (statistics, not speed; docs/statistics.md).

16 validations (a default-sweep target run's validations before its decay), independent Gaussian scatter of
sd 0.011 / 0.02 / 0.03 around a line gaining 0 / 0.02 / 0.04 Dice a quarter; the share of curves the gain
alone (``plateau_gain >= PLATEAU_TOL``) and the rule (``converged`` False) flag. ``python -m
benchmarks.bench_plateau [curves]`` (2,000 a cell by default, a few seconds).
"""

from __future__ import annotations

import sys

import numpy as np

from transferbench.evaluation.leaderboard import PLATEAU_TOL, converged, plateau_gain


def run(curves: int = 2000, points: int = 16, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    rows = []
    for sd in (0.011, 0.02, 0.03):
        for per_quarter in (0.0, 0.02, 0.04):
            gain = rule = 0
            for _ in range(curves):
                y = 0.5 + per_quarter / (points // 4) * np.arange(points) + rng.normal(0, sd, points)
                curve = list(enumerate(y))
                gain += plateau_gain(curve) >= PLATEAU_TOL
                rule += converged(curve) is False
            rows.append({"sd": sd, "per_quarter": per_quarter, "gain": gain / curves, "rule": rule / curves})
    return rows


def main() -> None:
    curves = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    print(f"plateau rule on simulated curves ({curves} a cell): share flagged, gain alone / rule")
    for r in run(curves):
        print(f"  scatter sd {r['sd']:<5} true gain {r['per_quarter']:.2f} a quarter: "
              f"{r['gain']:6.1%} / {r['rule']:6.1%}")  # fmt: skip


if __name__ == "__main__":
    main()
