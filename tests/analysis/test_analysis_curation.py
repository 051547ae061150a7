"""Curation as a condition label and the curation arms compared against none, on
hand-made run dirs: D = 1, 4, T = 4, one seed. Under none D = 1 collapses and D_opt
moves to 4; self_keep50 keeps D = 1 flat (curation substitutes for diversity);
oracle_keep50 keeps D_opt but lowers μ_T (adds to it); surprise_keep50 is none again
(changes nothing)."""

from __future__ import annotations

import contextlib
import io
import re

import pandas as pd
import pytest
from test_analysis_regimes import regime_run

from analysis import curation, load
from analysis.__main__ import main as analysis_main
from analysis.compare import Arm
from analysis.sweep import ordered

T = 4
MU = {  # curation → D → μ_t for t = 0 … 3
    "none": {1: [10, 20, 40, 80], 4: [12, 14, 16, 18]},
    "self_keep50": {1: [10, 10.5, 11, 11.5], 4: [12, 12.5, 13, 13.5]},
    "oracle_keep50": {1: [9, 18, 36, 72], 4: [10, 11.5, 13, 14.5]},
    "surprise_keep50": {1: [10, 20, 40, 80], 4: [12, 14, 16, 18]},
}
PAPER = "tiny · synthetic · tiny · beam · paper"


@pytest.fixture(scope="module")
def analysed(tmp_path_factory) -> tuple[str, str]:
    """(report.md, the printout) of the grid; none's runs are older runs, without the
    label (read as none)."""
    root = tmp_path_factory.mktemp("curation")
    for arm, by_d in MU.items():
        for d, mus in by_d.items():
            labels = {} if arm == "none" else {"curation": arm}
            regime_run(root / "runs", "replace", d, mus, **labels)
    out = root / "out"
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert (
            analysis_main([str(root / "runs"), "--out", str(out), "--reps", "200", "--no-pdf"]) == 0
        )
    return (out / "report.md").read_text(), buf.getvalue()


def test_none_is_the_default_named_as_before_and_listed_first(tmp_path):
    regime_run(tmp_path, "replace", 1, MU["none"][1])
    regime_run(tmp_path, "replace", 1, MU["self_keep50"][1], curation="self_keep50")
    runs = load.read(tmp_path).runs
    assert sorted(runs["curation"]) == ["none", "self_keep50"]
    assert ordered("curation", ["surprise_keep50", "none", "oracle_keep50"]) == [
        "none",
        "oracle_keep50",
        "surprise_keep50",
    ]


def test_the_section_says_what_curation_does_to_d_opt(analysed):
    report, printed = analysed
    assert f"\n## {PAPER}\n" in report  # none's condition: named as before the label
    assert f"\n## {PAPER} · self_keep50\n" in report
    section = report[report.index(f"## Curation compared: {PAPER}\n") :]
    section = section[: section.index("\n## ", 1)]
    # the arms in order, none first, with μ_T at T = 4 and each arm's collapse rate
    rows = re.findall(r"^\| (\w+) \| \d.*\]\*? \|$", section, re.M)
    assert rows[:4] == ["none", "oracle_keep50", "self_keep50", "surprise_keep50"]
    assert re.search(r"^\| none \|.*\| 0\.693 \[0\.\d+, 0\.\d+\] \|$", section, re.M)
    assert re.search(r"^\| self_keep50 \| 1 \(\d\.\d\d\) \| 1 \(", section, re.M)
    said = "- **self_keep50**: D_opt(4) = 1 against none's 4: curation substitutes for diversity"
    assert said in section
    assert (
        "- **oracle_keep50**: D_opt(4) = 4 against none's 4: curation adds to diversity" in section
    )
    assert (
        "- **surprise_keep50**: D_opt(4) = 4 against none's 4: curation changes nothing" in section
    )
    # does diversity still matter under each arm
    assert "- **none**: Diversity still matters under none: D_opt(T) > 1 at T = 2 … 4;" in section
    assert "- **self_keep50**: Diversity matters under self_keep50, as a cost:" in section
    assert "given this seed" in section and "One seed (0)" in section
    assert re.search(r"self_keep50 +D_opt\(T\) 1 1 1 1 \(P \d\.\d\d\) · substitutes", printed)
    assert re.search(r"self_keep50 .* · diversity costs$", printed, re.M)
    assert re.search(r"none +D_opt\(T\) 1 4 4 4 .* · diversity matters$", printed, re.M)
    assert re.search(r"oracle_keep50 +D_opt\(T\) 1 4 4 4 .* · adds · rate 0\.693", printed)


def test_the_summary_and_the_rate_section_place_each_arm(analysed):
    report, _ = analysed
    summary = report[: report.index("Source:")]
    assert re.search(rf"^\| {PAPER} · self_keep50 \|.*\| 0\.0466 \[", summary, re.M)
    rates = report[report.index("## Collapse rate and D_opt") :]
    rates = rates[: rates.index("\n## ", 1)]
    # self_keep50 (rate 0.046, D_opt 1) is the slow one: D = 1 wins there, D = 4 elsewhere
    assert "At T = 4 (every D's largest, short of the paper's 10), the smallest D" in rates
    assert "is best at collapse rate 0.0466 per iteration (" in rates
    assert "the largest D is best at collapse rate 0.693 per iteration (tiny" in rates
    assert "a threshold between 0.0466 and 0.693 per iteration" in rates
    assert (
        "- OPT-125M (paper): rate 0.0077 per iteration, D_opt(T) = 1 for T = 1 … 3, 4 at T = 10"
        in rates
    )


def arm(value: str, d_opt: float, mu: float, ds=(1.0, 4.0, 16.0)) -> Arm:
    """An arm at T = 4 whose D_opt has μ_T = mu ± 1 (its other D far above)."""
    mu_T = pd.DataFrame(
        {
            "mu_T": [mu if d == d_opt else mu + 50 for d in ds],
            "lo": [mu - 1 if d == d_opt else mu + 49 for d in ds],
            "hi": [mu + 1 if d == d_opt else mu + 51 for d in ds],
        },
        index=list(ds),
    )
    return Arm(value, T, {1.0: 1.0}, mu_T, {1: 1.0, T: d_opt}, 1.0, [0])


@pytest.mark.parametrize(
    ("d_opt", "mu", "ds", "word"),
    [
        (1.0, 10.0, (1.0, 4.0, 16.0), "substitutes"),
        (16.0, 10.0, (1.0, 4.0, 16.0), "more diversity"),
        (4.0, 10.0, (1.0, 4.0, 16.0), "adds"),
        (4.0, 19.5, (1.0, 4.0, 16.0), "changes nothing"),
        (4.0, 30.0, (1.0, 4.0, 16.0), "hurts"),
        (1.0, 10.0, (1.0, 2.0), "no verdict"),  # none's D_opt, 4, was not run here
    ],
)
def test_change_words(d_opt, mu, ds, word):
    assert curation.change(arm("x", d_opt, mu, ds), arm("none", 4.0, 20.0))[0] == word
