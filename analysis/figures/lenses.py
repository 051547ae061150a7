"""What collapses, drawn: a compact fingerprint per condition (`lenses`) and, for a single
condition or on request (--lens-panels), every lens against t (`lens_panels`).

The fingerprint is a heatmap per D: a row per lens that has a collapsed direction (and
perplexity μ_t on top), a column per t, coloured by how far the lens has moved from its
t = 0 value toward collapse: −sign · log2(value_t / value_0), clipped at ±2 (a factor of
4); red is toward collapse, blue away. Its size does not grow with T or D: a condition is
a row of fixed width and a height set by the number of lenses.
"""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.colors import LogNorm
from matplotlib.ticker import MaxNLocator

from analysis import facets, lenses
from analysis.figures.canvas import Drawing, Options, figure, grouped, headline, plt
from analysis.lenses import REAL, REFERENCE, Lens
from analysis.sweep import CONDITION, d_label
from analysis.tables import Analysis

WIDTH = 11.0  # inches of a condition's row of D panels, whatever its number of D
LENS_IN = 0.19  # inches per lens row
ROWS = 6  # conditions in one fingerprint figure, at most
CLIP = 2.0  # log2 change shown in full colour: a factor of 4
CMAP = matplotlib.colormaps["RdBu_r"].with_extremes(bad="0.88")  # grey: no value
CAPTION = (
    "What collapses: each lens's change from t = 0, toward collapse (red) or away (blue), a"
    " panel per D · colour: log2(value_t / value_0) signed toward collapse,"
    f" clipped at ×{2**CLIP:g}"
)


def _toward(g: pd.DataFrame, keyed: list[Lens]) -> pd.DataFrame:
    """[lens × t] of one condition and D: the log2 change from t = 0 in the lens's
    collapsed direction (NaN where a value or its t = 0 value is not positive)."""
    v = g.pivot_table(index="lens", columns="t", values="value").reindex([x.key for x in keyed])
    v0 = v[0] if 0 in v.columns else pd.Series(np.nan, index=v.index)
    ratio = v.div(v0, axis=0).where((v > 0) & (v0 > 0).to_numpy()[:, None])
    signs = pd.Series([x.sign for x in keyed], index=v.index)
    return -np.log2(ratio).mul(signs, axis=0)


