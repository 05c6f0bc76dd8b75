"""Coverage of the comparison intervals on simulated crossed designs (``docs/statistics.md``).

d[s, c] = delta + seed effect + case effect + residual, the issue's variances (seed sd 0.05, case sd 0.03,
residual 0.04) on 16 cases, for 3, 5 and 10 seeds. For each nominal 95% interval: the share of simulated
studies whose interval covers delta. Run alone with ``python -m benchmarks.bench_intervals``.
"""

from __future__ import annotations

import time

import numpy as np
from scipy import stats

from transferbench.evaluation import statistics as st

DELTA, CASES, SDS = 0.02, 16, (0.05, 0.03, 0.04)


def _simulate(n_seeds: int, rng) -> np.ndarray:
    seed_sd, case_sd, resid_sd = SDS
    return (DELTA + rng.normal(0, seed_sd, (n_seeds, 1)) + rng.normal(0, case_sd, (1, CASES))
            + rng.normal(0, resid_sd, (n_seeds, CASES)))  # fmt: skip


def _case_t(d: np.ndarray) -> tuple[float, float]:
    """The t-interval over the seed-averaged case means (treats the trained models as fixed)."""
    means = d.mean(axis=0)
    return stats.t.interval(0.95, len(means) - 1, means.mean(), stats.sem(means))


def _per_case_resampling(d: np.ndarray, rng, n_boot: int = 1000) -> tuple[float, float]:
    """The replaced two-level bootstrap: cases resampled, then runs drawn independently within each case."""
    s, c = d.shape
    cases = rng.integers(0, c, (n_boot, c))
    runs = rng.integers(0, s, (n_boot, c, s))
    means = d[runs, cases[..., None]].mean(axis=(1, 2))
    return tuple(np.quantile(means, [0.025, 0.975]))


def run(n_sims: int = 400, n_mixed: int = 100, seed: int = 0) -> dict[int, dict[str, float]]:
    """{seeds: {method: coverage}} and the share of MixedLM fits that converged off the boundary."""
    out = {}
    for n_seeds in (3, 5, 10):
        rng = np.random.default_rng(seed + n_seeds)
        hits = {"crossed": 0, "pigeonhole": 0, "case_t": 0, "two_level": 0}
        mixed_hits, mixed_ok, start = 0, 0, time.perf_counter()
        for i in range(n_sims):
            d = _simulate(n_seeds, rng)
            primary = st.crossed_interval(d)
            for name, (lo, hi) in (
                ("crossed", (primary["ci_low"], primary["ci_high"])),
                ("pigeonhole", st.pigeonhole_ci(d, 1000, seed=i)),
                ("case_t", _case_t(d)),
                ("two_level", _per_case_resampling(d, rng)),
            ):
                hits[name] += lo <= DELTA <= hi
            if i < n_mixed:
                m = st.mixedlm_interval(d)
                mixed_hits += m["ci_low"] <= DELTA <= m["ci_high"]
                mixed_ok += m["converged"]
        out[n_seeds] = {k: v / n_sims for k, v in hits.items()}
        out[n_seeds].update(mixedlm=mixed_hits / n_mixed, mixedlm_converged=mixed_ok / n_mixed,
                            seconds=time.perf_counter() - start)  # fmt: skip
    return out


def main() -> None:
    print(f"coverage of nominal 95% intervals, {CASES} cases, seed / case / residual sd {SDS}, delta {DELTA}")
    for n, r in run().items():
        print(
            f"  {n:2d} seeds: crossed random-effects {r['crossed']:.3f} | pigeonhole bootstrap {r['pigeonhole']:.3f}"
            f" | MixedLM {r['mixedlm']:.3f} ({r['mixedlm_converged']:.0%} off the boundary) | t over case means "
            f"{r['case_t']:.3f} | two-level bootstrap {r['two_level']:.3f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
