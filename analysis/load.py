"""Run directories → tidy tables.

A run dir is any directory holding `run.json` and `metrics.jsonl` (see
ecosys/store.py). The block table has one row per (run, t, m, block) with the
perplexity the run wrote; everything else is computed from it.
"""

from __future__ import annotations

import glob
import json
from pathlib import Path

import numpy as np
import pandas as pd

CONDITION = ["model", "data", "scale", "data_quality"]


def find_runs(*roots: str | Path) -> list[Path]:
    """Run dirs at or below each root (a root may also be a glob pattern)."""
    found: set[Path] = set()
    for root in roots:
        paths = [Path(p) for p in sorted(glob.glob(str(root)))] if _is_glob(root) else [Path(root)]
        for path in paths:
            if (path / "run.json").exists():
                found.add(path)
            found.update(p.parent for p in path.rglob("run.json"))
    return sorted(found)


def _is_glob(root: str | Path) -> bool:
    return any(c in str(root) for c in "*?[")


def runs_table(run_dirs: list[Path]) -> pd.DataFrame:
    """One row per run: its condition, D, M, seed, planned T and iterations done."""
    rows = []
    for d in run_dirs:
        info = json.loads((d / "run.json").read_text())
        done = sorted({r["t"] for r in _metrics(d) if r["scope"] == "ecosystem" and r["t"] >= 0})
        rows.append(
            {
                "run": info["name"],
                "path": str(d),
                **info["condition"],
                "D": round(info["D"], 6),
                "M": info["M"],
                "seed": info["seed"],
                "T_planned": info["T"],
                "T_done": len(done),
                # the synthetic world's exact floor, where the run knows it
                "entropy_rate_ppl": info.get("world", {}).get("entropy_rate_ppl"),
                "oracle_test_ppl": info.get("world", {}).get("oracle_test_ppl"),
            }
        )
    return pd.DataFrame(rows)


def blocks_table(run_dirs: list[Path]) -> pd.DataFrame:
    """(condition, D, seed, run, m, t, block) → perplexity, from the runs' arrays.

    t = -1 is each model's base model. Iterations whose
    summary is not yet written (a run still going) are left out.
    """
    runs = runs_table(run_dirs).set_index("path")
    frames = []
    for d in run_dirs:
        r = runs.loc[str(d)]
        ts = sorted({row["t"] for row in _metrics(d) if row["scope"] == "ecosystem"})
        for t in ts:
            for m in range(r["M"]):
                name = f"base.m{m:02d}" if t < 0 else f"t{t:02d}.m{m:02d}"
                ppl = np.load(d / "ppl" / f"{name}.npy")
                frames.append(
                    pd.DataFrame(
                        {
                            **{k: r[k] for k in CONDITION},
                            "D": r["D"],
                            "seed": r["seed"],
                            "run": r["run"],
                            "m": m,
                            "t": t,
                            "block": np.arange(len(ppl)),
                            "ppl": ppl,
                        }
                    )
                )
    return pd.concat(frames, ignore_index=True)


def _metrics(run_dir: Path) -> list[dict]:
    path = run_dir / "metrics.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
