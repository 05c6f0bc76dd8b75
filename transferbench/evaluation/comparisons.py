"""The transfer study's own questions, as paired comparisons of training procedures between leaderboard rows
(the crossed seeds x cases interval, Holm within each family, one verdict; statistics.py).

Families (Holm within each family and model): ``strategies`` (every pair of strategies run on the same
source), ``sources`` (every pair of single sources within a strategy), ``multisource_vs_best_single``
(a multi-source row against the fine-tune row of its best member source; picked after seeing the results,
which favours the single source) and ``hybrid_vs_finetune`` (same source). Over all rows of a model: the
Friedman test with the Nemenyi post-hoc, and rank stability by bootstrap over seeds and cases.
"""

from __future__ import annotations

from itertools import combinations

import pandas as pd

from transferbench.evaluation import statistics as st
from transferbench.evaluation.leaderboard import (
    KEYS,
    add_verdicts,
    comparison_columns,
    is_baseline,
    without_collapsed,
)

COLUMNS = ["family", "model", "a", "b", "n_seeds", "n_cases", "dsc_diff", "ci_low", "ci_high", "df", "p", "p_holm",
           "verdict", "seeds_won", "per_seed", "prob_improve", "prob_improve_low", "prob_improve_high", "seeds_needed",
           "interval", "p_case", "wins"]  # fmt: skip


def row_label(strategy: str, source: str) -> str:
    return strategy if source in ("-", "") else f"{strategy} / {source}"


def _pairs(board: pd.DataFrame, info: dict) -> list[tuple[str, str, tuple, tuple]]:
    """(family, model, row a, row b) of every declared comparison."""
    names = info.get("strategies", {})  # label -> registered strategy name
    members = info.get("sources", {})  # source label -> registered sources
    singles = {s for s, m in members.items() if len(m) == 1}
    rows = [tuple(r) for r in board[KEYS].itertuples(index=False) if not is_baseline(r[1])]
    by_model: dict[str, list[tuple]] = {}
    for r in rows:
        by_model.setdefault(r[0], []).append(r)
    dsc = board.set_index(KEYS)["dsc_mean"].to_dict()
    out = []
    for model, rs in by_model.items():
        for a, b in combinations(rs, 2):
            if a[2] == b[2] and a[2] != "-":
                out.append(("strategies", model, a, b))
            if a[1] == b[1] and a[2] in singles and b[2] in singles:
                out.append(("sources", model, a, b))
        finetune = {r[2]: r for r in rs if names.get(r[1]) == "finetune" and r[1] == "finetune"}
        for r in rs:
            if names.get(r[1]) == "multisource":
                options = [
                    finetune[s]
                    for s in singles
                    if s in finetune and set(members[s]) <= set(members.get(r[2], []))
                ]
                if options:
                    out.append(
                        ("multisource_vs_best_single", model, r, max(options, key=lambda o: dsc.get(o, -1)))
                    )
            if names.get(r[1]) == "hybrid" and r[2] in finetune:
                out.append(("hybrid_vs_finetune", model, r, finetune[r[2]]))
    return out


def comparisons(
    per_case: pd.DataFrame,
    board: pd.DataFrame,
    info: dict,
    n_boot: int = 2000,
    delta: float = st.TARGET_DIFFERENCE,
    min_seeds: int = st.MIN_SEEDS,
) -> pd.DataFrame:
    """One row per declared comparison: A - B in DSC, the crossed interval, Holm p and verdict."""
    ok = without_collapsed(per_case)
    groups = {k: g for k, g in ok.groupby(KEYS, sort=False)}
    empty = ok.iloc[:0]
    rows = []
    for family, model, a, b in _pairs(board, info):
        cmp = st.compare(groups.get(a, empty), groups.get(b, empty), "dsc", n_boot, delta=delta)
        rows.append({"family": family, "model": model, "a": row_label(*a[1:]), "b": row_label(*b[1:]),
                     "n_cases": cmp["n_cases"], **comparison_columns(cmp)})  # fmt: skip
    out = pd.DataFrame(rows, columns=[c for c in COLUMNS if c not in ("p_holm", "verdict")])
    add_verdicts(out, ["model", "family"], min_seeds=min_seeds)
    return out[COLUMNS]


def rank_analysis(per_case: pd.DataFrame, n_boot: int = 1000) -> dict[str, dict]:
    """Per model: Friedman + Nemenyi over every row (cases all rows scored; conditional on the trained
    models) and rank stability by a bootstrap over seeds and cases (cases only if the rows share < 2 seeds)."""
    ok = without_collapsed(per_case)
    out = {}
    for model, g in ok.groupby("model", sort=True):
        by_label = {row_label(s, src): r for (s, src), r in g.groupby(["strategy", "source"])}
        table = st.case_table(by_label)
        result = st.friedman(table)
        labels, cube = st.seed_case_cube({k: by_label[k] for k in table.columns})
        seeds = cube.shape[1] if labels == list(table.columns) and cube.shape[2] else 0
        shares, tau = st.rank_stability(table, n_boot, cube=cube if seeds > 1 else None)
        result["rank_seeds"] = seeds
        out[str(model)] = {**result, "shares": shares, "kendall_tau": tau, "rows": list(table.columns)}
    return out


def ranks_table(analysis: dict[str, dict]) -> pd.DataFrame:
    """``ranks.csv``: mean Friedman rank, modal bootstrap rank and its share, per model and row."""
    rows = []
    for model, a in analysis.items():
        shares = a["shares"]
        for label, rank in a["mean_rank"].sort_values().items():
            mine = shares[shares.row == label]
            modal = mine.loc[mine.share.idxmax()] if len(mine) else None
            rows.append({"model": model, "row": label, "mean_rank": float(rank),
                         "modal_rank": int(modal["rank"]) if modal is not None else None,
                         "modal_share": float(modal["share"]) if modal is not None else None,
                         "friedman_p": a["p"], "nemenyi_cd": a["cd"], "n_cases": a["n_cases"],
                         "kendall_tau": a["kendall_tau"]})  # fmt: skip
    return pd.DataFrame(rows)
