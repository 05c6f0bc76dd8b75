"""The crossed seeds x cases random-effects interval and its cross-checks (``docs/statistics.md``).

A seeds x cases table of paired differences has two crossed random factors. Primary: the ANOVA mean-squares
interval with Satterthwaite df (generalizability theory's p x i design; Brennan 2001). Cross-checks: Owen's
(2007) pigeonhole bootstrap and statsmodels' MixedLM with crossed variance components. Also the probability
of improvement over seeds and cases (rliable) with its pigeonhole CI.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats


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


def complete_block(d: pd.DataFrame) -> tuple[pd.DataFrame, str]:
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
    (``design`` says so) and the verdict is ``too few seeds``. Missing cells: ``complete_block``.
    """
    frame = d if isinstance(d, pd.DataFrame) else pd.DataFrame(np.asarray(d, dtype=float))
    frame, design = complete_block(frame)
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
