"""D_opt(T) against the collapse rate, in words: report.md's collapse-rate section and the
printout's lines (the figure: analysis/figures/phase.py).

Each condition with a rate (analysis/rate.py) is a point: its rate, and D_opt at T = 10
(the paper's T) or, where its D stop short of it, at the largest T every D reached
(analysis/coverage.py: no verdict beyond it). The words say at which rates the smallest
D is best and at which the largest, and whether the two sets of rates are apart (a
threshold, as the phase picture has it) or interleave (the rate alone does not decide).
A condition of one D, or with no T every D reached, gives no verdict and is named so.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from analysis.rate import Rate, fmt
from analysis.references import REFERENCES, Reference
from analysis.report import GIVEN, _fmt, markdown_table
from analysis.sweep import d_label
from analysis.sweep import name as label
from analysis.tables import Condition

HORIZON = 10  # the paper's T: where D_opt is read, or a condition's largest complete T
SIDES = {
    "smallest": "the smallest D (D = 1 where run)",
    "between": "a D in between",
    "largest": "the largest D",
}
NAMED = 4  # conditions named in a sentence, at most: past it, counted


@dataclass
class Point:
    """One condition on the phase diagram."""

    cond: tuple
    rate: Rate
    ds: list[float]  # the D it ran
    T: int  # where D_opt is read: min(HORIZON, its complete T); 0: no T every D reached
    d_opt: float  # NaN where T = 0
    p: float  # the bootstrap probability that d_opt is the optimum at T
    single: bool  # one seed

    @property
    def side(self) -> str | None:
        """Which D is best at T: "smallest", "largest" or "between"; None: no verdict
        (one D, or no T every D reached)."""
        if len(self.ds) < 2 or not self.T:
            return None
        return (
            "smallest"
            if self.d_opt == self.ds[0]
            else "largest"
            if self.d_opt == self.ds[-1]
            else "between"
        )


def points(conditions: dict[tuple, Condition]) -> list[Point]:
    """The conditions with a collapse rate, by rate."""
    out = []
    for cond, c in conditions.items():
        if c.rate is None:
            continue
        opt = c.opt[c.opt["T"] <= HORIZON]
        T = int(opt["T"].max()) if len(opt) else 0
        d = float(opt.set_index("T")["D_opt"][T]) if T else float("nan")
        p = c.p_opt.set_index(["T", "D"])["p"].get((T, d), float("nan"))
        ds = sorted(float(x) for x in c.runs["D"].unique())
        out.append(Point(cond, c.rate, ds, T, d, float(p), c.single_seed))
    return sorted(out, key=lambda x: x.rate.value)


def _who(ps: list[Point], each_T: bool) -> str:
    """The conditions of a sentence: named (with their T where they differ), or counted
    past NAMED."""
    if len(ps) > NAMED:
        return f"{len(ps)} conditions"
    return "; ".join(label(x.cond) + (f", T = {x.T}" if each_T else "") for x in ps)


def _rates(ps: list[Point], each_T: bool) -> str:
    """'rates −0.027 … 0.012 per iteration (who)', or 'rate 0.3 …'."""
    lo, hi = fmt(ps[0].rate.value), fmt(ps[-1].rate.value)
    span = f"rate {lo}" if lo == hi else f"rates {lo} … {hi}"
    return f"{span} per iteration ({_who(ps, each_T)})"


def words(ps: list[Point]) -> list[str]:
    """At which rates which D is best, whether the rates are apart, and what gives no
    verdict."""
    by = {s: [x for x in ps if x.side == s] for s in SIDES}
    judged = [x for x in ps if x.side]
    if not judged:
        return ["No condition compares several D at a T every D reached: no verdict on D_opt."]
    Ts = {x.T for x in judged}
    if Ts == {HORIZON}:
        head, each_T = f"At T = {HORIZON}, ", False
    elif len(Ts) == 1:
        head = f"At T = {min(Ts)} (every D's largest, short of the paper's {HORIZON}), "
        each_T = False
    else:
        head = f"At T = {HORIZON} or a condition's largest T every D reached (named), "
        each_T = True
    parts = [f"{SIDES[s]} is best at collapse {_rates(by[s], each_T)}" for s in SIDES if by[s]]
    never = [SIDES[s] for s in ("smallest", "largest") if not by[s]]
    out = [
        head
        + "; ".join(parts)
        + "."
        + (f" At no rate measured is {' or '.join(never)} best." if never else "")
    ]
    small, large = by["smallest"], by["largest"]
    if small and large:
        if small[-1].rate.value < large[0].rate.value:
            out.append(
                f"Every condition where the smallest D wins collapses slower than every one"
                f" where the largest D wins: a threshold between {fmt(small[-1].rate.value)}"
                f" and {fmt(large[0].rate.value)} per iteration, as the phase picture has it."
            )
        else:
            out.append(
                "The rates where the smallest and where the largest D win interleave: the"
                " collapse rate alone does not decide D_opt here."
            )
    if any(x.single for x in judged):
        out.append(f"Conditions of one seed: their D_opt and rate are {GIVEN}.")
    mute = [x for x in ps if not x.side]
    if mute:
        out.append(
            "No verdict (one D, or no T every D reached): "
            + "; ".join(label(x.cond) for x in mute)
            + "."
        )
    return out


def progression(d_opt: dict[int, float]) -> str:
    """'1 for T = 1 … 3, 4 at T = 10': D_opt(T) in runs of one D over consecutive T."""
    spans: list[list] = []  # [d, first T, last T]
    for T, d in sorted(d_opt.items()):
        if spans and spans[-1][0] == d and spans[-1][2] == T - 1:
            spans[-1][2] = T
        else:
            spans.append([d, T, T])
    return ", ".join(
        f"{d_label(d)} " + (f"at T = {a}" if a == b else f"for T = {a} … {b}") for d, a, b in spans
    )


def reference_line(ref: Reference) -> str:
    """A reference in words: its rate, D_opt(T) where known, its source."""
    return (
        f"{ref.name}: rate {fmt(ref.rate)} per iteration, D_opt(T) = {progression(ref.d_opt)}"
        f" ({ref.source})."
    )


def section(conditions: dict[tuple, Condition]) -> list[str]:
    """report.md's collapse-rate section: a row per condition by rate, then the words."""
    ps = points(conditions)
    lines = [
        "## Collapse rate and D_opt",
        "",
        "How fast each condition collapses, measured: D = 1's collapse rate, the mean over"
        " t of log μ_{t+1} − log μ_t, which telescopes to (log μ_{t_last} − log μ_0) /"
        " t_last (μ_t grows ×exp(rate) per iteration; negative: it falls), over the t every"
        " seed of D = 1 reached, with a 95% bootstrap interval over test blocks, models and"
        " seeds (one seed: over blocks and models only). Where a condition ran no D = 1, its"
        " smallest D stands in (the column *on* says which). DESIGN.md §1 expects D_opt(T)"
        " to grow faster the faster the world collapses; the phase figure draws it.",
        "",
    ]
    if not ps:
        return [*lines, "No condition reached t = 1 at its smallest D: no rate.", ""]
    cells = pd.DataFrame(
        {
            "collapse rate [95%]": [x.rate.text + ("*" if x.single else "") for x in ps],
            "on": [x.rate.over for x in ps],
            "μ_0 → μ_last": [f"{_fmt(x.rate.mu[0])} → {_fmt(x.rate.mu[1])}" for x in ps],
            "D run": [", ".join(map(d_label, x.ds)) for x in ps],
            "T": [x.T or "—" for x in ps],
            "D_opt at T (P)": [
                f"{d_label(x.d_opt)} ({x.p:.2f}{'*' if x.single else ''})" if x.T else "—"
                for x in ps
            ],
        },
        index=[label(x.cond) for x in ps],
    )
    lines += [markdown_table(cells, "condition"), ""]
    if any(x.single for x in ps):
        lines += [f"\\* one seed: {GIVEN}.", ""]
    lines += [" ".join(words(ps)), ""]
    lines += [
        "References, not runs of this sweep (analysis/references.py), drawn on the phase figure:",
        "",
        *[f"- {reference_line(r)}" for r in REFERENCES],
        "",
    ]
    return lines


def printout(conditions: dict[tuple, Condition]) -> list[str]:
    """The printout's short form: a line per condition by rate, then the words."""
    ps = points(conditions)
    if not ps:
        return []
    lines = [f"\nCollapse rate (mean log μ_t+1 − log μ_t) and D_opt at T ≤ {HORIZON}:"]
    for x in ps:
        said = f"D_opt({x.T}) = {d_label(x.d_opt)} (P {x.p:.2f})" if x.T else "no D_opt"
        lines.append(f"  {label(x.cond)}: {x.rate.text} on {x.rate.over} · {said}")
    return [*lines, *(f"  {w}" for w in words(ps))]
