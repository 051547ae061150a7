"""report.md: the tables, the figures and a plain-language verdict per condition."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from analysis import coverage
from analysis.stats import monotone
from analysis.sweep import CONDITION, d_label
from analysis.sweep import name as label
from analysis.tables import Condition

if TYPE_CHECKING:
    from analysis.figures import Drawn

GIVEN = "given this seed"
NO_D_OPT = "no T at which every D has μ_T, so no D is called optimal"


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


def _cell(x: float) -> str:
    """A table's number, or — where there is none (a D that did not reach that t or T)."""
    return "—" if x != x else _fmt(x)


def markdown_table(frame: pd.DataFrame, index_name: str) -> str:
    head = f"| {index_name} | " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|" + "---|" * (len(frame.columns) + 1)
    body = [
        f"| {i} | " + " | ".join(map(str, row)) + " |"
        for i, row in zip(frame.index, frame.to_numpy(), strict=True)
    ]
    return "\n".join([head, rule, *body])


def eq6(d_opt: dict[int, float]) -> str:
    """Eq. 6 in a word: 'holds', 'violated at T = 3, 4', or '—' with D_opt at under two T
    (nothing to test)."""
    if len(d_opt) < 2:
        return "—"
    bad = monotone(d_opt)
    return f"violated at T = {', '.join(map(str, bad))}" if bad else "holds"


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
    """The condition's answer in words, from D_opt(T) at the T every D reached (opt) and
    μ_t at its last t = T − 1, where every D compares."""
    if opt.empty:
        return f"With {label(cond)}, there is {NO_D_OPT} yet."
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
    if len(d_opt) < 2:
        text.append(f" With D_opt at T = {t_max} only, the paper's Eq. 6 cannot be tested.")
    elif not bad:
        text.append(" D_opt(T) never decreases as T grows, as the paper's Eq. 6 predicts.")
    else:
        text.append(
            f" D_opt(T) decreases at T = {', '.join(map(str, bad))}, against the paper's Eq. 6."
        )
    mu = eco.groupby(["D", "t"])["mu_t"].mean()
    last = t_max - 1
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
        " (ecosys/measures/exact.py): the KL rate KL(p_data ‖ p_θ) per token on fresh"
        " p_data blocks;"
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


def comparison(agg: pd.DataFrame, upto: coverage.Complete) -> pd.DataFrame:
    """μ_T at each condition's complete T (the largest T every D of it reached: upto), a
    row per condition and a column per D: how the arms of a comparison preset (families,
    segments, protocols, τ, …) fare. A condition with no complete T has no row."""
    last = coverage.at(agg, upto)
    table = last.groupby([*CONDITION, "T", "D"])["mu_T"].mean().unstack("D")
    table.index = [f"{label(k[:-1])} (T = {k[-1]})" for k in table.index]
    table.columns = [f"D = {d_label(d)}" for d in table.columns]
    return table


def comparison_section(agg: pd.DataFrame, upto: coverage.Complete) -> list[str]:
    table = comparison(agg, upto).map(_cell)
    return [
        "## Conditions compared",
        "",
        "μ_T (mean perplexity over the first T iterations) at the largest T every D of each"
        " condition reached:",
        "",
        markdown_table(table, "condition"),
        "",
    ]


def write(
    out: Path,
    sources: str,
    notes: list[str],
    reps: int,
    tables: dict[tuple, Condition],
    figures: list[Drawn],
    extra: list[str] | None = None,
    head: list[str] | None = None,
) -> Path:
    """tables: per condition its Condition (analysis/tables.py); extra: further sections
    (markdown lines) before the figures; head: what the report opens with
    (analysis/summary.py's table)."""
    lines = [
        "# ecosys report",
        "",
        *(head or []),
        f"Source: {sources}. Intervals and probabilities: {reps} bootstrap replicates over "
        "test blocks, "
        "models and seeds (95% percentile intervals; ties go to the smaller D).",
    ]
    if notes:
        lines += ["", "Missing from the sweep:", *[f"- {n}" for n in notes]]
    for cond, t in tables.items():
        given = f", {GIVEN}" if t.single_seed else ""
        lines += [
            "",
            f"## {label(cond)}",
            "",
            verdict(cond, t.eco, t.opt, t.p_opt, t.world),
            "",
        ]
        if t.coverage:
            lines += [*(f"- {line}" for line in t.coverage), ""]
        lines += [
            f"**D_opt(T)**, with the probability that it is the optimum{given}:",
            "",
            f"None: {NO_D_OPT}."
            if t.opt.empty
            else markdown_table(d_opt_line(t.opt, t.p_opt), "T"),
            "",
        ]
        point = t.agg.groupby(["T", "D"])["mu_T"].mean()
        ci = t.intervals.set_index(["T", "D"])
        cells = {
            f"D = {d_label(d)}": [
                f"{_fmt(point[(T, d)])} "
                f"[{_fmt(ci.loc[(T, d), 'lo'])}, {_fmt(ci.loc[(T, d), 'hi'])}]"
                if (T, d) in point.index
                else "—"  # D did not reach T
                for T in sorted(t.agg["T"].unique())
            ]
            for d in sorted(t.agg["D"].unique())
        }
        lines += [
            f"**μ_T** = mean of μ_0 … μ_{{T−1}} [95% interval{given}]:",
            "",
            markdown_table(pd.DataFrame(cells, index=sorted(t.agg["T"].unique())), "T"),
            "",
        ]
        mu = t.eco.groupby(["t", "D"])["mu_t"].mean().unstack("D").map(_cell)
        mu.columns = [f"D = {d_label(d)}" for d in mu.columns]
        lines += [
            "**μ_t**, mean per-block test perplexity (t = −1: the base model):",
            "",
            markdown_table(mu, "t"),
            "",
        ]
    lines += ["", *(extra or []), *figure_lines(figures)]
    path = out / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def figure_lines(drawn: list[Drawn]) -> list[str]:
    """The figures section: each figure shown, or, drawn per group of conditions, a link
    per group named by what its conditions share."""
    lines = ["## Figures", ""]
    files: dict[str, list[Drawn]] = {}
    for d in drawn:
        files.setdefault(d.name, []).append(d)
    for name, same in files.items():
        if len(same) == 1 and not same[0].group:
            lines.append(f"![{name}]({name}.png){_pdf(same[0])}")
            continue
        lines += ["", f"**{name}**, a figure per group of conditions:", ""]
        lines += [f"- [{d.group}]({d.stem}.png){_pdf(d)}" for d in same]
        lines.append("")
    return lines


def _pdf(d: Drawn) -> str:
    """The link to a figure's PDF copy, where one was written."""
    return f" ([pdf]({d.stem}.pdf))" if d.pdf else ""
