"""Statistics for comparing training procedures (``docs/statistics.md``): seeds and cases are crossed.

A trained model is one draw of its training procedure and scores every test case, so a comparison A vs B
has two random factors, the seed (shared by every case of a run) and the case. The primary inference works
on the seeds x cases table of paired differences ``d[s, c]`` (seeds paired under common random numbers):
the mean with the two-way crossed random-effects interval (ANOVA mean squares, Satterthwaite degrees of
freedom; generalizability theory's p x i design). Cross-checks: the pigeonhole bootstrap (Owen 2007) and
statsmodels' MixedLM with crossed variance components. Secondary, and labelled conditional on the trained
models: the Wilcoxon signed-rank test over seed-averaged case differences. One verdict per comparison
(``verdict``) follows from the primary p after Holm, the number of seeds and the power for seeds.

Libraries: scipy (t, Wilcoxon, Friedman), statsmodels (Holm, MixedLM, the noncentral-t power of
``TTestPower``), scikit-posthocs (Nemenyi). Written by hand: the mean squares, the pigeonhole bootstrap,
the probability of improvement and rank stability, which those libraries lack.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

UNIT = ["case", "class"]  # the unit of analysis: a test case (and class, for multi-class targets)
ALPHA = 0.05
TARGET_DIFFERENCE = 0.03  # DSC: the smallest transfer effect the default design is powered for
# With a stable recipe's between-seed sd of the mean difference (0.02 DSC), TTestPower needs 6 seeds to
# detect 0.03 at 80% power; 5 seeds detect 1.68 sd (0.034), 4 seeds 2.13 sd, 3 seeds 3.26 sd (0.065): below
# 5 seeds no training procedure claim of the target's size is within reach.
MIN_SEEDS = 5
VERDICTS = ("better", "worse", "no evidence", "too few seeds")


def score_matrix(rows: pd.DataFrame, metric: str = "dsc") -> pd.DataFrame:
    """Cases x runs table of ``metric`` (NaN where a run did not test or could not score a case)."""
    if rows.empty:
        return pd.DataFrame()
    return rows.pivot_table(index=UNIT, columns="run", values=metric, aggfunc="mean", dropna=False)


def seed_case_matrix(rows: pd.DataFrame, metric: str = "dsc") -> pd.DataFrame:
    """Seeds x cases table of ``metric``, each cell the mean over that seed's runs (folds) testing the case."""
    if rows.empty:
        return pd.DataFrame()
    table = rows.pivot_table(index="seed", columns=UNIT, values=metric, aggfunc="mean", dropna=False)
    return table.sort_index()


def case_means(rows: pd.DataFrame, metric: str = "dsc") -> pd.Series:
    """Each case's score averaged over the runs that scored it (cases no run could score dropped)."""
    if rows.empty:
        return pd.Series(dtype=float)
    return rows.groupby(UNIT)[metric].mean().dropna()


