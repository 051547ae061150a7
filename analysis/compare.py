"""Conditions that differ in one label only, side by side: protocols and data regimes
(curations: analysis/curation.py, on the same Arm).

stats.axis_groups finds them (each arm compared several D); here they become report
sections and printout lines. A protocol comparison asks only whether D_opt(T) moves; a
regime comparison asks, against the paper's replace, whether the smallest D still
collapses, whether D_opt(T) still grows with T, and whether diversity still matters (the
spread of μ_T across D against replace's).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from analysis.report import GIVEN, _fmt, d_opt_line, markdown_table, one_seed
from analysis.stats import monotone
from analysis.sweep import CONDITION, DEFAULTS, d_label, ordered
from analysis.sweep import name as label
from analysis.tables import Condition, Groups

FLAT = 0.10  # μ_t within ±10% of its t = 0 value at the last t: no collapse
COLLAPSE = 2.0  # μ_t at least doubled from t = 0: collapse (in between: a drift)

INTRO = {
    "protocol": "paper: E epochs over a model's own n blocks (an M = 16 model takes 1/16 of"
    " the steps of an M = 1 model); equal_steps: every model takes the steps E epochs over all"
    " N take; segments_*: who trains on which part of N.",
    "regime": "What each model trains on at t ≥ 1. replace (the paper): its share of the last"
    " pool alone; accumulate: the real set plus every earlier pool share (Gerstgrasser et al."
    " 2024: keeps test loss bounded); accumulate_subsample: a fixed-size uniform subsample of"
    " that, in between.",
}


def arms(axis: str, g: pd.DataFrame) -> list[tuple[str, tuple]]:
    """(the axis's value, the condition) of each arm of a group, in sweep.ORDER."""
    conds = {c[CONDITION.index(axis)]: c for c in g.groupby(CONDITION).groups}
    return [(v, conds[v]) for v in ordered(axis, conds)]


def d_opt_by(
    axis: str, g: pd.DataFrame, tables: dict[tuple, Condition], T_max: int | None = None
) -> pd.DataFrame:
    """D_opt(T) (P) with a row per arm: the arms side by side (T ≤ T_max where given)."""
    rows = []
    for value, cond in arms(axis, g):
        t = tables[cond]
        line = d_opt_line(t.opt, t.p_opt)
        keep = [n for n in line.columns if T_max is None or n <= T_max]
        rows.append(line[keep].set_axis([value]))
    return pd.concat(rows)


def protocol_section(groups: Groups, tables: dict[tuple, Condition]) -> list[str]:
    """D_opt(T) under each protocol, side by side."""
    lines = []
    for key, g in groups:
        given = given_of(g, tables)
        lines += [
            f"## D_opt(T) by protocol: {label(key)}",
            "",
            INTRO["protocol"],
            "",
            f"D_opt(T) (P: the probability that it is the optimum{given}):",
            "",
            markdown_table(d_opt_by("protocol", g, tables), "protocol"),
            "",
        ]
    return lines


@dataclass
class Arm:
    """How one arm of a comparison fares up to the horizon T all its group's arms reach."""

    value: str
    T: int
    growth: dict[float, float]  # μ_{T−1} / μ_0 at the smallest and the largest D
    mu_T: pd.DataFrame  # index D: mu_T, lo, hi at T
    d_opt: dict[int, float]  # T' ≤ T → D_opt(T')
    p: float  # the probability that D_opt(T) is the optimum
    seeds: list[int]

    @property
    def spread(self) -> float:
        """How far apart the D are at T: max over min of μ_T, less 1."""
        return self.mu_T["mu_T"].max() / self.mu_T["mu_T"].min() - 1

    @property
    def resolved(self) -> bool:
        """Whether the best and the worst D's 95% intervals are disjoint."""
        best, worst = self.mu_T["mu_T"].idxmin(), self.mu_T["mu_T"].idxmax()
        return bool(self.mu_T.loc[best, "hi"] < self.mu_T.loc[worst, "lo"])


def fare(axis: str, g: pd.DataFrame, tables: dict[tuple, Condition]) -> list[Arm]:
    """Each arm of a group at the largest T at which every arm has D_opt(T), i.e. every D
    of every arm reached it (stats.optimum stops at each arm's complete T)."""
    members = arms(axis, g)
    T = min(int(tables[c].opt["T"].max()) for _, c in members)
    out = []
    for value, cond in members:
        t = tables[cond]
        mu = t.eco[t.eco["t"] >= 0].groupby(["D", "t"])["mu_t"].mean()
        ds = sorted(d for d, s in mu.index if s == T - 1)  # the D that reached t = T − 1
        point = t.agg[t.agg["T"] == T].groupby("D")["mu_T"].mean()
        ci = t.intervals[t.intervals["T"] == T].set_index("D")[["lo", "hi"]]
        d_opt = {int(a): d for a, d in zip(t.opt["T"], t.opt["D_opt"], strict=True) if a <= T}
        p = t.p_opt.set_index(["T", "D"])["p"].get((T, d_opt[T]), float("nan"))
        out.append(
            Arm(
                value=value,
                T=T,
                growth={d: mu[(d, T - 1)] / mu[(d, 0)] for d in (ds[0], ds[-1])},
                mu_T=ci.join(point, how="right"),
                d_opt=d_opt,
                p=float(p),
                seeds=sorted(t.eco["seed"].unique()),
            )
        )
    return out


def collapse(arm: Arm) -> tuple[str, str]:
    """(a word, a sentence) on the smallest D's μ_t from t = 0 to T − 1: FLAT, a drift or
    COLLAPSE."""
    d, x = min(arm.growth), arm.growth[min(arm.growth)]
    last, who = arm.T - 1, f"D = {d_label(d)}'s μ_t"
    if abs(x - 1) <= FLAT:
        pct = max(1, math.ceil(round(100 * abs(x - 1), 9)))  # 3.0000001% is 3%
        return "no collapse", (
            f"{who} stays within {pct}% of t = 0 (×{x:.2f} at t = {last})"
            f" — no collapse within T = {arm.T}"
        )
    if x < 1:
        return "no collapse", f"{who} falls to ×{x:.2f} of t = 0 by t = {last} — no collapse"
    if x >= COLLAPSE:
        return "collapse", f"{who} grows {x:.3g}× from t = 0 to {last} — collapse"
    return "drift", (
        f"{who} grows {x:.3g}× from t = 0 to {last} — a drift, short of collapse"
        f" (×{COLLAPSE:g}) within T = {arm.T}"
    )


def trend(arm: Arm) -> tuple[str, str]:
    """(a word, a sentence) on D_opt(T): growing with T, flat, or falling (against Eq. 6)."""
    d = arm.d_opt
    first, last = min(d), max(d)
    bad = monotone(d)
    if bad:
        return "falls", (
            f"D_opt(T) falls at T = {', '.join(map(str, bad))}, against the paper's Eq. 6"
        )
    if d[last] > d[first]:
        return "grows", (
            f"D_opt(T) grows with T: D = {d_label(d[first])} at T = {first}"
            f" → D = {d_label(d[last])} at T = {last}"
        )
    return "flat", (
        f"D_opt(T) stays at D = {d_label(d[last])} for every T ≤ {last}: it does not grow"
    )


def diversity(arm: Arm, ref: Arm | None, given: str) -> str:
    """Whether the D still differ at T: are the best and worst D's intervals disjoint, and
    how does the spread of μ_T across D compare with ref's (less: under half of it)."""
    best, worst = arm.mu_T["mu_T"].idxmin(), arm.mu_T["mu_T"].idxmax()
    pair = f"the 95% intervals of the best D, {d_label(best)}, and the worst, {d_label(worst)},"
    spread = f"μ_T at T = {arm.T} spans {arm.spread:.0%} across D"
    if not arm.resolved:
        head = f"No difference across D is resolved ({pair} overlap{given})"
    elif ref is None:
        head = f"Diversity matters ({pair} do not overlap{given})"
    else:
        r = arm.spread / ref.spread if ref.spread > 0 else math.inf
        than = "less than" if r < 0.5 else "more than" if r > 2 else "about as much as"
        head = f"Diversity still matters ({pair} do not overlap{given}), {than} under {ref.value}"
    return f"{head}: {spread}" + (f" against {ref.value}'s {ref.spread:.0%}." if ref else ".")


def regime_verdict(arm: Arm, ref: Arm | None, given: str) -> str:
    """The plain-language verdict on one regime (ref: replace's arm, where there is one)."""
    larger = max(arm.growth)
    return (
        f"**{arm.value}**: {collapse(arm)[1]} (D = {d_label(larger)}: ×{arm.growth[larger]:.3g})."
        f" {trend(arm)[1]} (P = {arm.p:.2f} at T = {arm.T}{given})."
        f" {diversity(arm, ref, given)}"
    )


def regime_section(groups: Groups, tables: dict[tuple, Condition]) -> list[str]:
    """Per group of conditions that differ only in their data regime: μ_T at the common T
    with intervals, D_opt(T) side by side, and a verdict per regime."""
    lines = []
    for key, g in groups:
        fared = fare("regime", g, tables)
        ref = next((a for a in fared if a.value == DEFAULTS["regime"]), None)
        seeds = sorted({s for a in fared for s in a.seeds})
        given = given_of(g, tables)
        T = fared[0].T
        table = pd.DataFrame(
            {
                **{
                    f"D = {d_label(d)}": [mu_T_cell(a.mu_T, d) for a in fared]
                    for d in sorted({d for a in fared for d in a.mu_T.index})
                },
                **{
                    f"μ_{T - 1} / μ_0, D = {d_label(d)}": [f"×{a.growth[d]:.3g}" for a in fared]
                    for d in sorted(fared[0].growth)
                },
            },
            index=[a.value for a in fared],
        )
        lines += [
            f"## Data regimes compared: {label(key)}",
            "",
            INTRO["regime"],
            "",
            f"**μ_T at T = {T}** (the largest T every D of every regime reached)"
            f" [95% interval{given}],"
            " and how far μ_t moved from t = 0 at the smallest and largest D:",
            "",
            markdown_table(table, "regime"),
            "",
            f"**D_opt(T)** by regime (P: the probability that it is the optimum{given}):",
            "",
            markdown_table(d_opt_by("regime", g, tables, T), "regime"),
            "",
            *[f"- {regime_verdict(a, None if a is ref else ref, given)}" for a in fared],
            "",
        ]
        if given:
            lines += [one_seed(seeds).strip(), ""]
    return lines


def regime_lines(groups: Groups, tables: dict[tuple, Condition]) -> list[str]:
    """The printout's short form of regime_section: a line per regime."""
    lines = []
    for key, g in groups:
        fared = fare("regime", g, tables)
        given = given_of(g, tables)
        lines.append(f"\nData regimes compared: {label(key)} (T = {fared[0].T}{given})")
        for a in fared:
            d = min(a.growth)
            seq = " ".join(d_label(a.d_opt[T]) for T in sorted(a.d_opt))
            lines.append(
                f"  {a.value:22s} D={d_label(d)} μ_t ×{a.growth[d]:.3g} t=0→{a.T - 1}:"
                f" {collapse(a)[0]} · D_opt(T) {seq}: {trend(a)[0]} (P {a.p:.2f})"
                f" · μ_T over D {a.spread:.0%}" + ("" if a.resolved else ", not resolved")
            )
    return lines


def mu_T_cell(mu_T: pd.DataFrame, d: float) -> str:
    """An arm's μ_T at D with its interval, or — where D is not among its D."""
    if d not in mu_T.index:
        return "—"
    r = mu_T.loc[d]
    return f"{_fmt(r['mu_T'])} [{_fmt(r['lo'])}, {_fmt(r['hi'])}]"


def given_of(g: pd.DataFrame, tables: dict[tuple, Condition]) -> str:
    """', given this seed' where any arm of the group has one seed only."""
    single = any(tables[c].single_seed for c in g.groupby(CONDITION).groups)
    return f", {GIVEN}" if single else ""
