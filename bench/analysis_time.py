"""The analysis's rows: `python -m analysis` on synthesized grids (bench/grid.py), timed
as a user meets it, in a subprocess: seconds to the first table (the first μ_t line on
stdout) and to the end (report.md and every figure written), wall and CPU. The demo's
shape (4 runs, T = 10, 256 test blocks) against the goal of 5 s to the first table; 300
smoke-shaped runs (T = 10, 15 conditions of 4 D × 5 seeds) against 60 s; and, over 60,
120 and 300 runs of the same 15 conditions, the CPU seconds each added run costs (linear:
the same from 60 to 120 as from 120 to 300; figures and lenses cost per condition)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.grid import DS, write_grid
from bench.harness import ROOT, Table

FIRST = "μ_t: mean per-block test perplexity"  # the printout's first table


def analyse(grid: Path, out: Path) -> dict[str, float]:
    """Wall seconds to the first table and to the end, and the child's CPU seconds."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "analysis", str(grid), "--out", str(out)]
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    first, tail = None, []
    for line in proc.stdout:
        if first is None and line.startswith(FIRST):
            first = time.perf_counter() - start
        tail = [*tail[-20:], line]
    _, status, usage = os.wait4(proc.pid, 0)
    total = time.perf_counter() - start
    if status:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{''.join(tail)}")
    return {"first": first, "total": total, "cpu": usage.ru_utime + usage.ru_stime}


def bench_analysis(table: Table) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        demo = root / "demo"
        write_grid(demo, regimes=("replace",), lrs=(1e-4,), seeds=(0,), blocks=256)
        got = analyse(demo, root / "demo-out")
        table.add(
            "analysis demo shape: first table",
            got["first"],
            5.0,
            "s",
            goal="<= 5 s (baseline column: the goal)",
            runs=4,
            total_s=got["total"],
            cpu_s=got["cpu"],
            grid="synthesized (bench/grid.py, ecosys.layout's names), not CLI runs",
        )
        spent = {}  # runs → CPU seconds (a shared machine's load moves wall time more)
        for seeds in ((0,), (0, 1), (0, 1, 2, 3, 4)):
            n = 15 * len(DS) * len(seeds)
            grid = root / f"grid{n}"
            write_grid(grid, seeds=seeds)
            got = analyse(grid, root / f"out{n}")
            spent[n] = got["cpu"]
            if n == 300:
                table.add(
                    "analysis 300 smoke-shape runs T=10",
                    got["total"],
                    60.0,
                    "s",
                    goal="<= 60 s on 2 cores (baseline column: the goal)",
                    first_s=got["first"],
                    cpu_s=got["cpu"],
                    conditions=15,
                    grid="synthesized (bench/grid.py, ecosys.layout's names), not CLI runs",
                )
        (a, b, c), (ta, tb, tc) = sorted(spent), (spent[k] for k in sorted(spent))
        table.add(
            f"analysis CPU s/added run {b}→{c} vs {a}→{b}",
            (tc - tb) / (c - b),
            (tb - ta) / (b - a),
            "s",
            goal="ratio ~1: linear in runs (figures and lenses cost per condition: 15 here)",
            **{f"cpu_s_{n}": t for n, t in sorted(spent.items())},
        )
