"""What `python -m analysis` prints: per condition μ_t, its collapse rate, μ_T and D_opt(T)
with its P, then the comparisons (collapse rates, regimes, curations), EDQ's test and the
lenses' D_opt, from analysis/tables.py's tables. Plain text on stdout, the first table
as soon as the bootstrap is done."""

from __future__ import annotations

import pandas as pd

from analysis import compare, curation, edq, phase, report
from analysis.lenses import Lenses
from analysis.sweep import CONDITION, d_label, name
from analysis.tables import Analysis, Condition


def conditions(a: Analysis) -> None:
    """Each condition's tables, then what compares across them."""
    pd.set_option("display.width", 200)
    for cond, c in a.conditions.items():
        condition(cond, c)
    if a.several:
        print("\nConditions compared: μ_T at each condition's largest T")
        print(report.comparison(a.agg, a.upto).to_string(float_format=lambda x: f"{x:.2f}"))
    for line in phase.printout(a.conditions):
        print(line)
    for line in compare.regime_lines(a.regimes, a.conditions):
        print(line)
    for line in curation.printout(a.curations, a.conditions):
        print(line)
    rows = a.sweep.rows
    if edq.has_exact(rows):
        print("\nEDQ's prediction: sign(δ_EDQ) = sign(Δ perplexity), share of (model, t) [95% CI]")
        for _, r in edq.agreement(rows).iterrows():
            print(
                f"  {name(tuple(r[CONDITION]))} D={d_label(r['D'])}:"
                f" {r['w2_rate']:.2f}"
                f" [{r['w2_lo']:.2f}, {r['w2_hi']:.2f}] of {r['n']}"
                f" (KL analogue {r['kl_rate']:.2f})"
            )


def condition(cond: tuple, c: Condition) -> None:
    runs = c.runs
    seeds = ", ".join(str(s) for s in sorted(runs["seed"].unique()))
    print(f"\n=== {name(cond)}  ({len(runs)} runs, seeds {seeds}) ===")
    if runs["seed"].nunique() == 1:
        print(
            f"one seed: every interval and probability below is {report.GIVEN};"
            f" run {report.more_seeds(runs['seed'])} (--multirun) to include run-to-run variation"
        )
    if c.world:
        print(
            f"synthetic world: exp(H) = {c.world[0]:.2f},"
            f" oracle per-block test ppl = {c.world[1]:.2f}"
        )
    for line in c.coverage:
        print(line)
    print("\nμ_t: mean per-block test perplexity (t = -1: the base model), by D")
    print(_table(c.eco.groupby(["t", "D"])["mu_t"].mean().unstack("D")))
    if c.rate:
        print(
            f"collapse rate, mean of log μ_t+1 − log μ_t on {c.rate.over}: {c.rate.text}"
            f" per iteration{' (' + report.GIVEN + ')' if c.single_seed else ''}"
        )
    print("\nμ_T = mean of μ_0 … μ_{T-1}, by D")
    print(_table(c.agg.groupby(["T", "D"])["mu_T"].mean().unstack("D")))
    print("\nD_opt(T) = argmin_D μ_T  (P: bootstrap probability that it is the optimum)")
    if c.opt.empty:
        print(f"none: {report.NO_D_OPT}")
    else:
        print(report.d_opt_line(c.opt, c.p_opt).to_string())
    d_opt = dict(zip(c.opt["T"].astype(int), c.opt["D_opt"], strict=True))
    said = report.eq6(d_opt)
    print(
        f"Eq. 6 (D_opt never decreases with T): {said}"
        + (" (D_opt at fewer than two T: nothing to test)" if said == "—" else "")
    )


def lenses(res: Lenses) -> None:
    """Per condition and lens: D_opt at the lens's largest T against perplexity's."""
    titles = {x.key: x.title for x in res.lenses}
    for cond, g in res.opt.groupby(CONDITION) if len(res.opt) else []:
        given = f", {report.GIVEN}" if res.seeds.get(cond) == 1 else ""
        print(f"\nWhat collapses, {name(cond)}: D_opt under each lens (P{given})")
        for key, x in g.groupby("lens", sort=False):
            r = x.sort_values("T").iloc[-1]
            ppl = "—" if r["ppl_D_opt"] != r["ppl_D_opt"] else d_label(r["ppl_D_opt"])
            print(
                f"  {titles[key]:24s} T={int(r['T'])}: D={d_label(r['D_opt'])}"
                f" ({r['p']:.2f}); perplexity's {ppl}"
                + ("" if r["agrees"] is None else "  agrees" if r["agrees"] else "  DIFFERS")
            )


def _table(frame: pd.DataFrame) -> str:
    frame = frame.rename(columns=lambda d: f"D={d_label(d)}")
    return frame.rename_axis(columns=None).to_string(
        float_format=lambda x: f"{x:.2f}",
        na_rep="—",  # — : D did not reach T (ragged)
    )
