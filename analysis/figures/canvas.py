"""How every figure is made, apart from what it draws: the registry (`@figure(name)`
where a figure is defined), the theme, panels whose titles name only what differs
between the conditions drawn (analysis/facets.py) under one title saying what they
share, a constrained layout (no text over text), one figure per group of conditions
past a figure's `most`, and PNG + PDF files."""

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

sns.set_theme(context="paper", style="whitegrid", font_scale=1.1)

COLS = 4  # panels per row, at most
MOST = 12  # conditions in one figure, at most: past it, one figure per group
TITLE_PT = 10.0
DPI = 150


@dataclass(frozen=True)
class Options:
    """What the command line chose about figures."""

    lens_panels: bool = False  # every lens against t per condition, whatever their number


Drawing = Iterator[tuple[facets.Group, plt.Figure]]  # what a figure function yields
REGISTRY: dict[str, Callable[[Analysis, Options], Drawing]] = {}


def figure(name: str) -> Callable:
    """Register a figure function under the name its files take (`name.png`, or
    `name-<group>.png` for each group of conditions it yields); each figure it yields
    has its panel titles fitted to their panels (`fit`)."""

    def register(fn: Callable[[Analysis, Options], Drawing]) -> Callable:
        def fitted(a: Analysis, options: Options) -> Drawing:
            for group, fig in fn(a, options):
                fit(fig)
                yield group, fig

        REGISTRY[name] = fitted
        return fn

    return register


@dataclass
class Drawn:
    """A figure file written: which figure, its file stem, the group it shows."""

    name: str
    stem: str
    group: str  # what the group's conditions share ("" where one figure shows them all)


def save(fig: plt.Figure, out: Path, stem: str) -> None:
    fig.savefig(out / f"{stem}.png", dpi=DPI, bbox_inches="tight")
    fig.savefig(out / f"{stem}.pdf", bbox_inches="tight")
    plt.close(fig)


def draw(a: Analysis, out: Path, options: Options | None = None) -> list[Drawn]:
    """Every registered figure the analysis has data for, in registration order."""
    drawn = []
    for name, fn in REGISTRY.items():
        for group, fig in fn(a, options or Options()):
            stem = f"{name}-{group.slug}" if group.slug else name
            save(fig, out, stem)
            drawn.append(Drawn(name, stem, group.title))
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
    """A panel's title, wrapped to about its width (`fit` makes it exact)."""
    t = ax.set_title(facets.wrap(text, chars(width_in)), fontsize=TITLE_PT, **kw)
    t.unwrapped = text


def fit(fig: plt.Figure) -> None:
    """Wrap each panel title to its panel's width as the layout placed it (a colour bar
    takes some of it), so that no title reaches over its neighbours."""
    fig.draw_without_rendering()
    for ax in fig.axes:
        for t in (ax.title, ax._left_title, ax._right_title):
            if getattr(t, "unwrapped", None):
                t.set_text(
                    facets.wrap(t.unwrapped, chars(ax.get_position().width * fig.get_figwidth()))
                )


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
