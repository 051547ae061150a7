"""The paper's figures: D_opt(T) (Fig. 3), μ_t (Fig. 4), μ_T against D (Fig. 5b), the
per-block distributions (App. E); a panel per condition, titled by what differs."""

from __future__ import annotations

import numpy as np
import seaborn as sns

from analysis import coverage, facets
from analysis.figures.canvas import (
    Drawing,
    Options,
    figure,
    grouped,
    headline,
    panels,
    plt,
    title,
)
from analysis.sweep import CONDITION, d_label
from analysis.tables import Analysis

LINES = 8  # conditions on one axes (μ_T against D), at most: past it, a figure per group


@figure("d_opt")
def d_opt(a: Analysis, _: Options) -> Drawing:
    """D_opt(T) against T, shaded by the bootstrap P(D is the optimum); one colour bar."""
    conds = [c for c, t in a.conditions.items() if len(t.opt)]
    for group in grouped(conds) if conds else []:
        width = 4.0
        fig, axes = panels(len(group.conds), width, 3.2)
        for ax, cond, name in zip(axes, group.conds, facets.titles(group.conds), strict=True):
            t = a.conditions[cond]
            p = t.p_opt.pivot_table(index="D", columns="T", values="p")  # D upward
            shade = ax.pcolormesh(
                p.to_numpy(), cmap="Blues", vmin=0, vmax=1, edgecolors="white", linewidth=0.5
            )
            rows = {d: i + 0.5 for i, d in enumerate(p.index)}
            cols = {T: j + 0.5 for j, T in enumerate(p.columns)}
            o = t.opt.set_index("T")["D_opt"]
            ax.plot(
                [cols[T] for T in o.index], [rows[d] for d in o], "o-", color="darkorange", lw=2
            )
            ax.set_xticks(list(cols.values()), [str(T) for T in cols])
            ax.set_yticks(list(rows.values()), [d_label(d) for d in rows])
            ax.grid(False)
            ax.set(xlabel="T (iterations aggregated)", ylabel="diversity D")
            title(ax, name, width)
        fig.colorbar(shade, ax=axes, label="P(D is optimal)", shrink=0.8)
        headline(
            fig, "D_opt(T) = argmin_D μ_T (orange); shading: bootstrap P(D is optimal)", group.conds
        )
        yield group, fig


@figure("trajectories")
def trajectories(a: Analysis, _: Options) -> Drawing:
    """μ_t per D with the combined-std band, on a log axis."""
    for group in grouped(list(a.conditions)):
        width = 4.6
        fig, axes = panels(len(group.conds), width, 3.4)
        for ax, cond, name in zip(axes, group.conds, facets.titles(group.conds), strict=True):
            g = a.conditions[cond].eco.groupby(["D", "t"])[["mu_t", "std"]].mean().reset_index()
            palette = sns.color_palette("viridis", g["D"].nunique())
            for color, (d, x) in zip(palette, g.groupby("D"), strict=True):
                ax.plot(x["t"], x["mu_t"], "o-", color=color, ms=3, label=f"D = {d_label(d)}")
                lo = np.maximum(x["mu_t"] - x["std"], x["mu_t"] * 0.05)  # a log axis has no 0
                ax.fill_between(x["t"], lo, x["mu_t"] + x["std"], color=color, alpha=0.15, lw=0)
            ax.set_yscale("log")
            ax.set(xlabel="iteration t (−1: base model)", ylabel="μ_t, mean test perplexity")
            title(ax, name, width)
            ax.legend(fontsize=7)
        headline(fig, "μ_t per D; band: ± the combined std over models' blocks", group.conds)
        yield group, fig


@figure("mu_T")
def mu_T(a: Analysis, _: Options) -> Drawing:
    """μ_T against D at each condition's complete T (the largest T every D reached:
    analysis/coverage.py), a line per condition; none where no condition has one."""
    agg = coverage.at(a.agg, a.upto)
    conds = list(agg.groupby(CONDITION).groups)
    for group in grouped(conds, LINES) if conds else []:
        fig, ax = plt.subplots(figsize=(6.4, 4.2), layout="constrained")
        names = facets.titles(group.conds)
        for cond, name in zip(group.conds, names, strict=True):
            g = agg.set_index(CONDITION).loc[[cond]]
            T = int(g["T"].max())
            point = g[g["T"] == T].groupby("D")["mu_T"].mean()
            ci = a.conditions[cond].intervals
            ci = ci[ci["T"] == T].set_index("D").loc[point.index]
            err = np.vstack([point - ci["lo"], ci["hi"] - point])
            said = facets.wrap(f"{name} (T = {T})" if name else f"T = {T}", 40)
            ax.errorbar(point.index, point, yerr=err, fmt="o-", capsize=3, label=said)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ds = sorted(agg.set_index(CONDITION).loc[group.conds]["D"].unique())
        ax.set_xticks(ds, [d_label(d) for d in ds])
        ax.set(xlabel="diversity D", ylabel="μ_T (95% bootstrap interval)")
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1), borderaxespad=0)
        headline(fig, "Aggregated perplexity μ_T against diversity", group.conds)
        yield group, fig


@figure("distributions")
def distributions(a: Analysis, _: Options) -> Drawing:
    """Per-block test perplexities per t and D (run dirs: W&B keeps no blocks)."""
    blocks = a.sweep.blocks
    if blocks is None:
        return
    parts = dict(list(blocks.groupby(CONDITION)))
    for group in grouped(list(a.conditions)):
        width = 7.0
        fig, axes = panels(len(group.conds), width, 3.6, cols=2)
        for ax, cond, name in zip(axes, group.conds, facets.titles(group.conds), strict=True):
            b = parts[cond]
            b = b.assign(D=b["D"].map(d_label))
            order = sorted(b["D"].unique(), key=float)
            sns.boxenplot(
                data=b,
                x="t",
                y="ppl",
                hue="D",
                hue_order=order,
                ax=ax,
                palette="viridis",
                showfliers=False,
                log_scale=True,
                linewidth=0.5,
            )
            ax.set(xlabel="iteration t (−1: base model)", ylabel="per-block test perplexity")
            title(ax, name, width)
            ax.legend(title="D", fontsize=7, ncols=len(order), loc="upper left")
        headline(fig, "Per-block test perplexity per t and D", group.conds)
        yield group, fig
