"""The analysis's tables, computed once from a Sweep and read by every writer (the
printout, report.md, the figures, W&B) as typed fields, not string keys.

    Analysis    the whole sweep: μ_t (eco), μ_T (agg), the complete T per condition
                (upto), D_opt(T) (opt), the bootstrap's intervals and P (p_opt), the
                comparisons along one label (regimes, protocols, curations), the lenses
                (when first read), and
    Condition   the same tables cut to one condition, with its collapse rate
                (analysis/rate.py), its synthetic world's floor and what its coverage
                leaves out (analysis/coverage.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import pandas as pd

from analysis import bootstrap, coverage, lenses, stats
from analysis.rate import Rate, rates
from analysis.sweep import CONDITION, Sweep, condition_key

Groups = list[tuple[tuple, pd.DataFrame]]  # stats.axis_groups: (key, the arms' D_opt rows)


@dataclass
class Condition:
    """One condition's tables (each the rows of that condition only)."""

    runs: pd.DataFrame
    eco: pd.DataFrame  # run, t → mu_t, std
    agg: pd.DataFrame  # run, T → mu_T
    opt: pd.DataFrame  # T → D_opt (up to the complete T)
    p_opt: pd.DataFrame  # T, D → p
    intervals: pd.DataFrame  # D, T → lo, hi
    world: tuple[float, float] | None  # exp(H) and the oracle's test ppl (synthetic world)
    coverage: list[str] = field(default_factory=list)  # which D stop where, in words
    rate: Rate | None = None  # D = 1's collapse rate (None: it reached t = 0 only)

    @property
    def single_seed(self) -> bool:
        return self.eco["seed"].nunique() == 1


@dataclass
class Analysis:
    """Every table of a sweep's analysis; `conditions` in sweep.condition_key order."""

    sweep: Sweep
    eco: pd.DataFrame
    agg: pd.DataFrame
    upto: coverage.Complete
    opt: pd.DataFrame
    intervals: pd.DataFrame
    p_opt: pd.DataFrame
    conditions: dict[tuple, Condition]
    regimes: Groups
    protocols: Groups
    curations: Groups
    reps: int
    seed: int

    @cached_property
    def lens(self) -> lenses.Lenses:
        """The lenses' tables: computed when first asked for, after the first tables print
        (a bootstrap per lens)."""
        s = self.sweep
        return lenses.analyse(s.rows, s.runs, self.opt, reps=self.reps, seed=self.seed)

    @property
    def several(self) -> bool:
        """Whether the sweep has more than one condition (a comparison to draw)."""
        return len(self.conditions) > 1


def analyse(sweep: Sweep, reps: int = 1000, seed: int = 0) -> Analysis:
    """The sweep's tables: statistics, bootstrap, collapse rates, per-condition cuts,
    comparisons, lenses."""
    eco = stats.ecosystem(sweep)
    agg = stats.aggregated(eco)
    upto = coverage.complete(sweep.runs, "T_done")
    opt = stats.optimum(agg, upto)
    intervals, p_opt = bootstrap.bootstrap(sweep, reps=reps, seed=seed, upto=upto)
    rate = rates(sweep, eco, reps=reps, seed=seed)
    frames = dict(runs=sweep.runs, agg=agg, opt=opt, p_opt=p_opt, intervals=intervals)
    parts = {k: _by_condition(f) for k, f in frames.items()}

    def cut(k: str, cond: tuple) -> pd.DataFrame:  # no rows there: empty, same columns
        return parts[k].get(cond, frames[k].iloc[:0])

    conditions = {}
    groups = sorted(eco.groupby(CONDITION), key=lambda pair: condition_key(pair[0]))
    for cond, g in groups:
        runs = cut("runs", cond)
        world = runs[["entropy_rate_ppl", "oracle_test_ppl"]].dropna()
        conditions[cond] = Condition(
            runs=runs,
            eco=g,
            **{k: cut(k, cond) for k in ("agg", "opt", "p_opt", "intervals")},
            world=tuple(world.iloc[0]) if len(world) else None,
            coverage=coverage.lines(runs, upto.get(cond, 0)),
            rate=rate.get(cond),
        )
    return Analysis(
        sweep=sweep,
        eco=eco,
        agg=agg,
        upto=upto,
        opt=opt,
        intervals=intervals,
        p_opt=p_opt,
        conditions=conditions,
        regimes=stats.axis_groups(opt, agg, "regime"),
        protocols=stats.axis_groups(opt, agg, "protocol"),
        curations=stats.axis_groups(opt, agg, "curation"),
        reps=reps,
        seed=seed,
    )


def _by_condition(frame: pd.DataFrame) -> dict[tuple, pd.DataFrame]:
    """The rows of each condition, in one pass (not a mask per condition)."""
    if frame.empty:
        return {}
    return {tuple(k): g for k, g in frame.groupby(CONDITION, sort=False)}
