"""How fast a condition collapses, measured: D = 1's collapse rate, the quantity D_opt(T)
depends on (DESIGN.md §1: the phase diagram D_opt(T) × collapse rate).

    rate = mean over t = 0 … t_last − 1 of  log μ_{t+1} − log μ_t
         = (log μ_{t_last} − log μ_0) / t_last          (the sum telescopes)

per iteration: μ_t grows by a factor exp(rate) per t on average; 0 is no collapse, a
negative rate a μ_t that falls (a model still learning from its generations). μ_t is the
ecosystem's mean test perplexity averaged over seeds (as μ_T is), and t_last the last t
every seed of that D reached, so that the same seeds make both ends. D = 1 is the
collapsing ecosystem the paper starts from; where a condition did not run it, its
smallest D stands in, and `Rate.D` says which.

Its 95% interval is the percentile interval of the bootstrap μ_T's intervals come from
(bootstrap.mu_t: test blocks, models and seeds resampled, one draw for both ends), not
an interval over seeds: it exists with one seed (most real-model grids have one), where
it is "given this seed" like every other interval of the report.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis import bootstrap
from analysis.sweep import CONDITION, Sweep, d_label

LEVEL = 0.95


def per_iteration(mu_0: np.ndarray | float, mu_last: np.ndarray | float, t_last: int):
    """The mean of log μ_{t+1} − log μ_t over t = 0 … t_last − 1, from its two ends."""
    return (np.log(mu_last) - np.log(mu_0)) / t_last


def measured_d(ds) -> float:
    """The D whose rate a condition reports: D = 1, else its smallest D."""
    ds = sorted(ds)
    return 1.0 if 1.0 in ds else float(ds[0])


def fmt(x: float) -> str:
    """A rate per iteration as every writer shows it (−0.027, 0.0077, 0.54)."""
    return f"{x:.2g}" if abs(x) < 0.01 else f"{x:.3g}"


def stand_in(D: float) -> str:
    """' at D = 2' where the rate is measured at a D other than 1, else ''."""
    return "" if D == 1.0 else f" at D = {d_label(D)}"


def with_interval(value: float, lo: float, hi: float) -> str:
    """'0.3 [0.29, 0.31]'."""
    return f"{fmt(value)} [{fmt(lo)}, {fmt(hi)}]"


@dataclass(frozen=True)
class Rate:
    """One condition's collapse rate, per iteration, with its interval."""

    D: float  # the D measured: 1, or the condition's smallest D where it has no D = 1
    t_last: int  # the rate is over μ_0 … μ_{t_last}
    mu: tuple[float, float]  # μ_0 and μ_{t_last} (means over seeds)
    value: float
    lo: float
    hi: float
    seeds: int

    @property
    def stand_in(self) -> bool:
        """Whether the condition lacks D = 1 and its smallest D is measured instead."""
        return self.D != 1.0

    @property
    def text(self) -> str:
        """'0.3 [0.29, 0.31]'."""
        return with_interval(self.value, self.lo, self.hi)

    @property
    def over(self) -> str:
        """What it is measured on: 'D = 1, t = 0 … 9'."""
        return f"D = {d_label(self.D)}, t = 0 … {self.t_last}"


def rates(sweep: Sweep, eco: pd.DataFrame, reps: int = 1000, seed: int = 0) -> dict[tuple, Rate]:
    """Per condition its Rate (stats.ecosystem's μ_t in `eco`); none where its measured D
    reached t = 0 only (no step to measure)."""
    rng = np.random.default_rng(seed)
    q = [(1 - LEVEL) / 2, 1 - (1 - LEVEL) / 2]
    out = {}
    for cond, runs in sweep.runs[sweep.runs["T_done"] > 0].groupby(CONDITION):
        d = measured_d(runs["D"].unique())
        runs = runs[runs["D"] == d]
        t_last = int(runs["T_done"].min()) - 1
        if t_last < 1:
            continue
        mu = eco[eco["run"].isin(runs["run"]) & eco["t"].isin([0, t_last])]
        mu_0, mu_last = mu.groupby("t")["mu_t"].mean().loc[[0, t_last]]
        draws = bootstrap.mu_t(sweep, runs, [0, t_last], reps, rng)
        lo, hi = np.quantile(per_iteration(draws[:, 0], draws[:, 1], t_last), q)
        out[cond] = Rate(
            D=d,
            t_last=t_last,
            mu=(float(mu_0), float(mu_last)),
            value=float(per_iteration(mu_0, mu_last, t_last)),
            lo=float(lo),
            hi=float(hi),
            seeds=runs["seed"].nunique(),
        )
    return out
