"""Curation arms against `none` (the paper: every generated block enters the pool), per
group of conditions that differ in their curation only (stats.axis_groups), on
compare.py's Arm: each arm at the largest T every D of every arm reached.

Two questions, in words:
- Does curation change D_opt(T)? An arm against none at that T: a smaller D_opt
  *substitutes for diversity*; the same D_opt with a μ_T there whose interval lies below
  none's *adds to it*; the same D_opt and overlapping intervals *change nothing*; the same
  D_opt with μ_T above none's *hurts*; a larger D_opt *calls for more diversity*. Where
  one's D_opt is a D the other did not run, no verdict.
- Does diversity still matter under curation? Yes where D_opt(T) exceeds the smallest D
  at some T (it helps), or where the 95% intervals of μ_T at the smallest and the largest
  D do not overlap at that T (with the smallest best: it costs); no otherwise.
Intervals and probabilities are the bootstrap's ("given this seed" with one seed).
"""

from __future__ import annotations

import pandas as pd

from analysis.compare import Arm, arms, d_opt_by, fare, given_of, mu_T_cell
from analysis.rate import stand_in
from analysis.report import _fmt, markdown_table, one_seed
from analysis.sweep import DEFAULTS, d_label
from analysis.sweep import name as label
from analysis.tables import Condition, Groups

AXIS = "curation"
REF = DEFAULTS[AXIS]  # none
INTRO = (
    "Which generated blocks enter the pool before it is dealt out (the kept ones are"
    " repeated back to its size). none (the paper): every one; oracle_keep*: the share with"
    " the highest log p_data (a perfect verifier, the synthetic world only); self_keep*:"
    " the share the generating model finds likeliest; surprise_keep*: the share it finds"
    " least likely (Gambetta et al. 2024); degenerate_share*: all but duplicates and blocks"
    " one token dominates."
)


def _best(arm: Arm) -> pd.Series:
    """mu_T, lo, hi at the arm's D_opt(T)."""
    return arm.mu_T.loc[arm.d_opt[arm.T]]


def change(arm: Arm, ref: Arm) -> tuple[str, str]:
    """(a word, a sentence): how curation moves D_opt(T) and μ_T at D_opt against ref."""
    T, d, d_ref = arm.T, arm.d_opt[arm.T], ref.d_opt[ref.T]
    head = f"D_opt({T}) = {d_label(d)} against {ref.value}'s {d_label(d_ref)}"
    unrun = [
        f"{x.value} ran no D = {d_label(y)}"
        for x, y in ((arm, d_ref), (ref, d))
        if y not in x.mu_T.index
    ]
    if unrun:  # the other's optimum was not a candidate here: no verdict from it
        return "no verdict", f"{head}, but {' and '.join(unrun)}: no verdict"
    b, r = _best(arm), _best(ref)
    mu = (
        f"μ_{T} at D_opt {_fmt(b['mu_T'])} [{_fmt(b['lo'])}, {_fmt(b['hi'])}] against"
        f" {ref.value}'s {_fmt(r['mu_T'])} [{_fmt(r['lo'])}, {_fmt(r['hi'])}]"
    )
    if d < d_ref:
        word, said = "substitutes", "curation substitutes for diversity"
    elif d > d_ref:
        word, said = "more diversity", "curation calls for more diversity"
    elif b["hi"] < r["lo"]:
        word, said = "adds", "curation adds to diversity (the same D_opt, a lower μ_T)"
    elif b["lo"] > r["hi"]:
        word, said = "hurts", "curation hurts (the same D_opt, a higher μ_T)"
    else:
        word, said = "changes nothing", "curation changes nothing (μ_T's intervals overlap)"
    return word, f"{head}: {said}; {mu}"


