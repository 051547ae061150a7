"""report.md's "What collapses" section: D_opt(T) under each lens (analysis/lenses.py)
against perplexity's, and which lens leaves its t = 0 band first."""

from __future__ import annotations

import pandas as pd

from analysis.lenses import REFERENCE, REL, Lenses
from analysis.report import GIVEN, markdown_table
from analysis.sweep import CONDITION, d_label
from analysis.sweep import name as label


def lens_section(res: Lenses, reps: int) -> list[str]:
    """What collapses: D_opt(T) under each lens against perplexity's, and which lens
    leaves its t = 0 band first at the smallest D (analysis/lenses.py)."""
    titles = {x.key: x.title for x in [*res.lenses, REFERENCE]}
    lines = [
        "## What collapses",
        "",
        "Each lens is aggregated as μ_T aggregates perplexity: the mean over t = 0 … T − 1 of"
        " its per-t ecosystem value (the mean over models), at the T at which it was measured"
        " at every t < T (lenses made from generations stop one iteration short: the last "
        "iteration generates nothing). D_opt(T) under a lens is the D whose aggregate is "
        "least collapsed in the lens's direction (ties: the smaller D), at each T every D "
        "has the lens at (where D ran to different T, up to the one the shortest reached); "
        "P is the share of "
        f"{reps} bootstrap replicates, resampling models and seeds (no test blocks here), in "
        "which that D wins; a lens of the whole ecosystem (the cross/self ratio) has one "
        "value per run, so only its seeds are resampled. Directions: higher is less collapsed"
        " for distinct-n, entropy, vocabulary, the tail lenses and the cross/self ratio; "
        "lower for self-BLEU and the perplexity quantiles; self-perplexity higher (a model at"
        " ease with its own samples has narrowed onto its modes). The Zipf slope (healthy "
        "where it matches the real data's) and cross-model perplexity (sharpness and distance"
        " mixed) are plotted only.",
        "",
        "**Which lens moves first**: at each condition's smallest D, the first t ≥ 1 at"
        " which the lens (mean over models and seeds) leaves its t = 0 band. The band is"
        " the 95% bootstrap interval of the t = 0 value over models and seeds; where there"
        " is one value only (one model, one seed) nothing can be resampled, and the band"
        f" is ±{100 * REL:.0f}% of it: a convention, not an uncertainty.",
        "",
    ]
    for cond, opt in res.opt.groupby(CONDITION) if len(res.opt) else []:
        single = res.seeds.get(cond, 0) == 1
        given = f", {GIVEN}" if single else ""
        lines += [f"### {label(cond)}", ""]
        if single:
            lines += [
                f"One seed: D_opt under every lens, its P and every band below are {GIVEN};"
                " they leave out the run's own randomness, the largest source of variation.",
                "",
            ]
        cells, differ = [], []
        for key, g in opt.groupby("lens", sort=False):
            g = g.sort_values("T")
            last = g.iloc[-1]
            off = [
                int(T) for T, a in zip(g["T"], g["agrees"], strict=True) if a is not None and not a
            ]
            if off:
                differ.append(f"{titles[key]} (T = {', '.join(map(str, off))})")
            ppl = last["ppl_D_opt"]
            cells.append(
                {
                    "lens": titles[key],
                    "less collapsed": next(x.direction for x in res.lenses if x.key == key),
                    "T": int(last["T"]),
                    f"D_opt (P{given})": f"{d_label(last['D_opt'])} ({last['p']:.2f})",
                    "perplexity's D_opt": "—" if ppl != ppl else d_label(ppl),
                    "agrees": _agrees(last["agrees"], off, int(last["T"])),
                }
            )
        lines += [markdown_table(pd.DataFrame(cells).set_index("lens"), "lens"), ""]
        lines.append(
            f"Under {', '.join(differ)} the optimum differs from perplexity's: the lens sees"
            " a different diversity as least collapsed."
            if differ
            else "Every lens agrees with perplexity's D_opt(T) at every T it reaches."
        )
        lines += ["", *_first_lines(res.first, cond, titles, given), ""]
    return lines


def _agrees(agrees: bool | None, off: list[int], T: int) -> str:
    """'yes'/'no' at the headline T, and the other T at which the lens differs."""
    if agrees is None:
        return "—"
    earlier = [s for s in off if s != T]
    head = "yes" if agrees else "no"
    return head + (f"; differs at T = {', '.join(map(str, earlier))}" if earlier else "")


def _first_lines(first: pd.DataFrame, cond: tuple, titles: dict[str, str], given: str) -> list[str]:
    f = first.set_index(CONDITION).loc[[cond]].reset_index() if len(first) else first
    if f.empty:
        return []
    d = f["D"].iloc[0]
    cells = {
        titles[r["lens"]]: {
            "first t outside": "never" if r["t"] != r["t"] else int(r["t"]),
            "change from t = 0": "—" if r["change"] != r["change"] else f"{r['change']:+.1%}",
            "toward collapse": {True: "yes", False: "no"}.get(r["collapsing"], "—"),
            f"t = 0 band{given}": f"[{r['lo']:.3g}, {r['hi']:.3g}] ({r['rule']})",
        }
        for _, r in f.iterrows()
    }
    lenses = f[f["lens"] != REFERENCE.key].dropna(subset=["t"])
    if lenses.empty:
        said = f"No lens leaves its t = 0 band at D = {d_label(d)}."
    else:
        t0 = int(lenses["t"].min())
        who = [titles[k] for k in lenses[lenses["t"] == t0]["lens"]]
        ref = f[f["lens"] == REFERENCE.key]["t"]
        than = (
            ""
            if ref.empty
            else "; perplexity never does"
            if ref.isna().all()
            else f"; perplexity μ_t at t = {int(ref.iloc[0])}"
        )
        said = f"First to move at D = {d_label(d)}: {', '.join(who)} at t = {t0}{than}."
    return [
        f"**Which lens moves first** at D = {d_label(d)}:",
        "",
        markdown_table(pd.DataFrame(cells).T, "lens"),
        "",
        said,
    ]
