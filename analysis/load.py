"""The run-dir reader: run directories → a Sweep (with every per-block perplexity).

A run dir is any directory holding `run.json` and `metrics.jsonl` (ecosys/rundir/layout.py),
and `config.yaml` (its resolved config: what tells the runs' conditions apart).
Iterations whose summary is not yet written (a run still going) are left out.
"""

from __future__ import annotations

import glob
import json
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from analysis import stats
from analysis.sweep import CONDITION, DEFAULTS, LABELS, RUN, Sweep, settings, with_variant
from ecosys.config import upgraded
from ecosys.rundir import layout
from ecosys.rundir.layout import read_metrics
from ecosys.rundir.tracking import flatten


def find_runs(*roots: str | Path) -> list[Path]:
    """Run dirs at or below each root (a root may also be a glob pattern)."""
    found: set[Path] = set()
    for root in roots:
        paths = [Path(p) for p in sorted(glob.glob(str(root)))] if _is_glob(root) else [Path(root)]
        for path in paths:
            if (path / layout.RUN_INFO).exists():
                found.add(path)
            found.update(p.parent for p in path.rglob(layout.RUN_INFO))
    return sorted(found)


def _is_glob(root: str | Path) -> bool:
    return any(c in str(root) for c in "*?[")


def run_row(info: dict, t_done: int, path: str) -> dict:
    """A run's row of the runs table, from what its run.json holds (all but the variant,
    which only the whole set of runs decides: sweep.with_variant)."""
    return {
        "run": info["name"],
        "path": path,
        **{k: info["condition"].get(k, DEFAULTS.get(k)) for k in LABELS},
        "D": round(info["D"], 6),
        "M": info["M"],
        "seed": info["seed"],
        "T_planned": info["T"],
        "T_done": t_done,
        # the synthetic world's exact floor, where the run knows it
        "entropy_rate_ppl": info.get("world", {}).get("entropy_rate_ppl"),
        "oracle_test_ppl": info.get("world", {}).get("oracle_test_ppl"),
    }


def runs_table(run_dirs: list[Path]) -> pd.DataFrame:
    rows, configs = [], []
    for d in run_dirs:
        info = json.loads((d / layout.RUN_INFO).read_text())
        done = {r["t"] for r in read_metrics(d) if r["scope"] == "ecosystem" and r["t"] >= 0}
        rows.append(run_row(info, len(done), str(d)))
        configs.append(_settings(d))
    return pd.DataFrame(with_variant(rows, configs))


def _settings(run_dir: Path) -> dict[str, str] | None:
    """The run's config.yaml as sweep.settings; None for a run dir without one."""
    path = run_dir / layout.CONFIG
    return settings(flatten(upgraded(yaml.safe_load(path.read_text())))) if path.exists() else None


def blocks_table(run_dirs: list[Path]) -> pd.DataFrame:
    """(condition, D, seed, run, m, t, block) → perplexity; t = -1 is each base model."""
    runs = runs_table(run_dirs).set_index("path")
    frames = []
    for d in run_dirs:
        r = runs.loc[str(d)]
        for t in sorted({row["t"] for row in read_metrics(d) if row["scope"] == "ecosystem"}):
            for m in range(r["M"]):
                ppl = np.load(d / layout.npy(layout.ppl(t, m)))
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


def read(*roots: str | Path) -> Sweep:
    """The sweep of every run dir under `roots` (raises FileNotFoundError if none)."""
    run_dirs = find_runs(*roots)
    if not run_dirs:
        raise FileNotFoundError(f"no run dirs (with run.json) under {' '.join(map(str, roots))}")
    blocks = blocks_table(run_dirs)
    runs = runs_table(run_dirs)
    return Sweep(
        runs, stats.model_means(blocks), stats.combined_std(blocks), blocks, rows_table(runs)
    )


def rows_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Every metrics row of every run, with the run's condition, D and seed; a model row's
    index is `m` (its `model` would clash with the condition's model label)."""
    frames = []
    for _, r in runs.iterrows():
        rows = pd.DataFrame(read_metrics(Path(r["path"]))).rename(columns={"model": "m"})
        if len(rows):
            frames.append(rows.assign(**{k: r[k] for k in RUN}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
