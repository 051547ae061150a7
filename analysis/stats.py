"""μ_{m,t}, μ_t, combined std, μ_T and D_opt(T) (DESIGN.md §1.5), and the paper's Eq. 6.

The formulas are ecosys.measures.metrics' (pure numpy), the same ones the loop logs with.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from analysis import coverage
from analysis.sweep import CONDITION, RUN, Sweep
from ecosys.measures import metrics


def model_means(blocks: pd.DataFrame) -> pd.DataFrame:
    """μ_{m,t} per run, model and t."""
    g = blocks.groupby([*RUN, "m", "t"], sort=True)["ppl"]
    return g.apply(lambda s: metrics.block_mean(s.to_numpy())).rename("mu_mt").reset_index()


def combined_std(blocks: pd.DataFrame) -> pd.DataFrame:
    """The combined std over all models' per-block perplexities, per run and t."""
    g = blocks.groupby([*RUN, "t"])
    std = g.apply(
        lambda x: metrics.combined_std([y["ppl"].to_numpy() for _, y in x.groupby("m")]),
        include_groups=False,
    )
    return std.rename("std").reset_index()


def ecosystem(sweep: Sweep) -> pd.DataFrame:
    """μ_t (mean over models of μ_{m,t}) and the combined std, per run and t."""
    mu = sweep.means.groupby([*RUN, "t"])["mu_mt"]
    mu = mu.apply(lambda s: metrics.ecosystem_mean(s.to_list())).rename("mu_t").reset_index()
    return mu.merge(sweep.std, on=[*RUN, "t"], how="left")


def aggregated(eco: pd.DataFrame, keys: Sequence[str] = RUN) -> pd.DataFrame:
    """μ_T per run (its `keys`: RUN, or a lens and RUN) for every T it has reached
    (T = 1 … iterations done)."""
    e = eco[eco["t"] >= 0].sort_values("t", kind="stable")
    mu = e["mu_t"].to_numpy()
    rows = []
    for key, idx in e.groupby(list(keys)).indices.items():  # each run's rows, in t order
        mu_t = mu[idx].tolist()
        run = dict(zip(keys, key, strict=True))
        rows += [
            {**run, "T": T, "mu_T": metrics.aggregated(mu_t, T)} for T in range(1, len(mu_t) + 1)
        ]
    return pd.DataFrame(rows)


def optimum(
    agg: pd.DataFrame, upto: coverage.Complete | None = None, keys: Sequence[str] = CONDITION
) -> pd.DataFrame:
    """D_opt(T) per condition (its `keys`: CONDITION, or a lens and CONDITION): argmin
    over D of μ_T averaged over seeds, at each T up to the condition's complete T (`upto`,
    default: coverage.complete of agg), so that every D of it counts (`n_D`); beyond it
    some D was not run there (analysis/coverage.py)."""
    upto = coverage.complete(agg, keys=keys) if upto is None else upto
    agg = coverage.within(agg, upto, keys)
    by_d = agg.groupby([*keys, "T", "D"])["mu_T"].mean().reset_index()
    ds, mu = by_d["D"].to_numpy(), by_d["mu_T"].to_numpy()
    rows = []
    for key, idx in by_d.groupby([*keys, "T"]).indices.items():
        table = dict(zip(ds[idx].tolist(), mu[idx].tolist(), strict=True))
        rows.append(
            {
                **dict(zip([*keys, "T"], key, strict=True)),
                "D_opt": metrics.optimum(table),
                "n_D": len(table),
            }
        )
    return pd.DataFrame(rows, columns=[*keys, "T", "D_opt", "n_D"])


def monotone(d_opt: dict[int, float]) -> list[int]:
    """The paper's Eq. 6, T1 < T2 ⇒ D_opt(T1) ≤ D_opt(T2): the T at which D_opt falls
    below an earlier optimum (empty: it holds)."""
    ts = sorted(d_opt)
    return [T for i, T in enumerate(ts) if any(d_opt[T] < d_opt[s] for s in ts[:i])]


def axis_groups(
    opt: pd.DataFrame, agg: pd.DataFrame, axis: str
) -> list[tuple[tuple, pd.DataFrame]]:
    """D_opt(T) of conditions that differ only in one label, `axis` (protocol: equal_steps,
    segments, …; regime: replace, accumulate, …), where each of them compared several D:
    what to show side by side. Each group's key is the shared condition with None for the
    axis (sweep.name leaves it out)."""
    rest = [c for c in CONDITION if c != axis]
    several = agg.groupby(CONDITION)["D"].nunique() > 1
    keep = opt.set_index(CONDITION).index.map(lambda k: bool(several.get(k, False)))
    opt = opt[np.asarray(keep, dtype=bool)]
    return [
        (tuple(None if c == axis else dict(zip(rest, k, strict=True))[c] for c in CONDITION), g)
        for k, g in opt.groupby(rest)
        if g[axis].nunique() > 1
    ]
