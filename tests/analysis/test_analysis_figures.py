"""Figures at any grid size: a panel's title names what differs between the conditions
and the figure's title what they share, no text is drawn over other text, the lenses
figure keeps a bounded size per condition, and past a figure's limit the conditions go
to one figure per group, each named and listed in report.md."""

from __future__ import annotations

import itertools
import re
import struct
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest

from analysis import facets, load, publish, tables
from analysis.figures import REGISTRY, Options, canvas
from bench.grid import write_run

SHARED = "tiny · synthetic · tiny · beam · paper"
SCHEDULES = ("cosine_with_hard_restarts_and_a_long_warmup", "linear_decay_to_zero_after_a_plateau")
REGIMES = ("replace", "accumulate_subsample", "accumulate")


def grid(root: Path, n: int, ds=(1, 2), T: int = 3) -> Path:
    """n conditions (regime × a long-named scheduler, then train.lr), 4 test blocks."""
    rng = np.random.default_rng(0)
    arms = itertools.product((1e-4, 3e-4, 1e-3), SCHEDULES, REGIMES)
    for i, (lr, schedule, regime) in zip(range(n), arms, strict=False):
        config = {"train": {"lr": lr, "lr_scheduler_type": schedule}}
        for d in ds:
            write_run(root, f"c{i}", regime, config, d, 0, T, rng, blocks=4)
    return root


def analysed(root: Path) -> tables.Analysis:
    return tables.analyse(load.read(root), reps=20)


def texts(fig: plt.Figure) -> list[tuple[str, plt.Text]]:
    """Every text the figure draws: (what it is, the text): suptitles, panel titles, axis
    labels, and the tick labels inside the axes' view (colour bars' too); none of a
    hidden panel."""
    found = [("suptitle", fig._suptitle)]
    found += [("suptitle", s._suptitle) for s in fig.subfigs]
    for ax in fig.axes:
        if not (ax.get_visible() and ax.axison):
            continue
        found += [("title", t) for t in (ax.title, ax._left_title, ax._right_title)]
        found += [("label", ax.xaxis.label), ("label", ax.yaxis.label)]
        for kind, axis in (("xtick", ax.xaxis), ("ytick", ax.yaxis)):
            drawn = axis._update_ticks()  # the ticks within the view: those drawn
            found += [(kind, t.label1) for t in drawn] + [(kind, t.label2) for t in drawn]
    return [(k, t) for k, t in found if t is not None and t.get_visible() and t.get_text()]


