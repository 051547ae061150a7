"""Ragged grids: a grid grown one cell at a time runs its D to different T. μ_t and μ_T
are shown as far as each D got; D_opt(T), its P, Eq. 6 and the lenses' D_opt only at the
T every D of the condition reached, and the tables say which D (and seeds) stop where."""

from __future__ import annotations

import contextlib
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import cli, small_args
from test_analysis import make_run

from analysis import coverage
from analysis.__main__ import main as analysis_main
from ecosys.rundir.layout import read_metrics


@dataclass
class Analysed:
    runs: Path
    printed: str
    report: str


def analyse(runs: Path, out: Path) -> Analysed:
    """`python -m analysis RUNS --out OUT`, in process, its printout captured."""
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert analysis_main([str(runs), "--out", str(out), "--reps", "30", "--no-pdf"]) == 0
    return Analysed(runs, buf.getvalue(), (out / "report.md").read_text())


def printed_d_opt_ts(printed: str) -> list[int]:
    """The T of the printed D_opt(T) row (its header line)."""
    lines = printed.splitlines()
    i = next(i for i, line in enumerate(lines) if line.startswith("D_opt(T) = argmin"))
    return [int(x) for x in lines[i + 1].split()]


def md_table(report: str, caption: str) -> list[list[str]]:
    """The cells of the first markdown table after the line that starts with `caption`
    (its header row first)."""
    lines = report[report.index(caption) :].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        if not line.startswith("|---"):
            rows.append([c.strip() for c in line.strip("|").split("|")])
    return rows


def loop_mu_T(runs: Path) -> dict[tuple[float, int, int], float]:
    """(D, seed, T) → μ_T as the loop itself logged it (ppl/mu_T at t = T − 1)."""
    out = {}
    for info_path in runs.rglob("run.json"):
        info = json.loads(info_path.read_text())
        for r in read_metrics(info_path.parent):
            if r["scope"] == "ecosystem" and r["t"] >= 0:
                out[(float(info["D"]), info["seed"], r["t"] + 1)] = r["ppl/mu_T"]
    return out


def mu_T_cells(report: str) -> dict[tuple[int, str], str]:
    """(T, 'D = d') → the report's μ_T cell."""
    head, *rows = md_table(report, "**μ_T** = mean")
    return {(int(r[0]), col): cell for r in rows for col, cell in zip(head[1:], r[1:], strict=True)}


@pytest.fixture(scope="module")
def ragged(tmp_path_factory, cache_dir) -> Analysed:
    """D = 1, 2 run to T = 2, then the D = 1 cell alone extended to T = 4: one out_dir."""
    root = tmp_path_factory.mktemp("ragged")
    cli("--multirun", "diversity=d1,d2", *small_args(root / "runs", cache_dir, "T=2"))
    cli(*small_args(root / "runs", cache_dir, "diversity=d1", "T=4"))
    return analyse(root / "runs", root / "analysis")


COND = {  # a condition's labels (sweep.LABELS); tests add its variant
    "model": "tiny",
    "data": "synthetic",
    "scale": "tiny",
    "data_quality": "beam",
    "protocol": "paper",
    "regime": "replace",
    "curation": "none",
}
STOPS = "ragged: D = 2 stops at T = 2; D_opt, P and Eq. 6 are given up to T = 2"


@pytest.mark.slow
def test_a_ragged_grid_gives_d_opt_and_eq6_only_where_every_d_was_run(ragged):
    assert printed_d_opt_ts(ragged.printed) == [1, 2]
    assert md_table(ragged.report, "**D_opt(T)**")[0] == ["T", "1", "2"]
    assert "violated" not in ragged.printed and "against the paper's Eq. 6" not in ragged.report
    assert STOPS in ragged.printed and STOPS in ragged.report
    assert "optimal at T = 2," in ragged.report  # the verdict's own T


@pytest.mark.slow
def test_a_ragged_grid_shows_mu_T_as_far_as_each_d_got(ragged):
    cells = mu_T_cells(ragged.report)
    logged = loop_mu_T(ragged.runs)
    for T in range(1, 5):  # D = 1 at every T it reached, as the loop logged it
        assert cells[(T, "D = 1")].startswith(f"{logged[(1.0, 0, T)]:,.2f} [")
    for T in (1, 2):
        assert cells[(T, "D = 2")].startswith(f"{logged[(2.0, 0, T)]:,.2f} [")
    assert cells[(3, "D = 2")] == cells[(4, "D = 2")] == "—"


@pytest.mark.slow
def test_a_ragged_grid_draws_no_lens_verdict_beyond_its_complete_T(ragged):
    lens_ts = re.findall(r"^  .{24} T=(\d+): D=", ragged.printed, re.M)
    assert lens_ts and max(map(int, lens_ts)) <= 2
    head, *rows = md_table(ragged.report, "## What collapses\n\nEach lens")
    assert rows and max(int(r[head.index("T")]) for r in rows) <= 2


@pytest.fixture(scope="module")
def seed_missing(tmp_path_factory, cache_dir) -> Analysed:
    """D = 1 and 2 with seed 0 to T = 3; D = 1's seed 1 to T = 2 only; D = 2 has no seed 1."""
    root = tmp_path_factory.mktemp("seeds")
    cli("--multirun", "diversity=d1,d2", *small_args(root / "runs", cache_dir, "T=3"))
    cli(*small_args(root / "runs", cache_dir, "diversity=d1", "seed=1", "T=2"))
    return analyse(root / "runs", root / "analysis")