@figure("lenses")
def fingerprint(a: Analysis, _: Options) -> Drawing:
    """Per condition, a row of heatmaps (one per D) of each lens's move toward collapse."""
    if not a.lens.lenses:
        return
    keyed = [REFERENCE, *(x for x in a.lens.lenses if x.sign)]
    series = lenses.series(a.sweep.rows, keyed)
    series = series[series["t"] >= 0]
    parts = dict(list(series.groupby(CONDITION)))
    for group in grouped([c for c in a.conditions if c in parts], ROWS):
        have = set(pd.concat([parts[c] for c in group.conds])["lens"])
        shown = [x for x in keyed if x.key in have]
        height = LENS_IN * len(shown) + 1.3
        fig = plt.figure(figsize=(WIDTH + 2.6, height * len(group.conds)), layout="constrained")
        subs = fig.subfigures(len(group.conds), 1, squeeze=False)[:, 0]
        for sub, cond, name in zip(subs, group.conds, facets.titles(group.conds), strict=True):
            g = parts[cond]
            ds = sorted(g["D"].unique())
            axes = sub.subplots(1, len(ds), sharey=True, squeeze=False)[0]
            for i, (ax, d) in enumerate(zip(axes, ds, strict=True)):
                m = _toward(g[g["D"] == d], shown)
                image = ax.imshow(
                    m.to_numpy(dtype=float),
                    cmap=CMAP,
                    vmin=-CLIP,
                    vmax=CLIP,
                    aspect="auto",
                    interpolation="nearest",
                )
                ax.grid(False)
                ax.set_title(f"D = {d_label(d)}", fontsize=9)
                if i == 0:  # shared by the row's panels
                    ax.set_yticks(range(len(shown)), [x.title for x in shown], fontsize=7)
                else:
                    ax.tick_params(axis="y", labelleft=False)
                at = range(0, m.shape[1], -(-m.shape[1] // 6))  # six t labels at most
                ax.set_xticks(at, [str(m.columns[j]) for j in at], fontsize=7)
                ax.set_xlabel("t", fontsize=8)
            bar = sub.colorbar(image, ax=list(axes), shrink=0.9, extend="both", pad=0.01)
            x = f"×{2**CLIP:g}"
            bar.set_ticks(
                [-CLIP, 0, CLIP], labels=[f"away {x}", "as t = 0", f"toward {x}"], fontsize=7
            )
            if name:
                sub.suptitle(facets.wrap(name, 110), fontsize=10)
        headline(fig, CAPTION, group.conds)
        yield group, fig


@figure("lens_panels")
def panels(a: Analysis, options: Options) -> Drawing:
    """Every lens against t (a line per D) and the cross-model matrices: for a single
    condition, or for each (a file each) with --lens-panels."""
    if not a.lens.lenses or (len(a.conditions) > 1 and not options.lens_panels):
        return
    titles = {x.key: x.title for x in a.lens.lenses}
    table = lenses.series(a.sweep.rows, a.lens.lenses)
    cross = lenses.cross_matrices(a.sweep.runs) if a.sweep.blocks is not None else {}
    parts = dict(list(table.groupby(CONDITION)))
    for group in grouped([c for c in a.conditions if c in parts], 1):
        (cond,) = group.conds
        fig = _panels(parts[cond], titles, cross.get(cond, []))
        headline(fig, "What collapses: each lens against t, by D", [cond])
        yield group, fig


def _panels(
    g: pd.DataFrame, titles: dict[str, str], mats: list[tuple[int, int, np.ndarray]], cols: int = 6
) -> plt.Figure:
    """One condition's lenses (lenses.series rows), a panel each with a line per D, then
    its cross-model matrices on one log colour scale. tail_share's t = −1 is the real
    data's: a dashed line, not a point."""
    keys = [k for k in titles if k in set(g["lens"])]
    rows = -(-(len(keys) + len(mats)) // cols)
    fig, axes = plt.subplots(
        rows, cols, figsize=(3.2 * cols, 2.8 * rows), squeeze=False, layout="constrained"
    )
    block = axes.ravel()
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
        ts = x["t"] if len(x) else g["t"]  # the real data's line alone: the condition's t
        ax.set(xlabel="iteration t", title=titles[key], xlim=(ts.min() - 0.5, ts.max() + 0.5))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))  # one t: one tick
        if key.startswith("ppl/"):  # perplexities grow by orders of magnitude
            ax.set_yscale("log")
    if block[0].get_legend_handles_labels()[0]:
        block[0].legend(fontsize=7)
    norm = None
    if mats:  # one colour scale, so that first and last t compare
        low = min(m[m > 0].min() for _, _, m in mats)
        norm = LogNorm(vmin=low, vmax=max(np.nanmax(m) for _, _, m in mats))
    for ax, (seed, t, matrix) in zip(block[len(keys) :], mats, strict=False):
        _matrix(ax, matrix, norm)
        ax.set(
            xlabel="continuations of model j",
            ylabel="scored by model i",
            title=f"cross ppl, D = {d_label(max(ds))}, seed {seed}, t = {t}",
        )
    for ax in block[len(keys) + len(mats) :]:
        ax.axis("off")
    return fig


def _matrix(ax: plt.Axes, matrix: np.ndarray, norm: LogNorm | None) -> None:
    """A D × D matrix as square cells, model 0 at the top left, with its colour bar. Drawn
    with matplotlib's pcolormesh: seaborn's heatmap draws the whole figure on every call
    to place its tick labels, which made this figure the analysis's slowest by far."""
    n = len(matrix)
    mesh = ax.pcolormesh(np.ma.masked_invalid(matrix), cmap="magma_r", norm=norm)
    ax.set(xlim=(0, n), ylim=(n, 0), aspect="equal")
    step = -(-n // 8)  # at most 8 labels a side
    ticks = range(0, n, step)
    ax.set_xticks([i + 0.5 for i in ticks], [str(i) for i in ticks])
    ax.set_yticks([i + 0.5 for i in ticks], [str(i) for i in ticks])
    ax.grid(False)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.figure.colorbar(mesh, ax=ax, shrink=0.8)
