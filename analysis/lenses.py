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
    """(run …, m, t) → value for t ≥ 0 of one lens (see `_long`)."""
    return _long(rows, [lens]).drop(columns="lens")


def _long(rows: pd.DataFrame, lenses: list[Lens]) -> pd.DataFrame:
    """(run …, m, t) → value for t ≥ 0, and the lens, for every lens some row has: the
    model rows where they carry the lens, else the ecosystem rows as one model (lenses of
    the whole ecosystem, cross_*); each run cut at the first t at which any of its
    models lacks the lens. One table for all lenses: the analysis's steps then run once,
    not once a lens (with 25 lenses and perplexity, pandas' per-call cost was most of it)."""
    model, eco = rows[rows["scope"] == "model"], rows[rows["scope"] == "ecosystem"]
    parts = []
    for lens in lenses:
        if lens.key not in rows:
            continue
        have = model[model[lens.key].notna()]
        scoped = have if len(have) else eco.assign(m=0)
        v = scoped.loc[scoped["t"] >= 0, [*RUN, "m", "t", lens.key]].dropna(subset=[lens.key])
        parts.append(v.rename(columns={lens.key: "value"}).assign(lens=lens.key))
    if not parts:
        return pd.DataFrame(columns=[*RUN, "m", "t", "value", "lens"])
    v = pd.concat(parts, ignore_index=True).astype({"m": int, "t": int})
    # a run's t is complete where every model of the run has the lens; k: its first t
    # that is not (t = 0, 1, … in order)
    each = ["lens", "run"]
    full = v.groupby([*each, "t"])["m"].transform("nunique") == v.groupby(each)["m"].transform(
        "nunique"
    )
    done = v.loc[full, [*each, "t"]].drop_duplicates().sort_values([*each, "t"])
    leading = pd.Series(done["t"].to_numpy() == done.groupby(each).cumcount().to_numpy())
    who = [done["lens"].to_numpy(), done["run"].to_numpy()]
    k = leading.groupby(who).cummin().groupby(who).sum().to_dict()
    cut = [k.get(key, 0) for key in zip(v["lens"], v["run"], strict=True)]
    return v[v["t"].to_numpy() < cut].reset_index(drop=True)


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


BY = ["lens", *CONDITION]  # a lens's condition: the keys stats and coverage group by here


def analyse(
    rows: pd.DataFrame, runs: pd.DataFrame, ppl_opt: pd.DataFrame, reps: int = 1000, seed: int = 0
) -> Lenses:
    """Every present lens, with perplexity's D_opt(T) (stats.optimum) to compare to; runs:
    the sweep's (what D each condition has, and their M). Each lens is signed so that
    lower is less collapsed and run through stats' and bootstrap's own code, all lenses
    at once (a lens is one more key of the condition), but for the bootstrap: each lens
    has its own generator (seed), the same in any process."""
    found = present(rows)
    if not found:
        return Lenses([], pd.DataFrame(), pd.DataFrame(), pd.DataFrame(), {})
    seeds = rows.groupby(CONDITION)["seed"].nunique().to_dict()
    everyone = [*found, REFERENCE]
    v = _long(rows, everyone)
    order = {x.key: i for i, x in enumerate(everyone)}
    with_values = set(v["lens"])
    done = [x for x in everyone if x.key in with_values]
    if not done:
        return Lenses(found, pd.DataFrame(), pd.DataFrame(), pd.DataFrame(), seeds)
    sign = {x.key: -x.sign or 1 for x in done}  # higher-is-better lenses are negated
    signed = v.assign(mu_mt=v["value"] * v["lens"].map(sign))
    eco = signed.groupby(["lens", *RUN, "t"])["mu_mt"].mean().rename("mu_t").reset_index()
    agg = stats.aggregated(eco, ["lens", *RUN])
    reached = eco.groupby(["lens", *RUN])["t"].nunique().rename("T_done").reset_index()
    upto = _upto(reached, done, runs)
    intervals, p_opt = _bootstrap(signed, reached, done, upto, reps, seed)
    intervals = _unsign(intervals, sign)

    point = agg.groupby([*BY, "D", "T"])["mu_T"].mean()
    point = (point * point.index.get_level_values("lens").map(sign)).rename("value")
    table = point.reset_index().merge(intervals, on=[*BY, "D", "T"], how="left")
    table = _in_order(table, order)[[*CONDITION, "D", "T", "value", "lo", "hi", "lens"]]

    scored = [x.key for x in done if x.sign and x.key != REFERENCE.key]  # those with a D_opt
    opt = pd.DataFrame()
    if scored:
        opt = stats.optimum(agg, upto, BY).merge(
            p_opt.rename(columns={"D": "D_opt"}), on=[*BY, "T", "D_opt"], how="left"
        )
        opt = _in_order(opt[opt["lens"].isin(scored)], order)
        opt = opt[[*CONDITION, "T", "D_opt", "n_D", "p", "lens"]]
    if len(opt):
        ppl = ppl_opt[[*CONDITION, "T", "D_opt"]].rename(columns={"D_opt": "ppl_D_opt"})
        opt = opt.merge(ppl, on=[*CONDITION, "T"], how="left")
        opt["agrees"] = [
            None if p != p else bool(d == p)
            for d, p in zip(opt["D_opt"], opt["ppl_D_opt"], strict=True)
        ]
    first = _first_moves(v, done, intervals, rows.groupby(CONDITION)["D"].min())
    return Lenses(found, table, opt, pd.DataFrame(first), seeds)


