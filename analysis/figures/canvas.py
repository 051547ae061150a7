"""How every figure is made, apart from what it draws: the registry (`@figure(name)`
where a figure is defined), the theme, panels whose titles name only what differs
between the conditions drawn (analysis/facets.py) under one title saying what they
share, a constrained layout (no text over text), one figure per group of conditions
past a figure's `most`, and PNG (+ PDF) files."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt
import seaborn as sns

from analysis import facets
from analysis.tables import Analysis
from analysis.workers import fork_map

sns.set_theme(context="paper", style="whitegrid", font_scale=1.1)

COLS = 4  # panels per row, at most
MOST = 12  # conditions in one figure, at most: past it, one figure per group
TITLE_PT = 10.0
AXES = 0.62  # the share of a panel's width its axes get, at least
DPI = 150


@dataclass(frozen=True)
class Options:
    """What the command line chose about figures."""

    lens_panels: bool = False  # every lens against t per condition, whatever their number
    phase: bool = False  # the phase diagram for a single condition too
    pdf: bool = True  # a PDF beside each PNG (for papers); --no-pdf: PNG only, a third faster


Drawing = Iterator[tuple[facets.Group, plt.Figure]]  # what a figure function yields
REGISTRY: dict[str, Callable[[Analysis, Options], Drawing]] = {}


def figure(name: str) -> Callable:
    """Register a figure function under the name its files take (`name.png`, or
    `name-<group>.png` for each group of conditions it yields)."""

    def register(fn: Callable[[Analysis, Options], Drawing]) -> Callable:
        REGISTRY[name] = fn
        return fn

    return register


@dataclass
class Drawn:
    """A figure file written: which figure, its file stem, the group it shows, and whether
    a PDF copy was written beside the PNG."""

    name: str
    stem: str
    group: str  # what the group's conditions share ("" where one figure shows them all)
    pdf: bool = True


def save(fig: plt.Figure, out: Path, stem: str, pdf: bool = True) -> None:
    """PNG, and PDF unless `pdf` is false. The constrained layout already keeps everything
    inside the figure, so no tight bounding box (a second draw per file); the PDF reuses
    the PNG's layout."""
    fig.savefig(out / f"{stem}.png", dpi=DPI)
    if pdf:
        fig.set_layout_engine("none")
        fig.savefig(out / f"{stem}.pdf")
    plt.close(fig)


def draw(
    a: Analysis, out: Path, options: Options | None = None, workers: int | None = None
) -> list[Drawn]:
    """Every registered figure the analysis has data for, in registration order, a
    figure at a time by up to `workers` forked processes (analysis/workers.py)."""
    job = (a, out, options or Options())
    drawn = fork_map(lambda name: _draw(name, job), list(REGISTRY), workers)
    return [d for each in drawn for d in each]


def _draw(name: str, job: tuple[Analysis, Path, Options]) -> list[Drawn]:
    """One registered figure: each of its groups drawn and saved."""
    a, out, options = job
    drawn = []
    for group, fig in REGISTRY[name](a, options):
        stem = f"{name}-{group.slug}" if group.slug else name
        save(fig, out, stem, options.pdf)
        drawn.append(Drawn(name, stem, group.title, options.pdf))
    return drawn


def panels(n: int, width: float, height: float, cols: int = COLS):
    """A figure of n panels, `cols` to a row: (the figure, its n axes); the rest hidden."""
    c = min(n, cols)
    rows = -(-n // c)
    fig, axes = plt.subplots(
        rows, c, figsize=(width * c, height * rows), squeeze=False, layout="constrained"
    )
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.axis("off")
    return fig, flat[:n]


def chars(width_in: float, points: float = TITLE_PT) -> int:
    """About how many characters of a `points` font fit in `width_in` inches."""
    return max(12, int(width_in * 72 / (0.55 * points)))


def title(ax: plt.Axes, text: str, width_in: float, **kw) -> None:
    """A panel's title, wrapped to the part of the panel's `width_in` its axes get
    (tick labels, an axis label or a colour bar take the rest: AXES of it at least)."""
    ax.set_title(facets.wrap(text, chars(AXES * width_in)), fontsize=TITLE_PT, **kw)


def headline(fig: plt.Figure, what: str, conds: list[tuple]) -> None:
    """The figure's title: what it shows, then what its conditions share (said once)."""
    width = fig.get_figwidth()
    common = facets.shared(conds)
    text = facets.wrap(what, chars(width, 11)) + (
        "\n" + facets.wrap(common, chars(width, 11)) if common else ""
    )
    fig.suptitle(text, fontsize=11)


def grouped(conds: list[tuple], most: int | None = None) -> list[facets.Group]:
    """The conditions of one figure each, `most` (default MOST) at most."""
    return facets.groups(conds, most or MOST)
