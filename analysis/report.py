"""report.md: the tables, the figures and a plain-language verdict per condition."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from analysis.figures import d_label, label
from analysis.lenses import REFERENCE, REL, Lenses
from analysis.stats import monotone
from analysis.sweep import CONDITION

GIVEN = "given this seed"


def one_seed(seeds) -> str:
    """What one seed's intervals and probabilities leave out, in words (for a verdict)."""
    return (
        f" One seed ({', '.join(map(str, sorted(set(seeds))))}): every interval and"
        f" probability here is {GIVEN}. They resample within the run only and leave out the"
        " run's own randomness (initialisation, data order, sampling), the largest source of"
        " variation."
    )


def more_seeds(seeds) -> str:
    """The seeds that would bring run-to-run variation in: the one run plus the next two."""
    have = sorted(set(seeds))
    add = [s for s in range(have[0], have[0] + 2 + len(have) + 1) if s not in have][:2]
    return "seed=" + ",".join(map(str, sorted([*have, *add])))


def _fmt(x: float) -> str:
    return f"{x:,.2f}" if x < 1e4 else f"{x:,.0f}"


def markdown_table(frame: pd.DataFrame, index_name: str) -> str:
    head = f"| {index_name} | " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|" + "---|" * (len(frame.columns) + 1)
    body = [
        f"| {i} | " + " | ".join(map(str, row)) + " |"
        for i, row in zip(frame.index, frame.to_numpy(), strict=True)
    ]
    return "\n".join([head, rule, *body])


def d_opt_line(opt: pd.DataFrame, p_opt: pd.DataFrame) -> pd.DataFrame:
    """One row: D_opt(T) with the bootstrap probability that it is the optimum."""
    p = p_opt.set_index(["T", "D"])["p"]
    cells = {
        int(T): f"{d_label(d)} ({p.get((T, d), float('nan')):.2f})"
        for T, d in zip(opt["T"], opt["D_opt"], strict=True)
    }
    return pd.DataFrame([cells], index=["D_opt (P)"])


def verdict(
    cond, eco: pd.DataFrame, opt: pd.DataFrame, p_opt: pd.DataFrame, world: tuple | None
) -> str:
    d_opt = dict(zip(opt["T"].astype(int), opt["D_opt"], strict=True))
    t_max = max(d_opt)
    p_last = p_opt[(p_opt["T"] == t_max) & (p_opt["D"] == d_opt[t_max])]["p"].iloc[0]
    spans = []  # runs of equal D_opt: [d, first T, last T]
    for T in sorted(d_opt):
        if spans and spans[-1][0] == d_opt[T]:
            spans[-1][2] = T
        else:
            spans.append([d_opt[T], T, T])
    parts = [
        f"D = {d_label(d)} " + (f"at T = {a}" if a == b else f"for T = {a} … {b}")
        for d, a, b in spans
    ]
    single = eco["seed"].nunique() == 1
    given, over = (
        (f", {GIVEN},", "test blocks and models")
        if single
        else ("", "test blocks, models and seeds")
    )
    text = [
        f"With {label(cond)}, the diversity whose perplexity aggregated over the first T "
        f"iterations is lowest is {', '.join(parts[:-1]) + ' and ' if len(parts) > 1 else ''}"
        f"{parts[-1]} (probability {p_last:.2f}{given} that D = {d_label(d_opt[t_max])} is"
        f" optimal at T = {t_max}, resampling {over})."
    ]
    bad = monotone(d_opt)
    text.append(
        " D_opt(T) never decreases as T grows, as the paper's Eq. 6 predicts."
        if not bad
        else f" D_opt(T) decreases at T = {', '.join(map(str, bad))}, against the paper's Eq. 6."
    )
    mu = eco.groupby(["D", "t"])["mu_t"].mean()
    last = int(eco["t"].max())
    for d in (min(eco["D"]), max(eco["D"])):
        a, b = mu[(d, 0)], mu[(d, last)]
        text.append(
            f" At D = {d_label(d)} mean test perplexity went from {_fmt(a)} at t = 0"
            f" to {_fmt(b)} at t = {last} (×{b / a:.2f})."
        )
    if world is not None:
        text.append(
            f" The synthetic world's floor is exp(H) = {world[0]:.2f}"
            f" (oracle per-block perplexity {world[1]:.2f})."
        )
    if p_last < 0.9:
        text.append(f" The optimum at T = {t_max} is not settled: more seeds would tell.")
    if single:
        text.append(one_seed(eco["seed"]))
    return "".join(text)