def matters(arm: Arm) -> tuple[str, str]:
    """(a word, the sentence that says why) on whether diversity still matters under the
    arm: it "matters" where D_opt(T) exceeds the smallest D at some T, it "costs" where
    μ_T's intervals at the smallest and the largest D are apart with the smallest below,
    and it "does not matter" otherwise."""
    ds = sorted(arm.mu_T.index)
    small, large = ds[0], ds[-1]
    over = [T for T, d in sorted(arm.d_opt.items()) if d > small]
    a, b = arm.mu_T.loc[small], arm.mu_T.loc[large]
    apart = bool(a["hi"] < b["lo"] or b["hi"] < a["lo"])
    pair = (
        f"μ_{arm.T}'s 95% intervals at D = {d_label(small)} and D = {d_label(large)}"
        f" {'do not overlap' if apart else 'overlap'}"
    )
    if over:
        return "matters", (
            f"Diversity still matters under {arm.value}: D_opt(T) > {d_label(small)} at"
            f" T = {_spans(over)}; {pair}"
        )
    if apart:
        return "costs", (
            f"Diversity matters under {arm.value}, as a cost: D_opt(T) = {d_label(small)} at"
            f" every T ≤ {arm.T} and {pair}, D = {d_label(small)}'s below"
        )
    return "does not matter", (
        f"Diversity does not matter under {arm.value} up to T = {arm.T}:"
        f" D_opt(T) = {d_label(small)} at every T and {pair}"
    )


def _spans(ts: list[int]) -> str:
    """'3 … 5, 8': consecutive T joined."""
    runs: list[list[int]] = []
    for T in ts:
        if runs and runs[-1][-1] == T - 1:
            runs[-1].append(T)
        else:
            runs.append([T])
    return ", ".join(str(r[0]) if len(r) == 1 else f"{r[0]} … {r[-1]}" for r in runs)


def _reference(fared: list[Arm]) -> Arm | None:
    return next((a for a in fared if a.value == REF), None)


def _rate(c: Condition) -> str:
    if c.rate is None:
        return "—"
    return c.rate.text + stand_in(c.rate.D)


def section(groups: Groups, tables: dict[tuple, Condition]) -> list[str]:
    """Per group of conditions that differ only in curation: μ_T at the common T with
    intervals and each arm's collapse rate, D_opt(T) side by side, and the words."""
    lines = []
    for key, g in groups:
        fared = fare(AXIS, g, tables)
        conds = dict(arms(AXIS, g))
        ref = _reference(fared)
        given = given_of(g, tables)
        T = fared[0].T
        table = pd.DataFrame(
            {
                **{
                    f"D = {d_label(d)}": [mu_T_cell(a.mu_T, d) for a in fared]
                    for d in sorted({d for a in fared for d in a.mu_T.index})
                },
                "collapse rate [95%]": [_rate(tables[conds[a.value]]) for a in fared],
            },
            index=[a.value for a in fared],
        )
        lines += [
            f"## Curation compared: {label(key)}",
            "",
            INTRO,
            "",
            f"**μ_T at T = {T}** (the largest T every D of every arm reached)"
            f" [95% interval{given}], and each arm's collapse rate (analysis/rate.py):",
            "",
            markdown_table(table, AXIS),
            "",
            f"**D_opt(T)** by curation (P: the probability that it is the optimum{given}):",
            "",
            markdown_table(d_opt_by(AXIS, g, tables, T), AXIS),
            "",
            f"Does curation change D_opt(T)? Each arm against {REF} at T = {T}:",
            "",
        ]
        if ref is None:
            lines += [f"- no {REF} arm under the same other labels: no verdict.", ""]
        else:
            lines += [f"- **{a.value}**: {change(a, ref)[1]}." for a in fared if a is not ref]
            lines.append("")
        lines += [
            "Does diversity still matter under curation?",
            "",
            *[f"- **{a.value}**: {matters(a)[1]}." for a in fared],
            "",
        ]
        if given:
            lines += [one_seed(sorted({s for a in fared for s in a.seeds})).strip(), ""]
    return lines


def printout(groups: Groups, tables: dict[tuple, Condition]) -> list[str]:
    """The printout's short form of `section`: a line per arm."""
    lines = []
    for key, g in groups:
        fared = fare(AXIS, g, tables)
        ref = _reference(fared)
        conds = dict(arms(AXIS, g))
        lines.append(f"\nCuration compared: {label(key)} (T = {fared[0].T}{given_of(g, tables)})")
        for a in fared:
            seq = " ".join(d_label(a.d_opt[T]) for T in sorted(a.d_opt))
            moved = "" if ref is None or a is ref else f" · {change(a, ref)[0]}"
            lines.append(
                f"  {a.value:22s} D_opt(T) {seq} (P {a.p:.2f}){moved}"
                f" · rate {_rate(tables[conds[a.value]])}"
                f" · diversity {matters(a)[0]}"
            )
    return lines