def wilcoxon_p(d: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p of per-case differences (scipy; 1 when all are zero)."""
    d = np.asarray(d, dtype=float)
    if len(d) == 0:
        return math.nan
    if np.allclose(d, 0):
        return 1.0
    return float(stats.wilcoxon(d, zero_method="wilcox", alternative="two-sided").pvalue)


def exact_floor(n_cases: int) -> float:
    """The smallest two-sided p an exact Wilcoxon test can give on ``n_cases`` cases: 2 / 2^n."""
    return 2.0 / 2.0**n_cases if n_cases > 0 else math.nan


def holm(pvalues) -> list[float]:
    """Holm-adjusted p-values over one family (statsmodels' ``multipletests``); NaN stays NaN."""
    from statsmodels.stats.multitest import multipletests

    p = np.asarray(list(pvalues), dtype=float)
    out = np.full_like(p, np.nan)
    ok = ~np.isnan(p)
    if ok.any():
        out[ok] = multipletests(p[ok], method="holm")[1]
    return out.tolist()


# --- the crossed random-effects interval ---------------------------------------------------------------


@dataclass(frozen=True)
class MeanSquares:
    """Two-way ANOVA without replication of a seeds x cases table (one value per cell)."""

    seed: float
    case: float
    resid: float
    n_seeds: int
    n_cases: int

    @classmethod
    def of(cls, d: np.ndarray) -> MeanSquares:
        d = np.asarray(d, dtype=float)
        s, c = d.shape
        grand = d.mean()
        seed_means, case_means_ = d.mean(axis=1), d.mean(axis=0)
        ms_seed = c * ((seed_means - grand) ** 2).sum() / (s - 1) if s > 1 else math.nan
        ms_case = s * ((case_means_ - grand) ** 2).sum() / (c - 1) if c > 1 else math.nan
        resid = d - seed_means[:, None] - case_means_[None, :] + grand
        ms_resid = (resid**2).sum() / ((s - 1) * (c - 1)) if s > 1 and c > 1 else math.nan
        return cls(float(ms_seed), float(ms_case), float(ms_resid), s, c)

    def components(self) -> dict[str, float]:
        """Variance components (seed, case, residual), negative estimates truncated at 0."""
        return {
            "seed": max(0.0, (self.seed - self.resid) / self.n_cases),
            "case": max(0.0, (self.case - self.resid) / self.n_seeds),
            "resid": self.resid,
        }

    def variance_of_mean(self) -> tuple[float, float]:
        """Var(mean d) = (MS_seed + MS_case - MS_resid) / (S C) and its Satterthwaite df.

        A mean square below MS_resid (a negative component estimate) is truncated: its component is 0, so the
        combination loses that term and MS_resid's cancellation (never a negative or near-zero variance).
        """
        s, c = self.n_seeds, self.n_cases
        terms = []  # (coefficient x mean square, its df)
        seed_in, case_in = self.seed > self.resid, self.case > self.resid
        if seed_in:
            terms.append((self.seed, s - 1))
        if case_in:
            terms.append((self.case, c - 1))
        if seed_in and case_in:
            terms.append((-self.resid, (s - 1) * (c - 1)))
        elif not seed_in and not case_in:
            terms.append((self.resid, (s - 1) * (c - 1)))
        total = sum(t for t, _ in terms)
        df = total**2 / sum(t**2 / k for t, k in terms) if total > 0 else math.inf
        return total / (s * c), df


def _complete_block(d: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """The balanced part of a seeds x cases table with missing cells, and how it was made.

    The documented fallback for unbalanced designs: keep the larger of (every seed, the cases every seed
    scored) and (every case, the seeds that scored every case); the cells left out are named in ``design``.
    """
    if not d.isna().any().any():
        return d, "balanced"
    by_case = d.loc[:, d.notna().all(axis=0)]
    by_seed = d.loc[d.notna().all(axis=1)]
    if by_case.size >= by_seed.size:
        return by_case, f"complete cases ({d.shape[1] - by_case.shape[1]} of {d.shape[1]} left out)"
    return by_seed, f"complete seeds ({d.shape[0] - by_seed.shape[0]} of {d.shape[0]} left out)"


def crossed_interval(d, level: float = 0.95) -> dict:
    """Mean of a seeds x cases table with the crossed random-effects t-interval and two-sided p (vs 0).

    With one seed no seed variance can be estimated: the interval is then the t-interval over the cases
    (``design`` says so) and the verdict is ``too few seeds``. Missing cells: ``_complete_block``.
    """
    frame = d if isinstance(d, pd.DataFrame) else pd.DataFrame(np.asarray(d, dtype=float))
    frame, design = _complete_block(frame)
    values = frame.to_numpy(dtype=float)
    s, c = values.shape
    empty = {"mean": math.nan, "se": math.nan, "df": math.nan, "ci_low": math.nan, "ci_high": math.nan,
             "p": math.nan, "n_seeds": s, "n_cases": c, "design": design, "components": {}}  # fmt: skip
    if s == 0 or c == 0:
        return empty
    mean = float(values.mean())
    if s == 1:
        if c < 2:
            return {**empty, "mean": mean}
        se, df = float(values.std(ddof=1) / math.sqrt(c)), float(c - 1)
        design = f"cases only (1 seed); {design}" if design != "balanced" else "cases only (1 seed)"
        components = {"seed": math.nan, "case": float(values.var(ddof=1)), "resid": math.nan}
    elif c == 1:
        se, df = float(values.std(ddof=1) / math.sqrt(s)), float(s - 1)
        components = {"seed": float(values.var(ddof=1)), "case": math.nan, "resid": math.nan}
    else:
        ms = MeanSquares.of(values)
        var, df = ms.variance_of_mean()
        se, components = math.sqrt(var), ms.components()
    if se == 0:
        p = 1.0 if mean == 0 else 0.0
        return {**empty, "mean": mean, "se": 0.0, "df": df, "ci_low": mean, "ci_high": mean, "p": p,
                "components": components}  # fmt: skip
    q = stats.t.ppf(1 - (1 - level) / 2, df)
    p = float(2 * stats.t.sf(abs(mean) / se, df))
    return {"mean": mean, "se": se, "df": float(df), "ci_low": float(mean - q * se), "ci_high": float(mean + q * se),
            "p": p, "n_seeds": s, "n_cases": c, "design": design, "components": components}  # fmt: skip


def pigeonhole_ci(d, n_boot: int = 2000, seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile CI of the mean of a complete seeds x cases table, seeds and cases resampled independently
    and every crossing cell kept (Owen 2007's pigeonhole bootstrap; a cross-check, see docs/statistics.md)."""
    values = np.asarray(d, dtype=float)
    s, c = values.shape
    rng = np.random.default_rng(seed)
    ws = rng.multinomial(s, np.full(s, 1 / s), n_boot)  # how often each seed is drawn
    wc = rng.multinomial(c, np.full(c, 1 / c), n_boot)
    means = np.einsum("bs,sc,bc->b", ws, values, wc) / (s * c)
    lo, hi = np.quantile(means, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)


def mixedlm_interval(d, level: float = 0.95) -> dict:
    """Mean with a Wald interval from statsmodels' MixedLM with crossed seed and case variance components
    (one constant group), fitted by REML; ``converged`` False when the optimiser said so or a component sits
    on the boundary (then the z-interval is anti-conservative). A cross-check, not the primary interval."""
    import statsmodels.formula.api as smf

    values = np.asarray(d, dtype=float)
    s, c = values.shape
    frame = pd.DataFrame({"d": values.ravel(), "seed": np.repeat(np.arange(s), c), "case": np.tile(np.arange(c), s),
                          "g": 0})  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = smf.mixedlm("d ~ 1", frame, groups="g",
                            vc_formula={"seed": "0 + C(seed)", "case": "0 + C(case)"})  # fmt: skip
        fit = model.fit(reml=True)
    mean, se = float(fit.fe_params.iloc[0]), float(fit.bse_fe.iloc[0])
    q = stats.norm.ppf(1 - (1 - level) / 2)
    boundary = bool(np.any(np.asarray(fit.vcomp) < 1e-8))
    return {"mean": mean, "se": se, "ci_low": float(mean - q * se), "ci_high": float(mean + q * se),
            "converged": bool(fit.converged) and not boundary,
            "vcomp": dict(zip(model.exog_vc.names, np.asarray(fit.vcomp)))}  # fmt: skip


# --- replication, power and the verdict ----------------------------------------------------------------


def probability_of_improvement(
    a, b, n_boot: int = 2000, seed: int = 0, level: float = 0.95
) -> tuple[float, float, float]:
    """P(A > B) over seeds and cases (ties count one half), as rliable computes it (Agarwal et al. 2021):
    per case, the Mann-Whitney share of (A run, B run) pairs that A wins, averaged over cases; the CI from
    the pigeonhole bootstrap (seeds resampled jointly on both sides, as they are paired, and cases)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    s, c = a.shape
    if s == 0 or c == 0:
        return math.nan, math.nan, math.nan
    wins = (a[:, None, :] > b[None, :, :]) + 0.5 * (a[:, None, :] == b[None, :, :])  # S x S x C
    point = float(wins.mean())
    if n_boot <= 0:
        return point, math.nan, math.nan
    rng = np.random.default_rng(seed)
    ws = rng.multinomial(s, np.full(s, 1 / s), n_boot)
    wc = rng.multinomial(c, np.full(c, 1 / c), n_boot)
    boots = np.einsum("bs,bt,stc,bc->b", ws, ws, wins, wc) / (s * s * c)
    lo, hi = np.quantile(boots, [(1 - level) / 2, 1 - (1 - level) / 2])
    return point, float(lo), float(hi)


def seed_power(components: dict, n_seeds: int, n_cases: int, delta: float = TARGET_DIFFERENCE,
               alpha: float = ALPHA) -> float:  # fmt: skip
    """Power of the two-sided test to detect ``delta`` with ``n_seeds`` seeds on ``n_cases`` cases.

    statsmodels' noncentral-t ``TTestPower`` with the seeds as units (df = S - 1, as the Satterthwaite df is
    when the seed component dominates; conservative otherwise) and the per-unit sd that gives the crossed
    Var(mean d) = sd_seed^2 / S + sd_case^2 / C + sd_resid^2 / (S C).
    """
    from statsmodels.stats.power import TTestPower

    seed_var, case_var, resid = (components.get(k, math.nan) for k in ("seed", "case", "resid"))
    if n_seeds < 2 or not all(np.isfinite([seed_var, case_var, resid])):
        return math.nan
    var = seed_var / n_seeds + case_var / n_cases + resid / (n_seeds * n_cases)
    if var <= 0:
        return 1.0
    effect = delta / math.sqrt(var * n_seeds)
    return float(TTestPower().power(effect_size=effect, nobs=n_seeds, alpha=alpha))


def seeds_needed(components: dict, n_cases: int, delta: float = TARGET_DIFFERENCE, power: float = 0.8,
                 alpha: float = ALPHA, most: int = 200) -> float:  # fmt: skip
    """Smallest number of seeds whose ``seed_power`` reaches ``power``; inf when ``most`` seeds do not (the
    case component alone, which seeds cannot shrink, is then too large: more cases are needed)."""
    if not all(np.isfinite([components.get(k, math.nan) for k in ("seed", "case", "resid")])):
        return math.nan
    for n in range(2, most + 1):
        if seed_power(components, n, n_cases, delta, alpha) >= power:
            return float(n)
    return math.inf


def verdict(diff: float, p_holm: float, n_seeds: int, needed: float, min_seeds: int = MIN_SEEDS,
            alpha: float = ALPHA) -> str:  # fmt: skip
    """The one verdict of a comparison, from the primary (crossed) p after Holm.

    ``too few seeds`` below ``min_seeds`` whatever any p says, and when the comparison is not significant
    but had fewer seeds than its measured variance needs for the target difference (it could not have
    found one); ``no evidence`` when it had the seeds and found nothing; else ``better`` / ``worse``.
    """
    if n_seeds < min_seeds or not np.isfinite(p_holm):
        return "too few seeds"
    if p_holm < alpha:
        return "better" if diff > 0 else "worse"
    return "too few seeds" if not (needed <= n_seeds) else "no evidence"


def paired_tables(
    a_rows: pd.DataFrame, b_rows: pd.DataFrame, metric: str = "dsc"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A's and B's seeds x cases tables on the seeds both have and the cases both scored.

    Only the seeds both rows have are compared (a collapsed run left out of one row takes its seed out of the
    other too), so that under common random numbers the runs stay paired by seed.
    """
    a, b = seed_case_matrix(a_rows, metric), seed_case_matrix(b_rows, metric)
    if a.empty or b.empty:
        return pd.DataFrame(), pd.DataFrame()
    seeds = a.index.intersection(b.index)
    cases = a.columns[a.notna().any(axis=0)].intersection(b.columns[b.notna().any(axis=0)])
    return a.loc[seeds, cases], b.loc[seeds, cases]


def compare(
    a_rows: pd.DataFrame,
    b_rows: pd.DataFrame,
    metric: str = "dsc",
    n_boot: int = 2000,
    seed: int = 0,
    delta: float = TARGET_DIFFERENCE,
) -> dict:
    """Compare two rows' per-case tables (columns run, seed, case, class, metric) as training procedures.

    Primary: the crossed interval of d[s, c] = A_s(c) - B_s(c). Replication: per-seed mean differences, seeds
    won, P(A > B) with its CI, each side's between-seed sd. Secondary (conditional on the trained models):
    the Wilcoxon p over the seed-averaged case differences, cases won. Power: seeds needed for ``delta``.
    ``case_a`` / ``case_b``: the seed-averaged case scores the comparison used (figures draw these).
    """
    a, b = paired_tables(a_rows, b_rows, metric)
    d = a - b
    primary = crossed_interval(d) if not d.empty else crossed_interval(np.zeros((0, 0)))
    ca, cb = a.mean(axis=0), b.mean(axis=0)  # seed-averaged case scores (complete seeds: every cell set)
    dc = (ca - cb).dropna().to_numpy(dtype=float) if not d.empty else np.array([])
    per_seed = {int(s): float(v) for s, v in d.mean(axis=1).dropna().items()} if not d.empty else {}
    block, _ = _complete_block(d) if not d.empty else (d, "")
    if not block.empty:
        pi = probability_of_improvement(a.loc[block.index, block.columns], b.loc[block.index, block.columns],
                                        n_boot, seed)  # fmt: skip
    else:
        pi = (math.nan, math.nan, math.nan)
    seed_means = lambda t: t.loc[block.index, block.columns].mean(axis=1) if not block.empty else pd.Series()  # noqa: E731
    sd = lambda v: float(v.std(ddof=1)) if len(v) > 1 else math.nan  # noqa: E731
    comps, n_cases = primary["components"], primary["n_cases"]
    return {
        **{k: primary[k] for k in ("ci_low", "ci_high", "p", "se", "df", "design", "components")},
        "diff": primary["mean"],
        "n_seeds": primary["n_seeds"],
        "n_cases": len(dc),
        "median": float(np.median(dc)) if len(dc) else math.nan,
        "sd": float(dc.std(ddof=1)) if len(dc) > 1 else math.nan,
        "wins": int((dc > 0).sum()),
        "p_case": wilcoxon_p(dc),
        "per_seed": per_seed,
        "seeds_won": sum(v > 0 for v in per_seed.values()),
        "p_improve": pi[0], "p_improve_low": pi[1], "p_improve_high": pi[2],
        "seed_sd_a": sd(seed_means(a)), "seed_sd_b": sd(seed_means(b)),
        "seeds_needed": seeds_needed(comps, n_cases, delta) if comps else math.nan,
        "case_a": ca, "case_b": cb,
    }  # fmt: skip


# --- rank tests over case means (conditional on the trained models) ---------------------------------


def case_table(rows_by_label: dict[str, pd.DataFrame], metric: str = "dsc") -> pd.DataFrame:
    """Cases x rows table of case means, restricted to the cases every row scored (for rank tests)."""
    cols = {label: case_means(rows, metric) for label, rows in rows_by_label.items()}
    cols = {k: v for k, v in cols.items() if len(v)}
    return pd.DataFrame(cols).dropna() if cols else pd.DataFrame()


def friedman(table: pd.DataFrame, alpha: float = 0.05) -> dict:
    """Friedman test over the rows of a cases x rows table, Nemenyi post-hoc and Demsar's critical difference.

    Returns ``p``, ``mean_rank`` (1 = best, higher score better), ``posthoc`` (rows x rows Nemenyi p) and
    ``cd`` = q_alpha sqrt(k (k + 1) / (6 n)) with q_alpha the Studentised range quantile / sqrt(2).
    """
    import scikit_posthocs as sp

    n, k = table.shape
    values = table.to_numpy(dtype=float)
    mean_rank = pd.Series(stats.rankdata(-values, axis=1).mean(axis=0) if n else np.nan, index=table.columns)
    if k < 3 or n < 2:
        return {"p": math.nan, "statistic": math.nan, "mean_rank": mean_rank, "posthoc": None, "cd": math.nan,
                "n_cases": n}  # fmt: skip
    stat, p = stats.friedmanchisquare(*values.T)
    posthoc = sp.posthoc_nemenyi_friedman(values)
    posthoc.index = posthoc.columns = table.columns
    q = stats.studentized_range.ppf(1 - alpha, k, np.inf) / math.sqrt(2)
    return {"p": float(p), "statistic": float(stat), "mean_rank": mean_rank, "posthoc": posthoc,
            "cd": float(q * math.sqrt(k * (k + 1) / (6 * n))), "n_cases": n}  # fmt: skip


def seed_case_cube(
    rows_by_label: dict[str, pd.DataFrame], metric: str = "dsc"
) -> tuple[list[str], np.ndarray]:
    """(labels, rows x seeds x cases array) on the seeds every row has and the cases every row scored in every
    one of them: what a bootstrap over seeds and cases resamples."""
    tables = {k: seed_case_matrix(v, metric) for k, v in rows_by_label.items() if len(v)}
    if not tables:
        return [], np.zeros((0, 0, 0))
    seeds = sorted(set.intersection(*(set(t.index) for t in tables.values())))
    cases = set.intersection(*(set(t.columns[t.loc[seeds].notna().all(axis=0)]) for t in tables.values()))
    cases = sorted(cases)
    labels = list(tables)
    return labels, np.stack([tables[k].loc[seeds, cases].to_numpy(dtype=float) for k in labels])


def rank_stability(
    table: pd.DataFrame, n_boot: int = 1000, seed: int = 0, cube: np.ndarray | None = None
) -> tuple[pd.DataFrame, float]:
    """Share of bootstrap resamples in which each row holds each rank (challengeR's blob plot), and the
    median Kendall tau between the full ranking and the resampled ones. With ``cube`` (rows x seeds x cases,
    rows in ``table``'s column order) seeds and cases are both resampled (the pigeonhole bootstrap, every
    row drawing the same seeds, as they are paired); without it, cases only."""
    k = table.shape[1]
    if cube is not None and cube.size and cube.shape[1] > 1:
        _, s, n = cube.shape
    else:
        cube, (n, k), s = None, table.shape, 1
    if n == 0 or k == 0:
        return pd.DataFrame(columns=["row", "rank", "share"]), math.nan
    rng = np.random.default_rng(seed)
    if cube is None:
        values = table.to_numpy(dtype=float)
        full = stats.rankdata(-values.mean(axis=0), method="min")
        means = np.stack([values[rng.integers(0, n, n)].mean(axis=0) for _ in range(n_boot)])
    else:
        full = stats.rankdata(-cube.mean(axis=(1, 2)), method="min")
        ws = rng.multinomial(s, np.full(s, 1 / s), n_boot)
        wc = rng.multinomial(n, np.full(n, 1 / n), n_boot)
        means = np.einsum("bs,rsc,bc->br", ws, cube, wc) / (s * n)
    counts = np.zeros((k, k))
    taus = []
    for m in means:
        r = stats.rankdata(-m, method="min").astype(int)
        counts[np.arange(k), r - 1] += 1
        if k > 1:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                taus.append(stats.kendalltau(full, r).statistic)
    shares = [
        {"row": table.columns[i], "rank": j + 1, "share": counts[i, j] / n_boot}
        for i in range(k)
        for j in range(k)
        if counts[i, j]
    ]
    return pd.DataFrame(shares), float(np.nanmedian(taus)) if taus else math.nan