@pytest.mark.slow
def test_a_missing_seed_is_said_and_each_d_is_averaged_over_the_seeds_that_reached_T(
    seed_missing,
):
    s = seed_missing
    # every D reached T = 3 (D = 1 through its seed 0): D_opt up to 3, nothing ragged
    assert printed_d_opt_ts(s.printed) == [1, 2, 3]
    assert "ragged:" not in s.printed + s.report
    for said in (
        "seeds: μ_T of D = 1 is over seeds 0, 1 at T ≤ 2 and over seed 0 at T = 3",
        "seeds: μ_T of D = 2 is over seed 0 (no run of seed 1)",
    ):
        assert said in s.printed and said in s.report
    cells, logged = mu_T_cells(s.report), loop_mu_T(s.runs)
    both = (logged[(1.0, 0, 2)] + logged[(1.0, 1, 2)]) / 2
    assert cells[(2, "D = 1")].startswith(f"{both:,.2f} [")
    assert cells[(3, "D = 1")].startswith(f"{logged[(1.0, 0, 3)]:,.2f} [")


def test_ragged_hand_made_grid_makes_no_false_eq6_claim(tmp_path):
    """D = 2 wins at T = 1, 2; D = 1 alone reaches T = 3, 4 with a lower μ_T. The argmin
    over what exists would say D_opt falls from 2 to 1: Eq. 6 'violated'."""
    base = np.full(4, 30.0)
    mus = {1: [20.0, 20.0, 1.0, 1.0], 2: [10.0, 10.0]}
    for d, mu in mus.items():
        ppl = {-1: base, **{t: [np.full(4, m)] * d for t, m in enumerate(mu)}}
        make_run(tmp_path / "runs", f"d{d}", d, 0, ppl, T=len(mu))
    s = analyse(tmp_path / "runs", tmp_path / "out")
    assert printed_d_opt_ts(s.printed) == [1, 2]
    assert "Eq. 6 (D_opt never decreases with T): holds" in s.printed
    assert "violated" not in s.printed and "against the paper's Eq. 6" not in s.report
    assert STOPS in s.printed and STOPS in s.report
    assert md_table(s.report, "**D_opt(T)**")[1] == ["D_opt (P)", "2 (1.00)", "2 (1.00)"]
    assert mu_T_cells(s.report)[(4, "D = 1")].startswith("10.50 [")


def test_a_d_with_no_iteration_yet_leaves_no_d_opt_and_the_report_is_written(tmp_path):
    """D = 2's run has only its base model (a run just started): no T has every D."""
    base = np.full(4, 30.0)
    make_run(tmp_path / "runs", "d1", 1, 0, {-1: base, 0: [base - 5], 1: [base - 4]}, T=2)
    make_run(tmp_path / "runs", "d2", 2, 0, {-1: base}, T=2)
    s = analyse(tmp_path / "runs", tmp_path / "out")
    stops = "ragged: D = 2 has no iteration; D_opt, P and Eq. 6 are not given (they need every D)"
    assert stops in s.printed and stops in s.report
    assert "D_opt (P)" not in s.printed + s.report and "optimal at" not in s.report
    assert "Eq. 6 (D_opt never decreases with T): —" in s.printed
    assert mu_T_cells(s.report)[(2, "D = 1")].startswith("25.50 [")


def test_complete_T_is_the_least_reach_over_d_and_a_d_reaches_where_any_seed_did():
    runs = pd.DataFrame(
        [
            {**COND, "variant": "a", "D": 1.0, "seed": 0, "T_done": 4},
            {**COND, "variant": "a", "D": 1.0, "seed": 1, "T_done": 2},
            {**COND, "variant": "a", "D": 2.0, "seed": 0, "T_done": 3},
            {**COND, "variant": "b", "D": 1.0, "seed": 0, "T_done": 2},
            {**COND, "variant": "b", "D": 2.0, "seed": 0, "T_done": 0},
        ]
    )
    upto = coverage.complete(runs, "T_done")
    key = tuple(COND.values())
    assert upto == {(*key, "a"): 3, (*key, "b"): 0}
    agg = pd.DataFrame([{**COND, "variant": v, "T": T} for v in "ab" for T in range(1, 5)])
    assert coverage.within(agg, upto)[["variant", "T"]].values.tolist() == [
        ["a", 1],
        ["a", 2],
        ["a", 3],
    ]
    assert coverage.at(agg, upto)[["variant", "T"]].values.tolist() == [["a", 3]]
    a = runs[runs["variant"] == "a"]
    assert coverage.lines(a, 3) == [
        "ragged: D = 2 stops at T = 3; D_opt, P and Eq. 6 are given up to T = 3",
        "seeds: μ_T of D = 1 is over seeds 0, 1 at T ≤ 2 and over seed 0 at T = 3 … 4",
        "seeds: μ_T of D = 2 is over seed 0 (no run of seed 1)",
    ]
    assert coverage.lines(a[a["seed"] == 0].assign(T_done=3), 3) == []  # a full grid
