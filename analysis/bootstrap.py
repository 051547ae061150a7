"""Uncertainty the paper does not give: a bootstrap over test blocks, models and seeds.

One replicate resamples, with replacement and per condition: the test blocks (one draw
shared by all runs whose test sets match, so the comparison across D stays paired),
the models of every run, and the seeds of every D. It recomputes μ_T(D) for every T
and the argmin D_opt(T). Over R replicates: a percentile interval on μ_T(D) and, for
each T up to the condition's complete T (every D reached it: analysis/coverage.py), the
share of replicates in which each D is the optimum. Sweeps read from W&B
carry no per-block values; there the blocks are not resampled.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis import coverage
from analysis.sweep import CONDITION, Sweep

CHUNK = 100  # replicates per vectorised step: bounds memory at CHUNK × T × blocks floats


def _arrays(sweep: Sweep, runs: pd.DataFrame) -> dict[str, np.ndarray]:
    """Per run, [M, T_done, B] perplexities for t ≥ 0 (B = 1: μ_{m,t} when no blocks)."""
    out = {}
    for run in runs["run"]:
        if sweep.blocks is not None:
            b = sweep.blocks[(sweep.blocks["run"] == run) & (sweep.blocks["t"] >= 0)]
            cube = b.pivot_table(index=["m", "t"], columns="block", values="ppl").sort_index()
            m, t = cube.index.levshape
            out[run] = cube.to_numpy().reshape(m, t, -1)
        else:
            g = sweep.means[(sweep.means["run"] == run) & (sweep.means["t"] >= 0)]
            cube = g.pivot_table(index="m", columns="t", values="mu_mt").sort_index()
            out[run] = cube.to_numpy()[:, :, None]
    return out


def _weights(rng: np.random.Generator, reps: int, n: int) -> np.ndarray:
    """[reps, n] resampling weights that sum to 1 per replicate."""
    return rng.multinomial(n, np.full(n, 1.0 / n), size=reps) / n


def _mu_T(cube: np.ndarray, model_w: np.ndarray, block_w: np.ndarray) -> np.ndarray:
    """[reps, T] μ_T of one run under the replicates' model and block weights."""
    mu_t = np.einsum("rm,mtb,rb->rt", model_w, cube, block_w, optimize=True)
    return np.cumsum(mu_t, axis=1) / np.arange(1, mu_t.shape[1] + 1)


def bootstrap(
    sweep: Sweep,
    reps: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    upto: coverage.Complete | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(intervals: condition, D, T → lo, hi of μ_T, at every T the D reached; optimum:
    condition, T, D → P(D_opt = D), at T up to the complete T `upto` (default: that of
    sweep.runs' T_done), where every D competes)."""
    upto = coverage.complete(sweep.runs, "T_done") if upto is None else upto
    rng = np.random.default_rng(seed)
    lo_q, hi_q = (1 - level) / 2, 1 - (1 - level) / 2
    intervals, optimum = [], []
    for cond, runs in sweep.runs.groupby(CONDITION):
        runs = runs[runs["T_done"] > 0]  # a run with no iteration yet: no μ_T to resample
        if runs.empty:
            continue
        cubes = _arrays(sweep, runs)
        ds = sorted(runs["D"].unique())
        t_max = int(runs["T_done"].max())
        sizes = {c.shape[2] for c in cubes.values()}
        draws = {d: np.full((reps, t_max), np.nan) for d in ds}  # μ_T(D) per replicate
        for start in range(0, reps, CHUNK):
            r = min(CHUNK, reps - start)
            shared = {b: _weights(rng, r, b) for b in sizes}  # one block draw per test-set size
            for d in ds:
                group = runs[runs["D"] == d]
                per_run = [
                    _mu_T(
                        cubes[run],
                        _weights(rng, r, cubes[run].shape[0]),
                        shared[cubes[run].shape[2]],
                    )
                    for run in group["run"]
                ]
                for T in range(1, t_max + 1):
                    have = [x[:, T - 1] for x in per_run if x.shape[1] >= T]
                    if have:
                        seed_w = _weights(rng, r, len(have))
                        draws[d][start : start + r, T - 1] = (seed_w * np.stack(have, axis=1)).sum(
                            1
                        )
        for T in range(1, t_max + 1):
            present = [d for d in ds if not np.isnan(draws[d][:, T - 1]).any()]
            if not present:
                continue
            stack = np.stack([draws[d][:, T - 1] for d in present], axis=1)
            for i, d in enumerate(present):
                lo, hi = np.quantile(stack[:, i], [lo_q, hi_q])
                intervals.append(
                    {**dict(zip(CONDITION, cond, strict=True)), "D": d, "T": T, "lo": lo, "hi": hi}
                )
            if upto.get(cond, 0) < T:
                continue  # some D never reached T: no optimum to speak of
            winners = np.asarray(present)[np.argmin(stack, axis=1)]  # ties: the smaller D
            for d in present:
                optimum.append(
                    {
                        **dict(zip(CONDITION, cond, strict=True)),
                        "T": T,
                        "D": d,
                        "p": float(np.mean(winners == d)),
                    }
                )
    return (
        pd.DataFrame(intervals, columns=[*CONDITION, "D", "T", "lo", "hi"]),
        pd.DataFrame(optimum, columns=[*CONDITION, "T", "D", "p"]),
    )