def exact_section(table: pd.DataFrame, agree: pd.DataFrame, r: float) -> list[str]:
    """The synthetic world's exact measurements and the test of EDQ's prediction."""
    lines = [
        "## The synthetic world's exact measurements (EDQ)",
        "",
        "p_data is known here, so each model and each pool is placed relative to it"
        " (ecosys/exact.py): the KL rate KL(p_data ‖ p_θ) per token on fresh p_data blocks;"
        " W2 between the distributions of g(x) = log p_data(x) / L of a set of blocks and"
        " of fresh p_data blocks (exact, from sorted samples); the paper's effective data"
        " quality δ_EDQ(t) = W2(blocks trained on at t) − W2(samples of the model before t);"
        " and the models' mean pairwise Jensen–Shannon divergence on test blocks.",
        "",
        "**The paper's hypothesis as a test**: a model's perplexity should rise from t − 1"
        " to t when the data it trained on at t is farther from p_data than it was itself"
        " (δ_EDQ > 0), and fall when nearer. Agreement of the signs over every (model, t),"
        " with Wilson 95% intervals (chance: 0.5):",
        "",
    ]
    cells = agree.assign(
        condition=[label(c) for c in agree[CONDITION].itertuples(index=False)],
        D=agree["D"].map(d_label),
        W2=[
            f"{a:.2f} [{lo:.2f}, {hi:.2f}]"
            for a, lo, hi in agree[["w2_rate", "w2_lo", "w2_hi"]].to_numpy()
        ],
        KL=[
            f"{a:.2f} [{lo:.2f}, {hi:.2f}]"
            for a, lo, hi in agree[["kl_rate", "kl_lo", "kl_hi"]].to_numpy()
        ],
    )[["condition", "D", "n", "W2", "KL"]]
    lines += [markdown_table(cells.set_index("condition"), "condition"), ""]
    lines += [f"Correlation of δ_EDQ with Δ log perplexity over all (model, t): r = {r:.2f}.", ""]
    for cond, g in table.groupby(CONDITION):
        cols = [c for c in ("kl_rate", "pool_w2", "edq", "js", "param_dist", "steps") if c in g]
        ds = sorted(g["D"].unique())
        frame = pd.DataFrame(
            {c: [_span(g[(g["D"] == d) & (g["t"] >= 0)], c) for d in ds] for c in cols},
            index=[d_label(d) for d in ds],
        )
        lines += [
            f"**{label(cond)}**, first → last iteration measured (t), by D:",
            "",
            markdown_table(frame, "D"),
            "",
        ]
    return lines


def _span(g: pd.DataFrame, col: str) -> str:
    """'first (t) → last (t)' of a column over the iterations it was measured at."""
    x = g.dropna(subset=[col]).sort_values("t")
    if x.empty:
        return "—"
    a, b = x.iloc[0], x.iloc[-1]
    return f"{a[col]:.3g} ({a['t']:.0f}) → {b[col]:.3g} ({b['t']:.0f})"


def comparison(agg: pd.DataFrame) -> pd.DataFrame:
    """μ_T at each condition's largest T, a row per condition and a column per D: how
    the arms of a comparison preset (families, segments, protocols, τ, …) fare."""
    last = agg[agg["T"] == agg.groupby(CONDITION)["T"].transform("max")]
    table = last.groupby([*CONDITION, "T", "D"])["mu_T"].mean().unstack("D")
    table.index = [f"{label(k[:-1])} (T = {k[-1]})" for k in table.index]
    table.columns = [f"D = {d_label(d)}" for d in table.columns]
    return table


def comparison_section(agg: pd.DataFrame) -> list[str]:
    table = comparison(agg).map(lambda x: "—" if x != x else _fmt(x))
    return [
        "## Conditions compared",
        "",
        "μ_T (mean perplexity over the first T iterations) at each condition's largest T:",
        "",
        markdown_table(table, "condition"),
        "",
    ]


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
        "least collapsed in the lens's direction (ties: the smaller D); P is the share of "
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


def write(
    out: Path,
    sources: str,
    notes: list[str],
    reps: int,
    tables: dict,
    figures: list[str],
    extra: list[str] | None = None,
) -> Path:
    """tables: per condition {'eco', 'agg', 'opt', 'p_opt', 'intervals', 'world'};
    extra: further sections (markdown lines) before the figures."""
    lines = [
        "# ecosys report",
        "",
        f"Source: {sources}. Intervals and probabilities: {reps} bootstrap replicates over "
        "test blocks, "
        "models and seeds (95% percentile intervals; ties go to the smaller D).",
    ]
    if notes:
        lines += ["", "Missing from the sweep:", *[f"- {n}" for n in notes]]
    for cond, t in tables.items():
        given = f", {GIVEN}" if t["eco"]["seed"].nunique() == 1 else ""
        lines += [
            "",
            f"## {label(cond)}",
            "",
            verdict(cond, t["eco"], t["opt"], t["p_opt"], t["world"]),
            "",
        ]
        lines += [
            f"**D_opt(T)**, with the probability that it is the optimum{given}:",
            "",
            markdown_table(d_opt_line(t["opt"], t["p_opt"]), "T"),
            "",
        ]
        point = t["agg"].groupby(["T", "D"])["mu_T"].mean()
        ci = t["intervals"].set_index(["T", "D"])
        cells = {
            f"D = {d_label(d)}": [
                f"{_fmt(point[(T, d)])} "
                f"[{_fmt(ci.loc[(T, d), 'lo'])}, {_fmt(ci.loc[(T, d), 'hi'])}]"
                for T in sorted(t["agg"]["T"].unique())
            ]
            for d in sorted(t["agg"]["D"].unique())
        }
        lines += [
            f"**μ_T** = mean of μ_0 … μ_{{T−1}} [95% interval{given}]:",
            "",
            markdown_table(pd.DataFrame(cells, index=sorted(t["agg"]["T"].unique())), "T"),
            "",
        ]
        mu = t["eco"].groupby(["t", "D"])["mu_t"].mean().unstack("D").map(_fmt)
        mu.columns = [f"D = {d_label(d)}" for d in mu.columns]
        lines += [
            "**μ_t**, mean per-block test perplexity (t = −1: the base model):",
            "",
            markdown_table(mu, "t"),
            "",
        ]
    lines += ["", *(extra or []), "## Figures", ""] + [
        f"![{f}]({f}.png) ([pdf]({f}.pdf))" for f in figures
    ]
    path = out / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path
