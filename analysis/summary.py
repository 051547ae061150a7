"""The grid at a glance: one row per condition, what report.md opens with and what
`--wandb-log` logs as `tables/summary`, so a grid's answer reads before its sections.

A row holds the condition's D_opt(T) at every T it is given at (up to the T every D
reached: analysis/coverage.py), that T, D_opt there and its bootstrap probability, Eq. 6
in a word, D = 1's collapse rate with its interval (analysis/rate.py; its smallest D
where it has no D = 1), and how many runs and seeds the condition has.
"""

from __future__ import annotations

import pandas as pd

from analysis.rate import stand_in, with_interval
from analysis.report import GIVEN, eq6, markdown_table
from analysis.sweep import d_label
from analysis.sweep import name as label
from analysis.tables import Condition

COLUMNS = [
    *("condition", "D_opt(T)", "T", "ragged", "D_opt", "p", "eq6"),
    *("rate", "rate_lo", "rate_hi", "rate_D", "runs", "seeds"),
]


def frame(tables: dict[tuple, Condition]) -> pd.DataFrame:
    """A row per condition of `tables` (analysis/tables.py); T = 0 and
    D_opt, p = NaN where no T has every D; ragged: its D ran to different T; rate … = NaN
    where the measured D reached t = 0 only."""
    rows = []
    for cond, t in tables.items():
        opt = t.opt.sort_values("T")
        d_opt = dict(zip(opt["T"].astype(int), opt["D_opt"], strict=True))
        T = max(d_opt, default=0)
        p = t.p_opt.set_index(["T", "D"])["p"].get((T, d_opt.get(T)), float("nan"))
        r = t.rate
        rows.append(
            {
                "condition": label(cond),
                "D_opt(T)": ", ".join(d_label(d) for d in d_opt.values()) or "—",
                "T": T,
                "ragged": t.eco.groupby("D")["t"].max().nunique() > 1,
                "D_opt": d_opt.get(T, float("nan")),
                "p": float(p),
                "eq6": eq6(d_opt),
                "rate": r.value if r else float("nan"),
                "rate_lo": r.lo if r else float("nan"),
                "rate_hi": r.hi if r else float("nan"),
                "rate_D": r.D if r else float("nan"),
                "runs": t.eco["run"].nunique(),
                "seeds": t.eco["seed"].nunique(),
            }
        )
    return pd.DataFrame(rows, columns=COLUMNS)


def section(table: pd.DataFrame) -> list[str]:
    """The table as report.md's opening section (markdown lines)."""
    cells = pd.DataFrame(
        {
            "D_opt(T), T = 1, 2, …": table["D_opt(T)"].to_list(),
            "up to T": [
                f"{T or '—'}" + (" (ragged)" if ragged else "")
                for T, ragged in zip(table["T"], table["ragged"], strict=True)
            ],
            "P (D_opt at that T)": [
                "—" if p != p else f"{p:.2f}" + ("*" if n == 1 else "")
                for p, n in zip(table["p"], table["seeds"], strict=True)
            ],
            "Eq. 6": table["eq6"].to_list(),
            "collapse rate [95%]": [_rate(r) for r in table.to_dict("records")],
            "runs": table["runs"].to_list(),
            "seeds": table["seeds"].to_list(),
        },
        index=table["condition"],
    )
    lines = [
        "## Summary",
        "",
        "Per condition: D_opt(T) = argmin_D μ_T at each T every D of the condition reached"
        " (up to T), the bootstrap probability that D_opt is the optimum at that T,"
        " whether D_opt(T) never decreases with T (the paper's Eq. 6; —: D_opt at under"
        " two T), and how fast the condition collapses: D = 1's collapse rate, the mean"
        " over t of log μ_{t+1} − log μ_t (μ_t grows ×exp(rate) per iteration; its smallest"
        " D where it ran no D = 1, named). Ragged: the condition's D ran to different T;"
        " its section says which stop where. The sections below give the tables behind"
        " each row.",
        "",
        markdown_table(cells, "condition"),
        "",
    ]
    if (table["seeds"] == 1).any():
        lines += [f"\\* one seed: {GIVEN}, without run-to-run variation.", ""]
    return lines


def _rate(row: dict) -> str:
    """A row's collapse rate with its interval, the D it is measured at where not 1."""
    if row["rate"] != row["rate"]:
        return "—"
    text = with_interval(row["rate"], row["rate_lo"], row["rate_hi"])
    return text + ("*" if row["seeds"] == 1 else "") + stand_in(row["rate_D"])
