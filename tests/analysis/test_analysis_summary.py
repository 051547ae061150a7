"""report.md opens with the grid at a glance: a row per condition (analysis/summary.py)
that agrees with the condition's own section."""

from __future__ import annotations

import re

import numpy as np
from test_analysis import make_run
from test_analysis_ragged import analyse, md_table

NAME = "tiny · synthetic · tiny · beam · paper"
# data_quality → (seeds, D → μ_t at t = 0, 1, …): D_opt falls at T = 3 under beam; temp
# is ragged (D = 2 stops at T = 2); greedy has T = 1 only
GRID = {
    "beam": ((0, 1), {1: [10.0, 30.0, 2.0], 2: [12.0, 12.0, 40.0]}),
    "temp": ((0,), {1: [20.0, 20.0, 1.0, 1.0], 2: [10.0, 10.0]}),
    "greedy": ((0,), {1: [5.0], 2: [6.0]}),
}


def grid(root) -> None:
    spread = np.array([-1.0, -0.5, 0.5, 1.0]) / 10  # ±10% per model step, mean exactly μ
    for dq, (seeds, by_d) in GRID.items():
        for d, mus in by_d.items():
            for seed in seeds:
                ppl = {-1: np.full(4, 30.0)}
                for t, mu in enumerate(mus):
                    ppl[t] = [mu * (1 + spread * (m + 1)) for m in range(d)]
                make_run(root, f"{dq}_d{d}_s{seed}", d, seed, ppl, T=len(mus), dq=dq)


def test_the_report_opens_with_a_row_per_condition(tmp_path):
    grid(tmp_path / "runs")
    report = analyse(tmp_path / "runs", tmp_path / "out").report
    assert report.startswith("# ecosys report\n\n## Summary\n")
    assert report.index("## Summary") < report.index("Source:") < report.index(f"## {NAME}")
    head, *rows = md_table(report, "## Summary")
    assert head == [
        "condition",
        "D_opt(T), T = 1, 2, …",
        "up to T",
        "P (D_opt at that T)",
        "Eq. 6",
        "collapse rate [95%]",
        "runs",
        "seeds",
    ]
    row = {r[0]: r[1:] for r in rows}
    assert row[NAME][:2] + row[NAME][3:4] + row[NAME][5:] == [
        "1, 2, 1",
        "3",
        "violated at T = 3",
        "4",
        "2",
    ]
    temp, greedy = row[NAME.replace("beam", "temp")], row[NAME.replace("beam", "greedy")]
    assert temp[:2] == ["2, 2", "2 (ragged)"] and temp[3:4] + temp[5:] == ["holds", "2", "1"]
    assert greedy[:2] == ["1", "1"] and greedy[3] == "—"  # one T: nothing to test
    # D = 1's collapse rate: beam's seeds average to μ_t = 10, 30, 2 (all its seeds reach
    # t = 2); temp's D = 1 reaches t = 3 (one seed: starred); greedy's stops at t = 0
    assert row[NAME][4].startswith(f"{np.log(2 / 10) / 2:.3g} [")
    assert temp[4].startswith(f"{np.log(1 / 20) / 3:.3g} [") and temp[4].endswith("]*")
    assert greedy[4] == "—"
    for dq, (seeds, _) in GRID.items():
        name = NAME.replace("beam", dq)
        # the row's D_opt(T) and P are those of the condition's own D_opt(T) table
        section = report[report.index(f"## {name}\n") :]
        _, (_, *cells) = md_table(section, "**D_opt(T)**")
        assert row[name][0] == ", ".join(c.split()[0] for c in cells)
        p = re.search(r"\((\d\.\d\d)\)", cells[-1])[1]
        assert row[name][2] == p + ("*" if len(seeds) == 1 else "")
    assert "\\* one seed: given this seed" in report
