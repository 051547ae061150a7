"""Figures that set conditions side by side along one label (protocols, data regimes),
and the synthetic world's exact measurements."""

from __future__ import annotations

import pandas as pd
import seaborn as sns
from matplotlib.ticker import MaxNLocator

from analysis import edq, facets
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
from analysis.sweep import CONDITION, d_label, ordered
from analysis.tables import Analysis

ROWS = 4  # conditions (a row of panels each) in one figure, at most


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
    ax.legend(title=axis, fontsize=7)


@figure("protocols")
def protocols(a: Analysis, _: Options) -> Drawing:
    """D_opt(T) per protocol, a panel per condition run under several (stats.axis_groups)."""
    by_key = dict(a.protocols)
    for group in grouped(list(by_key)) if by_key else []:
        width = 4.6
        fig, axes = panels(len(group.conds), width, 3.4)
        for ax, key, name in zip(axes, group.conds, facets.titles(group.conds), strict=True):
            _d_opt_panel(ax, "protocol", by_key[key])
            title(ax, name, width)
        headline(fig, "D_opt(T) under each protocol", group.conds)
        yield group, fig


@figure("regimes")
def regimes(a: Analysis, _: Options) -> Drawing:
    """A row per condition run under several data regimes (stats.axis_groups): D_opt(T)
    per regime, and μ_t against t at the smallest (solid) and largest (dashed) D per regime
    (a colour each), on a log axis: whether the smallest D collapses under each."""
    by_key = dict(a.regimes)
    for group in grouped(list(by_key), ROWS) if by_key else []:
        n = len(group.conds)
        fig, axes = plt.subplots(n, 2, figsize=(10.5, 3.6 * n), squeeze=False, layout="constrained")
        names = facets.titles(group.conds)
        for (left, right), key, name in zip(axes, group.conds, names, strict=True):
            g = by_key[key]
            arms = _arms(g, "regime")
            _d_opt_panel(left, "regime", g)
            title(left, name, 5.0, loc="left")
            palette = sns.color_palette("deep", len(arms))
            for color, (value, x) in zip(palette, arms, strict=True):
                e = a.conditions[tuple(x[CONDITION].iloc[0])].eco
                mu = e[e["t"] >= 0].groupby(["D", "t"])["mu_t"].mean()
                ds = sorted(mu.index.get_level_values("D").unique())
                for d, style in ((ds[0], "o-"), (ds[-1], "s--")):
                    right.plot(
                        mu[d].index,
                        mu[d],
                        style,
                        ms=3,
                        color=color,
                        label=f"{value}, D = {d_label(d)}",
                    )
            right.set_yscale("log")
            right.xaxis.set_major_locator(MaxNLocator(integer=True))
            right.set(xlabel="iteration t", ylabel="μ_t, mean test perplexity")
            right.legend(fontsize=7)
        headline(
            fig,
            "Data regimes: D_opt(T) (left); μ_t at the smallest and largest D (right)",
            group.conds,
        )
        yield group, fig


EXACT_PANELS = [  # (column of edq.per_t, y label)
    ("kl_rate", "KL(p_data ‖ p_θ) per token (nats)"),
    ("pool_w2", "W2(pool, p_data) on g = log p_data / L"),
    ("js", "mean pairwise JS of the models (nats)"),
    ("param_dist", "‖θ_t − θ_base‖₂"),
]


@figure("exact")
def exact(a: Analysis, _: Options) -> Drawing:
    """A row per condition: the exact measurements against t (a line per D), and a
    scatter of δ_EDQ against the perplexity change from t − 1 to t."""
    rows = a.sweep.rows
    if not edq.has_exact(rows):
        return
    table, changes = edq.per_t(rows), edq.changes(rows)
    tables = dict(list(table.groupby(CONDITION)))
    moves = dict(list(changes.groupby(CONDITION))) if len(changes) else {}
    for group in grouped(list(tables), ROWS):
        n, cols = len(group.conds), len(EXACT_PANELS) + 1
        fig, axes = plt.subplots(
            n, cols, figsize=(4.0 * cols, 3.3 * n), squeeze=False, layout="constrained"
        )
        names = facets.titles(group.conds)
        for row, cond, name in zip(axes, group.conds, names, strict=True):
            g = tables[cond]
            ds = sorted(g["D"].unique())
            palette = dict(zip(ds, sns.color_palette("viridis", len(ds)), strict=True))
            for ax, (col, ylabel) in zip(row, EXACT_PANELS, strict=False):
                for d, x in g.groupby("D"):
                    if col in x and x[col].notna().any():
                        ax.plot(
                            x["t"], x[col], "o-", ms=3, color=palette[d], label=f"D = {d_label(d)}"
                        )
                ax.set(xlabel="iteration t (−1: base model)", ylabel=ylabel)
                ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            title(row[0], name, 4.0, loc="left")
            row[0].legend(fontsize=7)
            ax = row[-1]
            for d, x in moves[cond].groupby("D") if cond in moves else []:
                ax.scatter(
                    x["exact/edq"],
                    x["d_log_ppl"],
                    s=10,
                    color=palette[d],
                    label=f"D = {d_label(d)}",
                )
            ax.axhline(0, color="grey", lw=0.8)
            ax.axvline(0, color="grey", lw=0.8)
            ax.set(xlabel="δ_EDQ of the data trained on at t", ylabel="log μ_{m,t} − log μ_{m,t−1}")
        headline(
            fig,
            "Synthetic world, exact measurements (right: EDQ predicts the upper-right and"
            " lower-left)",
            group.conds,
        )
        yield group, fig
