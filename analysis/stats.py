"""μ_{m,t}, μ_t, combined std, μ_T and D_opt(T) from the block table (DESIGN.md §1.5).

The formulas are ecosys.metrics' (pure numpy), the same ones the loop logs with.
"""

from __future__ import annotations

import pandas as pd

from analysis.load import CONDITION
from ecosys import metrics

RUN = [*CONDITION, "D", "seed", "run"]


def model_means(blocks: pd.DataFrame) -> pd.DataFrame:
    """μ_{m,t} per run, model and t."""
    g = blocks.groupby([*RUN, "m", "t"], sort=True)["ppl"]
    return g.apply(lambda s: metrics.block_mean(s.to_numpy())).rename("mu_mt").reset_index()


def ecosystem(blocks: pd.DataFrame) -> pd.DataFrame:
    """μ_t and the combined std over all models' blocks, per run and t."""
    mu = model_means(blocks).groupby([*RUN, "t"])["mu_mt"]
    mu = mu.apply(lambda s: metrics.ecosystem_mean(s.to_list())).rename("mu_t")
    std = blocks.groupby([*RUN, "t"])
    std = std.apply(
        lambda g: metrics.combined_std([x["ppl"].to_numpy() for _, x in g.groupby("m")]),
        include_groups=False,
    ).rename("std")
    return pd.concat([mu, std], axis=1).reset_index()


def aggregated(eco: pd.DataFrame) -> pd.DataFrame:
    """μ_T per run for every T it has reached (T = 1 … iterations done)."""
    rows = []
    for key, g in eco[eco["t"] >= 0].groupby(RUN):
        mu_t = g.sort_values("t")["mu_t"].to_list()
        for T in range(1, len(mu_t) + 1):
            rows.append(
                {**dict(zip(RUN, key, strict=True)), "T": T, "mu_T": metrics.aggregated(mu_t, T)}
            )
    return pd.DataFrame(rows)


def optimum(agg: pd.DataFrame) -> pd.DataFrame:
    """D_opt(T) per condition: argmin over D of μ_T averaged over seeds.

    Only the D values that reached T count; `n_D` says how many did.
    """
    by_d = agg.groupby([*CONDITION, "T", "D"])["mu_T"].mean().reset_index()
    rows = []
    for key, g in by_d.groupby([*CONDITION, "T"]):
        table = dict(zip(g["D"], g["mu_T"], strict=True))
        rows.append(
            {
                **dict(zip([*CONDITION, "T"], key, strict=True)),
                "D_opt": metrics.optimum(table),
                "n_D": len(table),
            }
        )
    return pd.DataFrame(rows)