def _in_order(frame: pd.DataFrame, order: dict[str, int]) -> pd.DataFrame:
    """The rows lens by lens in LENSES' order (each lens's own rows as they were)."""
    at = np.argsort(frame["lens"].map(order).to_numpy(), kind="stable")
    return frame.iloc[at].reset_index(drop=True)


def _upto(reached: pd.DataFrame, lenses: list[Lens], runs: pd.DataFrame) -> coverage.Complete:
    """Per lens and condition, the T up to which every D has the lens (coverage.complete
    over the runs that can have it: a run that lacks it counts, at T = 0)."""
    per_run = reached.set_index(["lens", "run"])["T_done"]  # the t each lens has per run
    parts = []
    for lens in lenses:
        can = runs[runs["M"] > 1] if lens.pairs else runs
        got = per_run.xs(lens.key, level="lens")
        parts.append(can.assign(lens=lens.key, T=can["run"].map(got).fillna(0)))
    return coverage.complete(pd.concat(parts, ignore_index=True), keys=BY)


def _bootstrap(
    signed: pd.DataFrame,
    reached: pd.DataFrame,
    lenses: list[Lens],
    upto: coverage.Complete,
    reps: int,
    seed: int,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """bootstrap.bootstrap of each lens (its intervals and P(D_opt)), a lens at a time by
    forked workers, each with its own generator: a lens's numbers do not depend on which
    other lenses there are."""
    means = dict(tuple(signed.groupby("lens", sort=False)))
    runs = dict(tuple(reached.groupby("lens", sort=False)))

    def one(key: str) -> tuple[pd.DataFrame, pd.DataFrame]:
        limits = {k[1:]: n for k, n in upto.items() if k[0] == key}
        sweep = Sweep(
            runs[key].drop(columns="lens").reset_index(drop=True), means[key], pd.DataFrame()
        )
        intervals, p_opt = bootstrap.bootstrap(sweep, reps=reps, seed=seed, upto=limits)
        return intervals.assign(lens=key), p_opt.assign(lens=key)

    parts = fork_map(one, [x.key for x in lenses])
    return (
        pd.concat([i for i, _ in parts], ignore_index=True),
        pd.concat([p for _, p in parts], ignore_index=True),
    )


def _unsign(intervals: pd.DataFrame, sign: dict[str, int]) -> pd.DataFrame:
    """Intervals back on each lens's own scale (a negated lens's bounds swap)."""
    s = intervals["lens"].map(sign)
    lo, hi = s * intervals["lo"], s * intervals["hi"]
    return intervals.assign(lo=np.minimum(lo, hi), hi=np.maximum(lo, hi))


def _first_moves(
    v: pd.DataFrame, lenses: list[Lens], intervals: pd.DataFrame, smallest: pd.Series
) -> list[dict]:
    """Per lens and condition, at the condition's smallest D (a lens that lacks it there is
    left out): the first t ≥ 1 whose value (mean over models and seeds) leaves the t = 0
    band. The band is the bootstrap interval of the t = 0 value over models and seeds; a
    single value (one model, one seed) has no spread to resample, so there the band is
    ±REL of it: a convention, not an uncertainty."""
    bands = intervals.set_index([*BY, "D", "T"])
    signs = {x.key: x.sign for x in lenses}
    d_min = smallest.rename("d_min").reset_index()
    at_d = v.merge(d_min, on=CONDITION, how="left")
    at_d = at_d[at_d["D"] == at_d["d_min"]]
    mu = at_d.groupby([*BY, "run", "t"])["value"].mean().groupby(level=[*BY, "t"]).mean()
    units = at_d[at_d["t"] == 0].groupby(BY).size().to_dict()
    series: dict[tuple, dict[int, float]] = {}
    for (*key, t), value in mu.items():
        series.setdefault(tuple(key), {})[t] = value
    by_lens: dict[str, list[dict]] = {}
    for key, mu_t in series.items():  # (lens, condition …), sorted as groupby sorts them
        lens, cond = key[0], key[1:]
        if 0 not in mu_t:
            continue
        d, sign = smallest[cond], signs[lens]
        if units.get(key, 0) > 1:
            ci = bands.loc[(lens, *cond, d, 1)]
            lo, hi, rule = ci["lo"], ci["hi"], "bootstrap"
        else:
            m0 = mu_t[0]
            lo, hi, rule = m0 - REL * abs(m0), m0 + REL * abs(m0), "relative"
        out_t = [t for t in mu_t if t >= 1 and not lo <= mu_t[t] <= hi]
        t = out_t[0] if out_t else np.nan
        by_lens.setdefault(lens, []).append(
            {
                **dict(zip(CONDITION, cond, strict=True)),
                "lens": lens,
                "D": d,
                "t": t,
                "change": mu_t[t] / mu_t[0] - 1 if out_t and mu_t[0] else np.nan,
                "collapsing": (mu_t[t] - mu_t[0]) * sign < 0 if out_t and sign else None,
                "lo": lo,
                "hi": hi,
                "rule": rule,
            }
        )
    return [row for x in lenses for row in by_lens.get(x.key, [])]


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
