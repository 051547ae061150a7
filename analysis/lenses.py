"""Lenses: what collapses besides mean perplexity, from the runs' per-(t, model) metrics.

    LENSES          each lens, with the direction that is "less collapsed"
    analyse         per condition and lens: the lens aggregated over t = 0 … T−1 per D
                    (as μ_T aggregates perplexity), D_opt(T) under the lens with the
                    bootstrap probability of each D, agreement with perplexity's
                    D_opt(T), and the first t at which the lens leaves its t = 0 band
    cross_matrices  the M×M cross-model perplexities at the first and last t (run dirs)

A lens made from generations exists only where the models generated (t < T − 1), so
its T stops one short of perplexity's. Its D_opt(T) is drawn only up to the T every D of
the condition reached under that lens (analysis/coverage.py); a lens of pairs of models
(the cross/self ratio) has no value at M = 1, so for it the D with M > 1 are every D.
Each run's lens is read for t = 0, 1, … up to the first t it lacks, so that position k
of the series is always t = k. Runs without any lens (older runs) are skipped, and with
none at all there is nothing to analyse.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from analysis import bootstrap, coverage, stats
from analysis.sweep import CONDITION, RUN, Sweep
from analysis.workers import fork_map
from ecosys.rundir import layout

REL = 0.05  # the t = 0 band where there is a single value (one model, one seed): ±5%


@dataclass(frozen=True)
class Lens:
    key: str  # the metric's name in metrics.jsonl
    title: str
    sign: int  # +1: higher is less collapsed; −1: lower is; 0: plotted, no D_opt
    pairs: bool = False  # of pairs of models: none where M = 1

    @property
    def direction(self) -> str:
        return {1: "higher", -1: "lower", 0: "— (plotted only)"}[self.sign]


# Lenses of each model's own continuations depend on the size of its set (n = N / M:
# fewer samples hold fewer distinct n-grams, fewer token ids, fewer references for
# self-BLEU), so across D they are plotted only; the same lenses of the pool, N blocks
# whatever D, carry the comparison across D.
LEXICAL = [*(f"distinct_{n}" for n in range(1, 5)), "entropy", "vocab"]
TITLES = {**{f"distinct_{n}": f"distinct-{n}" for n in range(1, 5)}, "entropy": "token entropy"}
TITLES |= {"vocab": "vocabulary used", "tail_share": "tail-token share", "self_bleu": "self-BLEU"}
LENSES = (
    *(Lens(f"pool/{k}", f"{TITLES[k]} (pool)", 1) for k in LEXICAL),
    Lens("pool/tail_share", "tail-token share (pool)", 1),
    Lens("pool/self_bleu", "self-BLEU (pool)", -1),
    *(Lens(f"lens/{k}", f"{TITLES[k]} (per model)", 0) for k in LEXICAL),
    Lens("lens/tail_share", "tail-token share", 1),
    Lens("lens/tail_top10", "tail in top-10", 1),
    Lens("lens/tail_recall", "tail recall", 1),
    # A model that finds its own samples easy has narrowed onto its modes: over-confidence
    # is the collapse, so a higher self-perplexity is the less collapsed.
    Lens("lens/self_ppl", "self-perplexity", 1),
    Lens("lens/self_bleu", "self-BLEU (per model)", 0),
    Lens("ppl/p50", "perplexity p50", -1),
    Lens("ppl/p90", "perplexity p90", -1),
    Lens("ppl/p99", "perplexity p99", -1),
    Lens("lens/cross_ratio", "cross/self ppl ratio", 1, pairs=True),
    # Neither end is the healthy one: a Zipf slope is right where it matches the real
    # data's (not logged), and cross-model perplexity mixes the models' sharpness with
    # their distance from each other (cross_ratio separates the two).
    Lens("lens/zipf", "Zipf slope", 0),
    Lens("lens/cross_ppl", "cross-model perplexity", 0, pairs=True),
)
REFERENCE = Lens("ppl/mean", "perplexity μ_t", -1)  # for "which moves first" only
REAL = "lens/tail_share"  # its t = −1 value is the real training blocks', not a model's


def present(rows: pd.DataFrame | None) -> list[Lens]:
    """The lenses some run logged (none for older runs)."""
    if rows is None or rows.empty:
        return []
    return [x for x in LENSES if x.key in rows and rows[x.key].notna().any()]


def values(rows: pd.DataFrame, lens: Lens) -> pd.DataFrame:
    """(run …, m, t) → value for t ≥ 0: the model rows where they carry the lens, else
    the ecosystem rows as one model (lenses of the whole ecosystem, cross_*); each run cut
    at the first t at which any of its models lacks it."""
    if lens.key not in rows:
        return pd.DataFrame(columns=[*RUN, "m", "t", "value"])
    models = rows[(rows["scope"] == "model") & rows[lens.key].notna()]
    scoped = models if len(models) else rows[rows["scope"] == "ecosystem"].assign(m=0)
    v = scoped[scoped["t"] >= 0][[*RUN, "m", "t", lens.key]].dropna(subset=[lens.key])
    v = v.rename(columns={lens.key: "value"}).astype({"m": int, "t": int})
    # a run's t is complete where every model of the run has the lens; k: its first t
    # that is not (t = 0, 1, … in order)
    full = v.groupby(["run", "t"])["m"].transform("nunique") == v.groupby("run")["m"].transform(
        "nunique"
    )
    done = v.loc[full, ["run", "t"]].drop_duplicates().sort_values(["run", "t"])
    leading = pd.Series(done["t"].to_numpy() == done.groupby("run").cumcount().to_numpy())
    who = done["run"].to_numpy()
    k = leading.groupby(who).cummin().groupby(who).sum().to_dict()
    return v[v["t"].to_numpy() < [k.get(r, 0) for r in v["run"]]].reset_index(drop=True)


@dataclass
class Lenses:
    """analyse's tables. agg: condition, lens, D, T → value (seed mean), lo, hi;
    opt: condition, lens, T → D_opt, p, ppl_D_opt, agrees; first: condition, lens →
    D, t (first t outside the t = 0 band; NaN: never), change, band, rule;
    seeds: condition → its number of seeds."""

    lenses: list[Lens]
    agg: pd.DataFrame
    opt: pd.DataFrame
    first: pd.DataFrame
    seeds: dict[tuple, int]


def analyse(
    rows: pd.DataFrame, runs: pd.DataFrame, ppl_opt: pd.DataFrame, reps: int = 1000, seed: int = 0
) -> Lenses:
    """Every present lens, with perplexity's D_opt(T) (stats.optimum) to compare to; runs:
    the sweep's (what D each condition has, and their M)."""
    found = present(rows)
    smallest = rows.groupby(CONDITION)["D"].min() if found else pd.Series()

    def one(lens: Lens) -> tuple[pd.DataFrame, pd.DataFrame | None, list[dict]] | None:
        v = values(rows, lens)
        if v.empty:
            return None
        agg, opt, intervals = _aggregate(v, lens, _upto(v, lens, runs), reps, seed)
        keep = opt if lens.sign and lens.key != REFERENCE.key else None
        return agg, keep, _first_moves(v, lens, intervals, smallest)

    # each lens's bootstrap has its own generator (seed): the same in any process
    done = [r for r in fork_map(one, [*found, REFERENCE] if found else []) if r is not None]
    aggs = [agg for agg, _, _ in done]
    opts = [opt for _, opt, _ in done if opt is not None]
    firsts = [f for _, _, first in done for f in first]
    seeds = rows.groupby(CONDITION)["seed"].nunique().to_dict() if found else {}
    opt = pd.concat(opts, ignore_index=True) if opts else pd.DataFrame()
    if len(opt):
        ppl = ppl_opt[[*CONDITION, "T", "D_opt"]].rename(columns={"D_opt": "ppl_D_opt"})
        opt = opt.merge(ppl, on=[*CONDITION, "T"], how="left")
        opt["agrees"] = [
            None if p != p else bool(d == p)
            for d, p in zip(opt["D_opt"], opt["ppl_D_opt"], strict=True)
        ]
    return Lenses(
        found,
        pd.concat(aggs, ignore_index=True) if aggs else pd.DataFrame(),
        opt,
        pd.DataFrame(firsts),
        seeds,
    )


