"""The phase diagram: D_opt(T) against the collapse rate (DESIGN.md §1), the instrument's
view of the paper's result. A column per condition at x = D = 1's collapse rate
(analysis/rate.py), a cell per T every D reached, coloured by D_opt(T); the rate's 95%
interval under each column. Two references that are not runs (analysis/references.py),
hatched: ecosys's SmolLM2-135M mini run and the paper's OPT-125M, whose rate is an
estimate (ln(126)/9 for the demo's D = 1, over DESIGN.md's "~70× faster than OPT-125m").
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

import numpy as np
import seaborn as sns
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import FuncFormatter

from analysis import facets
from analysis.figures.canvas import Drawing, Options, chars, figure, grouped, headline, plt
from analysis.rate import fmt, stand_in
from analysis.references import REFERENCES
from analysis.sweep import d_label
from analysis.tables import Analysis

LINEAR = 0.01  # the symlog x axis is linear within ±1% per iteration, logarithmic beyond
WIDTH = 0.34  # a column's width, in decades of the symlog axis
GAP = 0.45  # the least distance between two columns' centres, in decades
INCHES = 1.1  # a decade's width on the page: the figure grows with the columns' span
LABEL = 34  # characters per line of a column's (rotated) label
MOST = 16  # columns of runs in one figure, at most: past it, a figure per group
SETTLED = 0.9  # a cell whose D_opt has a lower bootstrap P shows it


@dataclass
class Column:
    """What one column draws: a condition's or a reference's D_opt(T) at its rate."""

    label: str
    rate: float
    d_opt: dict[int, float]  # T → D_opt(T)
    p: dict[int, float]  # T → P(D_opt(T) is the optimum); empty for a reference
    interval: tuple[float, float] | None  # the rate's 95% interval (None: a reference)

    @property
    def reference(self) -> bool:
        return self.interval is None


def dodge(u: list[float], gap: float) -> list[float]:
    """Positions at least `gap` apart, each cluster of crowded ones spread evenly around
    the mean of its members' own positions (in the order of u)."""
    clusters: list[tuple[float, list[int]]] = []  # (first position, members by u)
    for i in sorted(range(len(u)), key=u.__getitem__):
        clusters.append((u[i], [i]))
        while len(clusters) > 1:
            (a, ma), (_, mb) = clusters[-2], clusters[-1]
            if a + gap * len(ma) <= clusters[-1][0] + 1e-12:
                break
            members = ma + mb
            centre = float(np.mean([u[j] for j in members]))
            clusters[-2:] = [(centre - gap * (len(members) - 1) / 2, members)]
    out = [0.0] * len(u)
    for start, members in clusters:
        for k, j in enumerate(members):
            out[j] = start + k * gap
    return out


def _columns(a: Analysis, conds: list[tuple]) -> list[Column]:
    """The runs' columns (labelled by what differs), then the references'."""
    cols = []
    for cond, name in zip(conds, facets.titles(conds), strict=True):
        t = a.conditions[cond]
        r = t.rate
        p = t.p_opt.set_index(["T", "D"])["p"]
        d_opt = {int(T): d for T, d in zip(t.opt["T"], t.opt["D_opt"], strict=True)}
        head = textwrap.fill(name, LABEL) + "\n" if name else ""
        cols.append(
            Column(
                f"{head}{fmt(r.value)}{stand_in(r.D)}",
                r.value,
                d_opt,
                {T: float(p.get((T, d), np.nan)) for T, d in d_opt.items()},
                (r.lo, r.hi),
            )
        )
    for ref in REFERENCES:
        rate = f"≈{fmt(ref.rate)} (estimated)" if ref.estimated else fmt(ref.rate)
        said = f"{textwrap.fill(f'reference: {ref.name}', LABEL)}\n{rate}"
        cols.append(Column(said, ref.rate, dict(ref.d_opt), {}, None))
    return cols


@figure("phase")
def phase(a: Analysis, options: Options) -> Drawing:
    """D_opt(T) against the collapse rate, with the two references; drawn where more
    than one condition has a rate and a D_opt (or asked: `--phase`)."""
    conds = [c for c, t in a.conditions.items() if t.rate is not None and len(t.opt)]
    if not conds or (len(conds) == 1 and not options.phase):
        return
    for group in grouped(conds, MOST):
        cols = _columns(a, group.conds)
        fig = _draw(cols)
        headline(fig, "Phase diagram: D_opt(T) against D = 1's collapse rate", group.conds)
        yield group, fig


