"""How far each D of a condition got: the one rule for the T a verdict across D may use.

A grid grown one cell at a time is ragged: its D run to different T. μ_t and μ_T exist per
D as far as each D got, but D_opt(T), its P, Eq. 6 and a lens's D_opt compare every D, so
they are drawn only up to the condition's complete T, the largest T every D of it reached
(`complete`): beyond it the argmin would run over the D that got there only, and a D that
was not run would decide the verdict by its absence. A D reaches T where any of its seeds
did; its μ_T there is the mean over those seeds, and `lines` says so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from analysis.sweep import CONDITION, d_label

Complete = dict[tuple, int]  # condition → its complete T (0: some D has no T at all)


def reach(reached: pd.DataFrame, col: str = "T", keys: Sequence[str] = CONDITION) -> pd.Series:
    """(condition …, D) → the largest T any seed of D reached. `reached` holds the
    condition's `keys`, D and `col`: a row per T reached (μ_T rows) or per run (its
    T_done); 0 or NaN: none."""
    return reached.groupby([*keys, "D"])[col].max().fillna(0).astype(int)


def complete(reached: pd.DataFrame, col: str = "T", keys: Sequence[str] = CONDITION) -> Complete:
    """Per condition (its `keys`: CONDITION, or a lens and CONDITION), the largest T at
    which every D of it has a value (see `reach`)."""
    if reached.empty:
        return {}
    per_cond = reach(reached, col, keys).groupby(level=list(keys)).min()
    return {tuple(k): int(v) for k, v in per_cond.items()}


def within(
    frame: pd.DataFrame, upto: Mapping[tuple, int], keys: Sequence[str] = CONDITION
) -> pd.DataFrame:
    """The rows of `frame` (keys, T) at or below their condition's complete T."""
    return frame[frame["T"] <= _limits(frame, upto, keys)]


def at(frame: pd.DataFrame, upto: Mapping[tuple, int]) -> pd.DataFrame:
    """The rows of `frame` (CONDITION, T) at their condition's complete T: the largest T
    at which its D compare (none for a condition with no complete T)."""
    return frame[frame["T"] == _limits(frame, upto)]


def _limits(
    frame: pd.DataFrame, upto: Mapping[tuple, int], keys: Sequence[str] = CONDITION
) -> list[int]:
    """Each row's condition's complete T."""
    return [upto.get(c, 0) for c in frame[list(keys)].itertuples(index=False, name=None)]


def lines(runs: pd.DataFrame, upto: int) -> list[str]:
    """What one condition's tables rest on, in words: which D stop before the others (and
    the T up to which D_opt, P and Eq. 6 are given), and, where D differ in their seeds,
    the seeds each D's μ_T is over. runs: the condition's runs (D, seed, T_done)."""
    by_d = runs.groupby("D")["T_done"].max()
    longest = by_d.max()
    out = []
    short = [(d, int(n)) for d, n in by_d.items() if n < longest]
    if short:
        stops = ", ".join(
            f"D = {d_label(d)} " + ("has no iteration" if n == 0 else f"stops at T = {n}")
            for d, n in short
        )
        given = f"are given up to T = {upto}" if upto else "are not given (they need every D)"
        out.append(f"ragged: {stops}; D_opt, P and Eq. 6 {given}")
    every = sorted(runs["seed"].unique())
    for d, g in runs.groupby("D"):
        said = _seeds_of(g, every)
        if said:
            out.append(f"seeds: μ_T of D = {d_label(d)} is {said}")
    return out


def _seeds_of(g: pd.DataFrame, every: list) -> str:
    """'over seeds 0, 1 at T ≤ 2 and over seed 0 at T = 3 (no run of seed 2)': the seeds
    behind one D's μ_T at each T it reached; '' where that is every seed at every T."""
    done = g.groupby("seed")["T_done"].max()
    spans: list[list] = []  # [seeds, first T, last T]
    for T in range(1, int(done.max()) + 1):
        seeds = sorted(s for s, n in done.items() if n >= T)
        if spans and spans[-1][0] == seeds:
            spans[-1][2] = T
        else:
            spans.append([seeds, T, T])
    absent = [s for s in every if s not in done.index]
    idle = [s for s, n in done.items() if n == 0]
    if not spans or (not absent and not idle and len(spans) == 1 and spans[0][0] == every):
        return ""  # a D with no iteration at all: the ragged line says so
    parts = [f"over {_seed_list(seeds)}" + _at(a, b, len(spans) > 1) for seeds, a, b in spans]
    notes = []
    if absent:
        notes.append(f"no run of {_seed_list(absent)}")
    if idle:
        notes.append(f"{_seed_list(idle)}: no iteration yet")
    return " and ".join(parts) + (f" ({'; '.join(notes)})" if notes else "")


def _at(a: int, b: int, several: bool) -> str:
    """Where a span of T needs naming: 'at T ≤ 2', 'at T = 3', 'at T = 3 … 4'."""
    if not several:
        return ""
    if a == 1:
        return " at T = 1" if b == 1 else f" at T ≤ {b}"
    return f" at T = {a}" if a == b else f" at T = {a} … {b}"


def _seed_list(seeds: list) -> str:
    return ("seed " if len(seeds) == 1 else "seeds ") + ", ".join(map(str, seeds))