def _upto(v: pd.DataFrame, lens: Lens, runs: pd.DataFrame) -> coverage.Complete:
    """Per condition, the T up to which every D has the lens (coverage.complete over the
    runs that can have it: a run that lacks it counts, at T = 0)."""
    can = runs[runs["M"] > 1] if lens.pairs else runs
    reached = v.groupby("run")["t"].nunique()
    return coverage.complete(can.assign(T=can["run"].map(reached).fillna(0)))


def _aggregate(
    v: pd.DataFrame, lens: Lens, upto: coverage.Complete, reps: int, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Point values, D_opt and the bootstrap of one lens, by stats' and bootstrap's own
    code on the lens signed so that lower is less collapsed (their argmin); D_opt and its
    P up to the complete T `upto`."""
    s = -lens.sign or 1  # higher-is-better lenses are negated
    signed = v.assign(mu_mt=s * v["value"])
    eco = signed.groupby([*RUN, "t"])["mu_mt"].mean().rename("mu_t").reset_index()
    agg = stats.aggregated(eco)
    runs = eco.groupby(RUN)["t"].nunique().rename("T_done").reset_index()
    intervals, p_opt = bootstrap.bootstrap(
        Sweep(runs, signed, pd.DataFrame()), reps=reps, seed=seed, upto=upto
    )
    lo, hi = s * intervals["lo"], s * intervals["hi"]
    intervals = intervals.assign(lo=np.minimum(lo, hi), hi=np.maximum(lo, hi))
    opt = stats.optimum(agg, upto).merge(
        p_opt.rename(columns={"D": "D_opt"}), on=[*CONDITION, "T", "D_opt"], how="left"
    )
    point = agg.groupby([*CONDITION, "D", "T"])["mu_T"].mean().mul(s).rename("value")
    table = point.reset_index().merge(intervals, on=[*CONDITION, "D", "T"], how="left")
    return table.assign(lens=lens.key), opt.assign(lens=lens.key), intervals


def _first_moves(
    v: pd.DataFrame, lens: Lens, intervals: pd.DataFrame, smallest: pd.Series
) -> list[dict]:
    """Per condition, at its smallest D (a lens that lacks it there is left out): the
    first t ≥ 1 whose value (mean over models and seeds) leaves the t = 0 band. The band
    is the bootstrap interval of the t = 0 value over models and seeds; a single value
    (one model, one seed) has no spread to resample, so there the band is ±REL of it: a
    convention, not an uncertainty."""
    out = []
    bands = intervals.set_index([*CONDITION, "D", "T"])
    for cond, g in v.groupby(CONDITION):
        d = smallest[cond]
        at_d = g[g["D"] == d]
        if at_d.empty:
            continue
        mu = at_d.groupby(["run", "t"])["value"].mean().groupby("t").mean()
        if 0 not in mu:
            continue
        units = len(at_d[at_d["t"] == 0])
        if units > 1:
            ci = bands.loc[(*cond, d, 1)]
            lo, hi, rule = ci["lo"], ci["hi"], "bootstrap"
        else:
            lo, hi, rule = mu[0] - REL * abs(mu[0]), mu[0] + REL * abs(mu[0]), "relative"
        out_t = [t for t in mu.index if t >= 1 and not lo <= mu[t] <= hi]
        t = out_t[0] if out_t else np.nan
        out.append(
            {
                **dict(zip(CONDITION, cond, strict=True)),
                "lens": lens.key,
                "D": d,
                "t": t,
                "change": mu[t] / mu[0] - 1 if out_t and mu[0] else np.nan,
                "collapsing": (mu[t] - mu[0]) * lens.sign < 0 if out_t and lens.sign else None,
                "lo": lo,
                "hi": hi,
                "rule": rule,
            }
        )
    return out


def series(rows: pd.DataFrame, lenses: list[Lens]) -> pd.DataFrame:
    """Per condition, D, t (−1 included) and lens: the ecosystem value, mean over seeds
    (the ecosystem rows' own mean over models)."""
    eco = rows[rows["scope"] == "ecosystem"]
    keys = [x.key for x in lenses if x.key in eco]
    long = eco.melt(id_vars=[*CONDITION, "D", "t"], value_vars=keys, var_name="lens")
    return (
        long.dropna(subset=["value"]).groupby([*CONDITION, "D", "t", "lens"]).mean().reset_index()
    )


def cross_matrices(runs: pd.DataFrame) -> dict[tuple, list[tuple[int, int, np.ndarray]]]:
    """Per condition, at its largest D and lowest seed: (seed, t, matrix) at the first
    and last t that has cross/tTT.npy. Conditions whose runs have none (W&B sweeps, older
    runs) are left out."""
    out = {}
    for cond, g in runs.groupby(CONDITION):
        for _, r in g[g["D"] == g["D"].max()].sort_values("seed").iterrows():
            files = sorted(Path(r["path"]).glob(layout.cross_glob())) if r["path"] else []
            if files:
                ts = sorted(int(f.stem[1:]) for f in files)
                out[cond] = [
                    (int(r["seed"]), t, np.load(Path(r["path"]) / layout.npy(layout.cross(t))))
                    for t in dict.fromkeys((ts[0], ts[-1]))
                ]
                break
    return out