def overlaps(fig: plt.Figure) -> list[tuple[str, str]]:
    """Pairs of texts whose boxes intersect (by more than a pixel each way)."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = [(k, t.get_text(), t.get_window_extent(renderer)) for k, t in texts(fig)]
    bad = []
    for (k1, s1, b1), (k2, s2, b2) in itertools.combinations(boxes, 2):
        w = min(b1.x1, b2.x1) - max(b1.x0, b2.x0)
        h = min(b1.y1, b2.y1) - max(b1.y0, b2.y0)
        if w > 1 and h > 1:
            bad.append((f"{k1} {s1!r}", f"{k2} {s2!r}"))
    return bad


def test_facets_name_what_differs_and_say_once_what_is_shared():
    base = ("tiny", "synthetic", "tiny", "beam", "paper")
    conds = [
        (*base, "accumulate", "none", "train.lr=1e-4"),
        (*base, "accumulate", "none", "train.lr=3e-4"),
        (*base, "replace", "none", "train.lr=1e-4"),
    ]
    assert facets.titles(conds) == [
        "accumulate · train.lr=1e-4",
        "accumulate · train.lr=3e-4",
        "replace · train.lr=1e-4",  # named where it differs, though replace is the default
    ]
    assert facets.shared(conds) == SHARED
    assert facets.shared(conds[2:]) == f"{SHARED} · train.lr=1e-4"  # replace: unsaid
    assert facets.titles(conds[:1]) == [""]
    # a key one run lacks (no config.yaml) differs there
    assert facets.titles(
        [(*base, "replace", "none", "train.lr=1e-4"), (*base, "replace", "none", "")]
    ) == [
        "train.lr=1e-4",
        "train.lr=?",
    ]
    assert facets.wrap("accumulate · train.lr=1e-4", 14) == "accumulate\ntrain.lr=1e-4"


def test_groups_split_along_a_key_and_are_named_by_it():
    base = ("tiny", "synthetic", "tiny", "beam", "paper")
    conds = [
        (*base, r, "none", f"train.lr={lr}")
        for r in ("replace", "accumulate")
        for lr in ("1e-4", "3e-4")
    ]
    assert [g.conds for g in facets.groups(conds, 4)] == [conds]
    two = facets.groups(conds, 2)  # by regime: two groups of two (by lr: the same count)
    assert [len(g.conds) for g in two] == [2, 2]
    assert {g.slug for g in two} == {"replace", "accumulate"}
    assert all(len({c[5] for c in g.conds}) == 1 for g in two)
    ones = facets.groups(conds, 1)
    assert len(ones) == 4 and len({g.slug for g in ones}) == 4
    assert ones[0].title == "replace · train.lr=1e-4"
    # values that fit together share a group, named by all of them
    lrs = [
        (*base, "replace", "none", f"train.lr={lr}")
        for lr in ("1e-4", "2e-4", "3e-4", "5e-4", "1e-3")
    ]
    packed = facets.groups(lrs, 4)
    assert [g.title for g in packed] == ["train.lr=1e-4,2e-4,3e-4,5e-4", "train.lr=1e-3"]
    assert [len(g.conds) for g in packed] == [4, 1] and packed[
        0
    ].slug == "train.lr=1e-4_2e-4_3e-4_5e-4"


@pytest.fixture(scope="module")
def six(tmp_path_factory) -> tables.Analysis:
    return analysed(grid(tmp_path_factory.mktemp("six"), 6))


@pytest.mark.parametrize(
    "name",
    ["d_opt", "trajectories", "mu_T", "distributions", "regimes", "exact", "lenses", "phase"],
)
def test_six_long_named_conditions_draw_no_text_over_text(six, name):
    drawn = list(REGISTRY[name](six, Options()))
    assert drawn
    for _, fig in drawn:
        try:
            assert overlaps(fig) == []
            said = [t.get_text() for k, t in texts(fig) if k == "title"]
            assert all("synthetic" not in s for s in said)  # shared: in the suptitle only
            assert SHARED in fig._suptitle.get_text().replace("\n", " ")
        finally:
            plt.close(fig)


def test_panel_titles_are_the_differences(six):
    ((_, fig),) = REGISTRY["d_opt"](six, Options())
    try:
        said = [ax.get_title() for ax in fig.axes if ax.get_title()]
        assert sorted(map(bare, said)) == sorted(map(bare, facets.titles(list(six.conditions))))
        assert "accumulate_subsampletrain.lr_scheduler_type=" in {bare(s)[:44] for s in said}
    finally:
        plt.close(fig)


def bare(title: str) -> str:
    """A title without its separators and line breaks, wrapped or not."""
    return re.sub(r"[\s·]", "", title)


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) in pixels, from the PNG header."""
    return struct.unpack(">II", path.read_bytes()[16:24])


def test_the_lenses_figure_is_bounded_per_condition(tmp_path):
    """1, 3 and 6 conditions (up to 16 D at T = 8): the fingerprint grows by a bounded
    height per condition and not at all in width; 7 make two files."""
    sizes = {}
    for n, ds, T in ((1, (1, 2), 3), (3, (1, 2, 4, 16), 8), (6, (1, 2), 3), (7, (1, 2), 3)):
        a = analysed(grid(tmp_path / f"runs{n}", n, ds, T))
        sizes[n] = []
        for group, fig in REGISTRY["lenses"](a, Options()):
            canvas.save(fig, tmp_path, f"lenses{n}-{group.slug}", pdf=False)
            sizes[n].append(png_size(tmp_path / f"lenses{n}-{group.slug}.png"))
        panels = list(REGISTRY["lens_panels"](a, Options()))
        assert len(panels) == (n == 1)  # one condition: its full panels as well
        if n == 3:  # on request (--lens-panels): a figure per condition
            panels = list(REGISTRY["lens_panels"](a, Options(lens_panels=True)))
            assert len(panels) == 3 and len({g.slug for g, _ in panels}) == 3
        for _, fig in panels:
            plt.close(fig)
    assert [len(v) for v in sizes.values()] == [1, 1, 1, 2]
    for n, files in sizes.items():
        for width, height in files:
            assert width <= 2200 and height <= 100 + 850 * min(n, 6)
    (w1, h1), (w6, h6) = sizes[1][0], sizes[6][0]
    assert abs(w6 - w1) < 60 and h6 < 6.5 * h1


def test_many_conditions_give_a_figure_per_group_listed_in_the_report(tmp_path, monkeypatch):
    monkeypatch.setattr(canvas, "MOST", 2)
    a = analysed(grid(tmp_path / "runs", 4))
    path, drawn = publish.write_all(a, tmp_path / "out", "test", [], pdf=False)
    d_opt = [d for d in drawn if d.name == "d_opt"]
    assert len(d_opt) == len(facets.groups(list(a.conditions), 2)) > 1
    report = path.read_text()
    for d in d_opt:
        assert d.stem.startswith("d_opt-") and (tmp_path / "out" / f"{d.stem}.png").exists()
        assert f"- [{d.group}]({d.stem}.png)" in report
    assert "**d_opt**, a figure per group of conditions:" in report
