"""The run-dir reader: run directories → a Sweep (with every per-block perplexity).

A run dir is any directory holding `run.json` and `metrics.jsonl` (ecosys/rundir/layout.py),
and `config.yaml` (its resolved config: what tells the runs' conditions apart).
Iterations whose summary is not yet written (a run still going) are left out. Each run's
files are read once (a 300-run grid is read in seconds).
"""

from __future__ import annotations

import glob
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from analysis.sweep import CONDITION, DEFAULTS, LABELS, RUN, Sweep, settings, with_variant
from ecosys.config import upgraded
from ecosys.measures import metrics
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


_M = {"model": "m"}


@dataclass
class _Run:
    """What one run dir holds, read once: its runs-table row (no variant yet), its
    config's settings, its metrics rows, and per t (−1: the base) its models'
    per-block perplexities, [M, B]."""

    row: dict
    config: dict[str, str] | None
    metrics: list[dict]
    ppl: dict[int, np.ndarray]


def _read_run(d: Path) -> _Run:
    info = json.loads((d / layout.RUN_INFO).read_text())
    metrics = read_metrics(d)
    ts = sorted({r["t"] for r in metrics if r["scope"] == "ecosystem"})
    row = run_row(info, sum(t >= 0 for t in ts), str(d))
    ppl = {
        t: np.stack([np.load(d / layout.npy(layout.ppl(t, m))) for m in range(info["M"])])
        for t in ts
    }
    return _Run(row, _settings(d), metrics, ppl)


def _settings(run_dir: Path) -> dict[str, str] | None:
    """The run's config.yaml as sweep.settings; None for a run dir without one."""
    path = run_dir / layout.CONFIG
    return settings(flatten(upgraded(yaml.safe_load(path.read_text())))) if path.exists() else None


def read(*roots: str | Path) -> Sweep:
    """The sweep of every run dir under `roots` (raises FileNotFoundError if none), each
    run's files read once; μ_{m,t} and the combined std by ecosys.measures.metrics, per run."""
    run_dirs = find_runs(*roots)
    if not run_dirs:
        raise FileNotFoundError(f"no run dirs (with run.json) under {' '.join(map(str, roots))}")
    found = [_read_run(d) for d in run_dirs]
    runs = pd.DataFrame(with_variant([r.row for r in found], [r.config for r in found]))
    keys = runs[RUN].to_dict("records")
    blocks, means, std, rows, cubes = [], [], [], [], {}
    for key, r in zip(keys, found, strict=True):
        for t, per_model in r.ppl.items():
            means += [
                {**key, "m": m, "t": t, "mu_mt": metrics.block_mean(p)}
                for m, p in enumerate(per_model)
            ]
            std.append({**key, "t": t, "std": metrics.combined_std(list(per_model))})
        blocks.append(_blocks(key, r.ppl))
        # a model row's index `model` is `m`: `model` is the condition's label
        rows += [{**{_M.get(k, k): v for k, v in row.items()}, **key} for row in r.metrics]
        later = [r.ppl[t] for t in sorted(r.ppl) if t >= 0]
        if later:  # [M, T_done, B]: what the bootstrap resamples
            cubes[key["run"]] = np.stack(later, axis=1)
    table = pd.DataFrame(rows) if rows else pd.DataFrame()
    return Sweep(
        runs,
        pd.DataFrame(means, columns=[*RUN, "m", "t", "mu_mt"]),
        pd.DataFrame(std, columns=[*RUN, "t", "std"]),
        pd.concat(blocks, ignore_index=True),
        table,
        cubes,
    )


def _blocks(key: dict, ppl: dict[int, np.ndarray]) -> pd.DataFrame:
    """(run …, m, t, block) → perplexity of one run, from its arrays without a loop."""
    if not ppl:
        return pd.DataFrame(columns=[*CONDITION, "D", "seed", "run", "m", "t", "block", "ppl"])
    ts = sorted(ppl)
    cube = np.stack([ppl[t] for t in ts])  # [t, M, B]
    t, m, block = np.indices(cube.shape)
    return pd.DataFrame(
        {
            **{k: key[k] for k in RUN},
            "m": m.ravel(),
            "t": np.asarray(ts)[t.ravel()],
            "block": block.ravel(),
            "ppl": cube.ravel(),
        }
    )
