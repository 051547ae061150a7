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
    """Per run, [M, T_done, B] perplexities for t ≥ 0: the reader's blocks (sweep.cubes),
    else μ_{m,t} as B = 1 (W&B keeps no blocks; a lens's values)."""
    names = list(runs["run"])
    if sweep.cubes is not None:
        return {run: sweep.cubes[run] for run in names}
    g = sweep.means[(sweep.means["t"] >= 0) & sweep.means["run"].isin(names)]
    m, t, v = (g[c].to_numpy() for c in ("m", "t", "mu_mt"))
    out = {}
    for run, idx in g.groupby("run").indices.items():
        out[run] = _pivot(m[idx], t[idx], v[idx])[:, :, None]
    return out


def _pivot(rows: np.ndarray, cols: np.ndarray, values: np.ndarray) -> np.ndarray:
    """[rows × cols] of the values, as pivot_table would make it: the distinct row and
    column keys sorted, repeats averaged, NaN where a pair has no value."""
    r_keys, r = np.unique(rows, return_inverse=True)
    c_keys, c = np.unique(cols, return_inverse=True)
    total = np.zeros((len(r_keys), len(c_keys)))
    count = np.zeros_like(total)
    np.add.at(total, (r, c), values)
    np.add.at(count, (r, c), 1)
    with np.errstate(invalid="ignore"):
        return np.where(count > 0, total / count, np.nan)


def _weights(rng: np.random.Generator, reps: int, n: int) -> np.ndarray:
    """[reps, n] resampling weights that sum to 1 per replicate."""
    return rng.multinomial(n, np.full(n, 1.0 / n), size=reps) / n


PATHS: dict[tuple, list] = {}  # einsum's contraction order per shape, found once


def _mu_t(cube: np.ndarray, model_w: np.ndarray, block_w: np.ndarray) -> np.ndarray:
    """[reps, T] μ_t of one run under the replicates' model and block weights."""
    if cube.shape[2] == 1:  # no blocks (a lens, a W&B sweep): the block weight is 1
        return model_w @ cube[:, :, 0]
    spec, shapes = "rm,mtb,rb->rt", (model_w.shape, cube.shape, block_w.shape)
    if shapes not in PATHS:
        PATHS[shapes] = np.einsum_path(spec, model_w, cube, block_w, optimize=True)[0]
    return np.einsum(spec, model_w, cube, block_w, optimize=PATHS[shapes])


def _mu_T(cube: np.ndarray, model_w: np.ndarray, block_w: np.ndarray) -> np.ndarray:
    """[reps, T] μ_T of one run under the replicates' model and block weights."""
    mu_t = _mu_t(cube, model_w, block_w)
    return np.cumsum(mu_t, axis=1) / np.arange(1, mu_t.shape[1] + 1)


def _seeds(rng: np.random.Generator, per_run: list[np.ndarray], out: np.ndarray) -> None:
    """Resample the seeds of one D at every T (a weight per run that reached T), into
    out [reps, t_max]. Where every run reached every T, one draw of the same stream for
    all T at once (numpy's multinomial draws a batch as it draws one after another)."""
    r, t_max = out.shape
    if per_run and all(x.shape[1] == t_max for x in per_run):
        n = len(per_run)
        w = rng.multinomial(n, np.full(n, 1.0 / n), size=(t_max, r)) / n  # [T, reps, n]
        x = np.ascontiguousarray(np.stack(per_run, axis=2).transpose(1, 0, 2))  # [T, reps, n]
        out[:] = (w * x).sum(2).T
        return
    for T in range(1, t_max + 1):
        have = [x[:, T - 1] for x in per_run if x.shape[1] >= T]
        if have:
            out[:, T - 1] = (_weights(rng, r, len(have)) * np.stack(have, axis=1)).sum(1)


def mu_t(
    sweep: Sweep, runs: pd.DataFrame, ts: list[int], reps: int, rng: np.random.Generator
) -> np.ndarray:
    """[reps, len(ts)] μ_t averaged over `runs` (one D's seeds, each of which reached
    max(ts)) at the t in `ts`, resampled as `bootstrap` does (test blocks, models, seeds),
    with one draw per replicate shared by every t: a quantity of several t (analysis/rate.py's
    collapse rate) keeps their pairing."""
    cubes = _arrays(sweep, runs)
    sizes = {c.shape[2] for c in cubes.values()}
    out = np.empty((reps, len(ts)))
    for start in range(0, reps, CHUNK):
        r = min(CHUNK, reps - start)
        shared = {b: _weights(rng, r, b) for b in sizes}  # one block draw per test-set size
        per_run = [
            _mu_t(c[:, ts], _weights(rng, r, c.shape[0]), shared[c.shape[2]])
            for c in cubes.values()
        ]
        seed_w = _weights(rng, r, len(per_run))
        out[start : start + r] = np.einsum("rs,rst->rt", seed_w, np.stack(per_run, axis=1))
    return out


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
        of_d = {d: list(runs.loc[runs["D"] == d, "run"]) for d in ds}
        for start in range(0, reps, CHUNK):
            r = min(CHUNK, reps - start)
            shared = {b: _weights(rng, r, b) for b in sizes}  # one block draw per test-set size
            for d in ds:
                per_run = [
                    _mu_T(
                        cubes[run],
                        _weights(rng, r, cubes[run].shape[0]),
                        shared[cubes[run].shape[2]],
                    )
                    for run in of_d[d]
                ]
                _seeds(rng, per_run, draws[d][start : start + r])
        for T in range(1, t_max + 1):
            present = [d for d in ds if not np.isnan(draws[d][:, T - 1]).any()]
            if not present:
                continue
            stack = np.stack([draws[d][:, T - 1] for d in present], axis=1)
            bounds = np.quantile(stack, [lo_q, hi_q], axis=0)
            for i, d in enumerate(present):
                lo, hi = bounds[:, i]
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