def _draw(cols: list[Column]) -> plt.Figure:
    T_max = max(max(c.d_opt) for c in cols)
    fig, ax = plt.subplots(layout="constrained")
    ax.set_xscale("symlog", linthresh=LINEAR, linscale=0.5)
    scale = ax.xaxis.get_transform()
    unit = float(scale.transform([10 * LINEAR])[0] - scale.transform([LINEAR])[0])  # a decade

    def x_of(u: float) -> float:
        return float(scale.inverted().transform([u * unit])[0])

    u = dodge([float(scale.transform([c.rate])[0]) / unit for c in cols], GAP)
    span = max(u) - min(u) + 2 * GAP
    fig.set_size_inches(min(16.0, max(4.5, INCHES * span)) + 2.6, 3.6 + 0.32 * T_max)
    ds = sorted({d for c in cols for d in c.d_opt.values()})
    palette = dict(zip(ds, sns.color_palette("viridis", len(ds)), strict=True))
    for c, centre in zip(cols, u, strict=True):
        lo, hi = x_of(centre - WIDTH / 2), x_of(centre + WIDTH / 2)
        for T in range(1, T_max + 1):
            d = c.d_opt.get(T)
            if d is None:
                if c.reference and max(c.d_opt) > T:  # a T the reference does not give
                    ax.add_patch(_cell(lo, hi, T, "none", c.reference, ls=":"))
                    ax.text(x_of(centre), T, "?", ha="center", va="center", color="grey")
                continue
            ax.add_patch(_cell(lo, hi, T, palette[d], c.reference))
            light = ds.index(d) >= len(ds) / 2
            p = c.p.get(T, 1.0)
            text = d_label(d) + (f"\nP {p:.2f}" if p < SETTLED else "")
            ax.text(
                x_of(centre),
                T,
                text,
                ha="center",
                va="center",
                fontsize=8 if p >= SETTLED else 6.5,
                color="black" if light else "white",
                fontweight="bold",
            )
        ax.plot([x_of(centre), c.rate], [0.5, 0.0], color="grey", lw=0.6)  # to its rate
        if c.reference:
            ax.plot(c.rate, 0.0, "D", mfc="white", mec="dimgrey", ms=5)
        else:
            ax.errorbar(
                c.rate,
                0.0,
                xerr=[[c.rate - c.interval[0]], [c.interval[1] - c.rate]],
                fmt="o",
                color="black",
                ms=3.5,
                capsize=2.5,
                lw=1,
            )
        ax.text(
            x_of(centre),
            T_max + 0.6,
            c.label,
            rotation=90,
            ha="center",
            va="bottom",
            fontsize=7,
            style="italic" if c.reference else "normal",
            color="dimgrey" if c.reference else "black",
        )
    ax.set_xlim(x_of(min(u) - GAP), x_of(max(u) + GAP))
    ax.set_ylim(-0.4, T_max + 0.5)
    ax.set_yticks(range(1, T_max + 1))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}"))
    ax.grid(axis="y", visible=False)
    ax.axvline(0.0, color="lightgrey", lw=0.8, zorder=0)
    width = fig.get_figwidth()  # the labels below are wrapped to it: none reaches past it
    xlabel = (
        "collapse rate: mean of log μ_t+1 − log μ_t per iteration at D = 1"
        f" (symlog: linear within ±{LINEAR:g})"
    )
    ax.set(xlabel=textwrap.fill(xlabel, chars(width - 2.6, 11)), ylabel="T (iterations aggregated)")
    handles = [Patch(facecolor=palette[d], label=f"D_opt = {d_label(d)}") for d in ds]
    handles += [
        Patch(facecolor="white", edgecolor="dimgrey", hatch="///", label="reference, not a run"),
        plt.Line2D([], [], marker="o", color="black", ms=3.5, label="rate, 95% interval"),
    ]
    ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    said = "; ".join(f"{r.name}: {r.source}" for r in REFERENCES)
    fig.supxlabel(
        textwrap.fill(f"References (hatched), not runs — {said}. ?: not given.", chars(width, 8)),
        fontsize=7,
    )
    return fig


def _cell(lo: float, hi: float, T: int, color, reference: bool, ls: str = "-") -> Rectangle:
    """One T's cell of a column: hatched and outlined for a reference."""
    return Rectangle(
        (lo, T - 0.5),
        hi - lo,
        1.0,
        facecolor=color,
        edgecolor="dimgrey" if reference else "white",
        hatch="///" if reference else None,
        lw=1.0 if reference else 0.8,
        ls=ls,
    )
