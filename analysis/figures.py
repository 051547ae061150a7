"""The paper's figures from a sweep (seaborn; PNG for reading, PDF for papers).

    d_opt           D_opt(T) against T, shaded by P(D is the optimum)     (paper Fig. 3)
    trajectories    μ_t per D with the combined-std band                   (Fig. 4)
    mu_T            μ_T against D at the largest T every D reached         (Fig. 5b)
    distributions   per-block perplexities per t and D                     (App. E)
    exact           the synthetic world's exact measurements per t and D, and δ_EDQ
                    against the perplexity change it should predict        (beyond the paper)
    protocols       D_opt(T) under the paper's fixed epochs and under equal steps, side by side
    regimes         D_opt(T) per data regime (replace, accumulate, …) side by side, and μ_t
                    against t at the smallest and largest D per regime
    lenses          every collapse lens against t per D, and the cross-model perplexity
                    matrix at the first and last t for the largest D (run dirs only)

A sweep over several conditions (scale, data quality, a swept key, …) gets one panel per condition.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.colors import LogNorm
from matplotlib.ticker import MaxNLocator

from analysis import coverage
from analysis.lenses import REAL
from analysis.sweep import CONDITION, d_label, name, ordered

sns.set_theme(context="paper", style="whitegrid", font_scale=1.1)


def label(cond) -> str:
    return name(cond)


def _save(fig: plt.Figure, out: Path, name: str) -> list[Path]:
    paths = [out / f"{name}.png", out / f"{name}.pdf"]
    fig.savefig(paths[0], dpi=150, bbox_inches="tight")
    fig.savefig(paths[1], bbox_inches="tight")
    plt.close(fig)
    return paths


def _panels(n: int, width: float = 5.0, height: float = 3.6):
    fig, axes = plt.subplots(1, n, figsize=(width * n, height), squeeze=False)
    return fig, axes[0]


def d_opt(opt: pd.DataFrame, p_opt: pd.DataFrame, out: Path) -> list[Path]:
    conds = list(opt.groupby(CONDITION).groups)
    fig, axes = _panels(len(conds))
    for ax, cond in zip(axes, conds, strict=True):
        p = p_opt.set_index(CONDITION).loc[[cond]].pivot_table(index="D", columns="T", values="p")
        p = p.sort_index(ascending=False)
        sns.heatmap(
            p,
            ax=ax,
            cmap="Blues",
            vmin=0,
            vmax=1,
            cbar_kws={"label": "P(D is optimal)"},
            yticklabels=[d_label(d) for d in p.index],
            linewidths=0.5,
            linecolor="white",
        )
        o = opt.set_index(CONDITION).loc[[cond]].set_index("T")["D_opt"]
        rows = {d: i + 0.5 for i, d in enumerate(p.index)}
        cols = {T: j + 0.5 for j, T in enumerate(p.columns)}
        ax.plot(
            [cols[T] for T in o.index],
            [rows[d] for d in o],
            "o-",
            color="darkorange",
            lw=2,
            label="D_opt(T)",
        )
        ax.set(xlabel="T (iterations aggregated)", ylabel="diversity D", title=label(cond))
    fig.suptitle("D_opt(T) = argmin_D μ_T (orange); shading: bootstrap P(D is optimal)", y=1.02)
    return _save(fig, out, "d_opt")


def trajectories(eco: pd.DataFrame, out: Path) -> list[Path]:
    conds = list(eco.groupby(CONDITION).groups)
    fig, axes = _panels(len(conds))
    for ax, cond in zip(axes, conds, strict=True):
        g = (
            eco.set_index(CONDITION)
            .loc[[cond]]
            .groupby(["D", "t"])[["mu_t", "std"]]
            .mean()
            .reset_index()
        )
        palette = sns.color_palette("viridis", g["D"].nunique())
        for color, (d, x) in zip(palette, g.groupby("D"), strict=True):
            ax.plot(x["t"], x["mu_t"], "o-", color=color, ms=3, label=f"D = {d_label(d)}")
            lo = np.maximum(x["mu_t"] - x["std"], x["mu_t"] * 0.05)  # a log axis has no 0
            ax.fill_between(x["t"], lo, x["mu_t"] + x["std"], color=color, alpha=0.15, lw=0)
        ax.set_yscale("log")
        ax.set(
            xlabel="iteration t (−1: base model)",
            ylabel="μ_t, mean test perplexity",
            title=label(cond),
        )
        ax.legend(title="band: ± combined std", fontsize=8)
    return _save(fig, out, "trajectories")


def mu_T(
    agg: pd.DataFrame, intervals: pd.DataFrame, upto: coverage.Complete, out: Path
) -> list[Path]:
    """μ_T against D at each condition's complete T (upto: the largest T every D reached;
    analysis/coverage.py); none ([]) where no condition has one."""
    agg = coverage.at(agg, upto)
    if agg.empty:
        return []
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for cond, g in agg.groupby(CONDITION):
        T = int(g["T"].max())
        point = g[g["T"] == T].groupby("D")["mu_T"].mean()
        ci = intervals.set_index(CONDITION).loc[[cond]]
        ci = ci[ci["T"] == T].set_index("D").loc[point.index]
        err = np.vstack([point - ci["lo"], ci["hi"] - point])
        ax.errorbar(
            point.index, point, yerr=err, fmt="o-", capsize=3, label=f"{label(cond)} (T = {T})"
        )
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ds = sorted(agg["D"].unique())
    ax.set_xticks(ds, [d_label(d) for d in ds])
    ax.set(
        xlabel="diversity D",
        ylabel="μ_T (95% bootstrap interval)",
        title="Aggregated perplexity against diversity",
    )
    ax.legend(fontsize=8)
    return _save(fig, out, "mu_T")


def distributions(blocks: pd.DataFrame, out: Path) -> list[Path]:
    conds = list(blocks.groupby(CONDITION).groups)
    fig, axes = _panels(len(conds), width=8.0)
    for ax, cond in zip(axes, conds, strict=True):
        b = blocks.set_index(CONDITION).loc[[cond]].reset_index()
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
        ax.set(
            xlabel="iteration t (−1: base model)",
            ylabel="per-block test perplexity",
            title=label(cond),
        )
        ax.legend(title="D", fontsize=8, ncols=len(order), loc="upper left")
    return _save(fig, out, "distributions")


def _grid(table: pd.DataFrame, n: int, width: float, height: float):
    """A row of n panels per condition of `table`: the figure and, per row, (its axes,
    the condition, the condition's rows, D → colour)."""
    conds = list(table.groupby(CONDITION).groups)
    fig, axes = plt.subplots(len(conds), n, figsize=(width * n, height * len(conds)), squeeze=False)
    grid = []
    for row, cond in zip(axes, conds, strict=True):
        g = table.set_index(CONDITION).loc[[cond]].reset_index()
        ds = sorted(g["D"].unique())
        grid.append(
            (row, cond, g, dict(zip(ds, sns.color_palette("viridis", len(ds)), strict=True)))
        )
    return fig, grid


EXACT_PANELS = [  # (column of edq.per_t, y label)
    ("kl_rate", "KL(p_data ‖ p_θ) per token (nats)"),
    ("pool_w2", "W2(pool, p_data) on g = log p_data / L"),
    ("js", "mean pairwise JS of the models (nats)"),
    ("param_dist", "‖θ_t − θ_base‖₂"),
]


def exact(table: pd.DataFrame, changes: pd.DataFrame, out: Path) -> list[Path]:
    """One row per condition: the exact measurements against t (a line per D), and a
    scatter of δ_EDQ against the perplexity change from t − 1 to t."""
    fig, grid = _grid(table, len(EXACT_PANELS) + 1, 4.2, 3.4)
    for row, cond, g, palette in grid:
        for ax, (col, ylabel) in zip(row, EXACT_PANELS, strict=False):
            for d, x in g.groupby("D"):
                if col in x and x[col].notna().any():
                    ax.plot(x["t"], x[col], "o-", ms=3, color=palette[d], label=f"D = {d_label(d)}")
            ax.set(xlabel="iteration t (−1: base model)", ylabel=ylabel)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        row[0].set_title(label(cond), loc="left", fontsize=9)
        row[0].legend(fontsize=7)
        ax = row[-1]
        c = changes.set_index(CONDITION).loc[[cond]].reset_index() if len(changes) else changes
        for d, x in c.groupby("D") if len(c) else []:
            ax.scatter(
                x["exact/edq"], x["d_log_ppl"], s=10, color=palette[d], label=f"D = {d_label(d)}"
            )
        ax.axhline(0, color="grey", lw=0.8)
        ax.axvline(0, color="grey", lw=0.8)
        ax.set(xlabel="δ_EDQ of the data trained on at t", ylabel="log μ_{m,t} − log μ_{m,t−1}")
    fig.suptitle(
        "Synthetic world, exact measurements (right: EDQ predicts the upper-right and lower-left)",
        y=1.01,
    )
    fig.tight_layout()
    return _save(fig, out, "exact")


def _arms(g: pd.DataFrame, axis: str) -> list[tuple[str, pd.DataFrame]]:
    """The rows of each value of `axis` in g, in sweep.ORDER."""
    parts = dict(list(g.groupby(axis)))
    return [(v, parts[v]) for v in ordered(axis, parts)]


def _d_opt_panel(ax: plt.Axes, axis: str, g: pd.DataFrame) -> None:
    """D_opt(T) of each value of `axis` in g (D_opt rows) as a line on a log2 D axis; a
    marker and a dash each, as arms that agree draw one line over another."""
    styles = ["o-", "s--", "^:", "D-."]
    for i, (value, x) in enumerate(_arms(g, axis)):
        ax.plot(x["T"], x["D_opt"], styles[i % len(styles)], ms=7 - 1.5 * (i % 3), label=value)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_yscale("log", base=2)
    ds = sorted(g["D_opt"].unique())
    ax.set_yticks(ds, [d_label(d) for d in ds])
    ax.set(xlabel="T (iterations aggregated)", ylabel="D_opt(T)")
    ax.legend(title=axis, fontsize=8)


def protocols(groups: list[tuple[tuple, pd.DataFrame]], out: Path) -> list[Path]:
    """D_opt(T) per protocol, a panel per condition run under several (stats.axis_groups)."""
    fig, axes = _panels(len(groups))
    for ax, (key, g) in zip(axes, groups, strict=True):
        _d_opt_panel(ax, "protocol", g)
        ax.set_title(label(key))
    return _save(fig, out, "protocols")


def regimes(groups: list[tuple[tuple, pd.DataFrame]], eco: pd.DataFrame, out: Path) -> list[Path]:
    """A row per condition run under several data regimes (stats.axis_groups): D_opt(T)
    per regime, and μ_t against t at the smallest (solid) and largest (dashed) D per regime
    (a colour each), on a log axis: whether the smallest D collapses under each."""
    fig, axes = plt.subplots(len(groups), 2, figsize=(10.5, 3.8 * len(groups)), squeeze=False)
    for (left, right), (key, g) in zip(axes, groups, strict=True):
        arms = _arms(g, "regime")
        _d_opt_panel(left, "regime", g)
        left.set_title(label(key), loc="left", fontsize=9)
        palette = sns.color_palette("deep", len(arms))
        for color, (value, x) in zip(palette, arms, strict=True):
            cond = x[CONDITION].iloc[0]
            e = eco.set_index(CONDITION).loc[[tuple(cond)]]
            mu = e[e["t"] >= 0].groupby(["D", "t"])["mu_t"].mean()
            ds = sorted(mu.index.get_level_values("D").unique())
            for d, style in ((ds[0], "o-"), (ds[-1], "s--")):
                right.plot(
                    mu[d].index, mu[d], style, ms=3, color=color, label=f"{value}, D = {d_label(d)}"
                )
        right.set_yscale("log")
        right.xaxis.set_major_locator(MaxNLocator(integer=True))
        right.set(xlabel="iteration t", ylabel="μ_t, mean test perplexity")
        right.legend(fontsize=7)
    fig.suptitle("Data regimes: D_opt(T) (left); μ_t at the smallest and largest D (right)")
    fig.tight_layout()
    return _save(fig, out, "regimes")


def lenses(
    table: pd.DataFrame,
    titles: dict[str, str],
    cross: dict[tuple, list[tuple[int, int, np.ndarray]]],
    out: Path,
    cols: int = 6,
) -> list[Path]:
    """Per condition, a block of rows of `cols` panels: one per lens (lenses.series;
    titles: key → panel title) with a line per D, then the cross-model matrices
    (lenses.cross_matrices, on one log colour scale) where the runs kept them.
    tail_share's t = −1 is the real data's: a dashed line, not a point."""
    keys = [k for k in titles if k in set(table["lens"])]
    n_cross = max((len(c) for c in cross.values()), default=0)
    per_cond = -(-(len(keys) + n_cross) // cols)  # rows of panels per condition
    conds = list(table.groupby(CONDITION).groups)
    fig, axes = plt.subplots(
        len(conds) * per_cond,
        cols,
        figsize=(3.2 * cols, 2.9 * per_cond * len(conds)),
        squeeze=False,
    )
    for c, cond in enumerate(conds):
        block = axes[c * per_cond : (c + 1) * per_cond].ravel()
        g = table.set_index(CONDITION).loc[[cond]].reset_index()
        ds = sorted(g["D"].unique())
        palette = dict(zip(ds, sns.color_palette("viridis", len(ds)), strict=True))
        for ax, key in zip(block, keys, strict=False):
            x = g[g["lens"] == key]
            real = x[x["t"] < 0] if key == REAL else x.iloc[:0]
            if len(real):
                ax.axhline(real["value"].mean(), color="grey", ls="--", lw=1, label="real data")
                x = x[x["t"] >= 0]
            for d, y in x.groupby("D"):
                ax.plot(y["t"], y["value"], "o-", ms=3, color=palette[d], label=f"D = {d_label(d)}")
            ax.set(xlabel="iteration t", title=titles[key])
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            if key.startswith("ppl/"):  # perplexities grow by orders of magnitude
                ax.set_yscale("log")
        if block[0].get_legend_handles_labels()[0]:
            block[0].legend(fontsize=7)
        if len(conds) > 1:
            block[0].set_ylabel(label(cond), fontsize=8)
        mats = cross.get(cond, [])
        norm = None
        if mats:  # one colour scale, so that first and last t compare
            low = min(m[m > 0].min() for _, _, m in mats)
            norm = LogNorm(vmin=low, vmax=max(np.nanmax(m) for _, _, m in mats))
        for ax, (seed, t, matrix) in zip(block[len(keys) :], mats, strict=False):
            sns.heatmap(
                matrix, ax=ax, cmap="magma_r", square=True, norm=norm, cbar_kws={"shrink": 0.8}
            )
            ax.set(
                xlabel="continuations of model j",
                ylabel="scored by model i",
                title=f"cross ppl, D = {d_label(max(palette))}, seed {seed}, t = {t}",
            )
        for ax in block[len(keys) + len(mats) :]:
            ax.axis("off")
    title = "What collapses: each lens against t, by D"
    fig.suptitle(title if len(conds) > 1 else f"{title} — {label(conds[0])}")
    fig.tight_layout()
    return _save(fig, out, "lenses")


def draw(a, out: Path, lens_panels: bool = False) -> list[str]:
    """Every figure the analysis `a` has data for; their names."""
    from analysis import edq, publish

    names = []
    if len(a.opt):
        d_opt(a.opt, a.p_opt, out)
        names.append("d_opt")
    trajectories(a.eco, out)
    names.append("trajectories")
    if mu_T(a.agg, a.intervals, a.upto, out):
        names.append("mu_T")
    if a.sweep.blocks is not None:
        distributions(a.sweep.blocks, out)
        names.append("distributions")
    if a.protocols:
        protocols(a.protocols, out)
        names.append("protocols")
    if a.regimes:
        regimes(a.regimes, a.eco, out)
        names.append("regimes")
    if edq.has_exact(a.sweep.rows):
        exact(edq.per_t(a.sweep.rows), edq.changes(a.sweep.rows), out)
        names.append("exact")
    if a.lens.lenses:
        series, cross = publish.lens_series(a)
        lenses(series, {x.key: x.title for x in a.lens.lenses}, cross, out)
        names.append("lenses")
    return names
