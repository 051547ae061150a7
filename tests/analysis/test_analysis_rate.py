"""D = 1's collapse rate (analysis/rate.py) on hand-made run dirs whose μ_t is known
exactly, the phase words (analysis/phase.py) and the phase figure, with several
conditions and with one."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest
from test_analysis import make_run

from analysis import load, phase, stats, summary, tables
from analysis.figures import REGISTRY, Options, canvas
from analysis.figures.phase import dodge
from analysis.rate import per_iteration, rates
from analysis.references import OPT_125M, REFERENCES
from bench.grid import write_run

SPREAD = np.array([-2.0, -1.0, 1.0, 2.0]) * 0.03  # ±6% per block, mean exactly μ


def run(root: Path, name: str, D: int, seed: int, mus: list[float], dq: str = "beam") -> Path:
    """A run dir whose μ_t is exactly `mus` (each model's blocks spread around it)."""
    ppl = {-1: np.full(4, 9.0)}
    for t, mu in enumerate(mus):
        ppl[t] = [mu * (1 + np.roll(SPREAD, m)) for m in range(D)]
    return make_run(root, f"{name}_d{D}_s{seed}", D, seed, ppl, T=len(mus), dq=dq)


def rate_of(root: Path):
    s = load.read(root)
    ((_, r),) = rates(s, stats.ecosystem(s), reps=300).items()
    return r


def test_an_exact_exponential_has_its_exponent_as_rate(tmp_path):
    mus = [10 * math.exp(0.3 * t) for t in range(6)]
    run(tmp_path, "exp", 1, 0, mus)
    run(tmp_path, "exp", 2, 0, [12.0] * 6)
    r = rate_of(tmp_path)
    assert (r.D, r.t_last, r.seeds) == (1.0, 5, 1)
    assert r.value == pytest.approx(0.3, abs=1e-12)
    assert r.lo <= 0.3 <= r.hi and r.hi - r.lo < 0.1  # blocks resampled: a narrow interval
    assert r.mu == pytest.approx((10.0, 10 * math.exp(1.5)))


def test_the_rate_is_the_mean_step_of_log_mu_and_telescopes():
    mus = np.array([10.0, 30.0, 15.0, 40.0, 38.0])
    steps = np.diff(np.log(mus))
    assert per_iteration(mus[0], mus[-1], len(mus) - 1) == pytest.approx(steps.mean())


def test_seeds_are_averaged_up_to_the_last_t_every_seed_reached(tmp_path):
    """Seed 1 stops at t = 2: the rate is over μ_0 … μ_2, of μ_t averaged over seeds."""
    run(tmp_path, "s", 1, 0, [10.0, 10 * math.e**0.2, 10 * math.e**0.4, 500.0])
    run(tmp_path, "s", 1, 1, [20.0, 20 * math.e**0.2, 20 * math.e**0.4])
    r = rate_of(tmp_path)
    assert (r.t_last, r.seeds) == (2, 2)
    assert r.value == pytest.approx(0.2)


def test_without_d1_the_smallest_d_stands_in_and_says_so(tmp_path):
    run(tmp_path, "no1", 2, 0, [10.0, 20.0, 40.0])
    run(tmp_path, "no1", 4, 0, [11.0, 12.0, 13.0])
    r = rate_of(tmp_path)
    assert r.D == 2.0 and r.stand_in and r.over == "D = 2, t = 0 … 2"
    assert r.value == pytest.approx(math.log(2))
    a = tables.analyse(load.read(tmp_path), reps=50)
    cell = summary.section(summary.frame(a.conditions))
    assert any("0.693 [" in line and "]* at D = 2 |" in line for line in cell)


def test_a_d_with_t0_only_has_no_rate(tmp_path):
    run(tmp_path, "t0", 1, 0, [10.0])
    run(tmp_path, "t0", 2, 0, [12.0])
    s = load.read(tmp_path)
    assert rates(s, stats.ecosystem(s), reps=10) == {}
    conds = tables.analyse(s, reps=10).conditions
    assert [c.rate for c in conds.values()] == [None]
    assert summary.frame(conds)["rate"].isna().all()
    assert phase.points(conds) == []


def test_dodge_keeps_columns_apart_and_near_their_own_place():
    assert dodge([0.0, 5.0], 1.0) == [0.0, 5.0]
    out = dodge([1.0, 0.0, 1.1, 1.2], 0.5)
    assert out[1] == 0.0  # alone: where it is
    crowd = sorted(out[i] for i in (0, 2, 3))
    assert np.diff(crowd) == pytest.approx([0.5, 0.5])
    assert np.mean(crowd) == pytest.approx(1.1)  # spread around its members' mean
    assert all(b - a >= 0.5 - 1e-9 for a, b in itertools.pairwise(sorted(out)))


def test_the_opt_reference_rate_is_the_demo_rate_over_70():
    assert OPT_125M.rate == pytest.approx(math.log(126) / 9 / 70)
    assert round(OPT_125M.rate, 4) == 0.0077 and OPT_125M.estimated
    assert OPT_125M.d_opt == {1: 1.0, 2: 1.0, 3: 1.0, 10: 4.0}


def grid(root: Path, regimes: tuple[str, ...]) -> tables.Analysis:
    """A condition per regime (bench/grid.py: replace collapses 5× faster), D = 1, 2, 4."""
    rng = np.random.default_rng(0)
    for regime, d in itertools.product(regimes, (1, 2, 4)):
        write_run(root, regime, regime, {"train": {"lr": 3e-4}}, d, 0, 5, rng, blocks=6)
    return tables.analyse(load.read(root), reps=50)


def labels_apart(fig: plt.Figure) -> None:
    """The columns' rotated labels and the figure's titles overlap nothing."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    ax = fig.axes[0]
    texts = [t for t in ax.texts if t.get_rotation() == 90]
    texts += [fig._suptitle, fig._supxlabel, ax.xaxis.label, ax.yaxis.label]
    boxes = [t.get_window_extent(renderer) for t in texts]
    for (i, a), (j, b) in itertools.combinations(enumerate(boxes), 2):
        w = min(a.x1, b.x1) - max(a.x0, b.x0)
        h = min(a.y1, b.y1) - max(a.y0, b.y0)
        assert not (w > 1 and h > 1), (texts[i].get_text(), texts[j].get_text())


def test_the_phase_figure_draws_several_conditions_and_the_references(tmp_path):
    a = grid(tmp_path / "runs", ("replace", "accumulate", "accumulate_subsample"))
    ((_, fig),) = list(REGISTRY["phase"](a, Options()))
    try:
        labels_apart(fig)
        said = [t.get_text() for t in fig.axes[0].texts if t.get_rotation() == 90]
        assert len(said) == 3 + len(REFERENCES)
        assert sum(s.startswith("reference: ") for s in said) == len(REFERENCES)
        assert "≈0.0077 (estimated)" in said[-1]
        assert "replace" in " ".join(said)  # a column is titled by what differs
        assert "estimated" in fig._supxlabel.get_text()
        canvas.save(fig, tmp_path, "phase", pdf=False)
    finally:
        plt.close(fig)
    assert (tmp_path / "phase.png").read_bytes()[:4] == b"\x89PNG"


def test_one_condition_draws_only_when_asked(tmp_path):
    a = grid(tmp_path / "runs", ("replace",))
    assert list(REGISTRY["phase"](a, Options())) == []
    ((_, fig),) = list(REGISTRY["phase"](a, Options(phase=True)))
    try:
        labels_apart(fig)
        canvas.save(fig, tmp_path, "phase", pdf=False)
    finally:
        plt.close(fig)


def test_the_words_say_where_each_side_wins_and_whether_a_threshold_parts_them(tmp_path):
    """beam is slow and D = 1 wins; temp collapses and D = 4 wins; greedy collapses
    faster still, but its D = 4 is worse from the start, so D = 1 wins there too."""
    for dq, by_d in {
        "beam": {1: [10.0, 10.2, 10.4], 4: [12.0, 12.1, 12.2]},
        "temp": {1: [10.0, 30.0, 90.0], 4: [12.0, 13.0, 14.0]},
        "greedy": {1: [10.0, 100.0, 1000.0], 4: [100.0, 1000.0, 10000.0]},
    }.items():
        for d, mus in by_d.items():
            run(tmp_path, dq, d, 0, mus, dq=dq)
    ps = phase.points(tables.analyse(load.read(tmp_path), reps=50).conditions)
    assert [(p.cond[3], p.T, p.side) for p in ps] == [
        ("beam", 3, "smallest"),
        ("temp", 3, "largest"),
        ("greedy", 3, "smallest"),
    ]
    said = " ".join(phase.words(ps[:2]))
    assert said.startswith("At T = 3 (every D's largest, short of the paper's 10), the smallest D")
    assert "is best at collapse rate 0.0196 per iteration (tiny · synthetic · tiny · beam" in said
    assert "the largest D is best at collapse rate 1.1 per iteration (" in said
    assert "a threshold between 0.0196 and 1.1 per iteration" in said
    assert "given this seed" in said
    said = " ".join(phase.words(ps))
    assert "rates 0.0196 … 2.3 per iteration" in said and "interleave" in said
