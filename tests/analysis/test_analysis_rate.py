"""D = 1's collapse rate (analysis/rate.py) on hand-made run dirs whose μ_t is known
exactly."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from test_analysis import make_run

from analysis import load, stats, summary, tables
from analysis.rate import per_iteration, rates

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
