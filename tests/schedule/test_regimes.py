"""The data regime (conf/regime/): what each model trains on at t ≥ 1, read from the
committed pools without copies, and an accumulating run that resumes after SIGKILL."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from helpers import cli, make_cfg, only_run_dir, run_until, small_args, snapshot
from omegaconf import OmegaConf

from ecosys.data import corpus
from ecosys.rundir import layout
from ecosys.rundir.store import RunStore
from ecosys.schedule import members
from ecosys.schedule.context import Context

pytestmark = pytest.mark.slow

GRID = ("diversity=d2", "T=3")


def training_sets(run: Path, *overrides: str) -> dict[tuple[int, int], np.ndarray]:
    """Every model's training blocks at every t, as the loop's context gives them."""
    cfg = make_cfg(*GRID, *overrides, f"cache_dir={run.parent.parent / 'cache'}")
    roster = members.assemble(cfg)
    ctx = Context(OmegaConf.to_object(cfg), roster, None, None, RunStore.attach(run), None, {})
    return {(t, m): ctx.training_set(t, m) for t in range(3) for m in range(2)}


def shares(run: Path, t: int) -> list[np.ndarray]:
    pool = np.load(run / layout.npy(layout.pool(t)))
    return [pool[s] for s in corpus.slices([len(pool) // 2] * 2)]


@pytest.mark.parametrize(
    "regime", ["replace", "accumulate", "accumulate_subsample", "accumulate_no_real"]
)
def test_each_regime_trains_on_what_it_says(tmp_path, regime):
    overrides = ["regime=accumulate", "regime.keep_real=false"]
    if regime != "accumulate_no_real":
        overrides = [f"regime={regime}"]
    cli(*small_args(tmp_path / "runs", tmp_path / "cache", *GRID, *overrides))
    run = only_run_dir(tmp_path / "runs")
    sets = training_sets(run, *overrides)
    real = [sets[0, m] for m in range(2)]
    for m in range(2):
        own = [shares(run, t)[m] for t in range(2)]
        if regime == "replace":
            expected = {1: own[0], 2: own[1]}
        elif regime == "accumulate":
            expected = {1: np.concatenate([real[m], own[0]]), 2: np.concatenate([real[m], *own])}
        elif regime == "accumulate_no_real":
            expected = {1: own[0], 2: np.concatenate(own)}
        else:  # n_m blocks drawn without replacement from what accumulate has
            for t in (1, 2):
                pool = Counter(r.tobytes() for r in np.concatenate([real[m], *own[:t]]))
                got = Counter(r.tobytes() for r in sets[t, m])
                assert sum(got.values()) == len(real[m])
                assert all(got[b] <= pool[b] for b in got)  # no block more often than it is there
            assert not np.array_equal(sets[1, m], sets[2, m])  # a fresh draw every t
            continue
        for t, blocks in expected.items():
            np.testing.assert_array_equal(sets[t, m], blocks)
    # nothing but the pools is stored: the run store stays O(N·T)
    assert sorted(p.name for p in (run / "pools").iterdir()) == ["t00.npy", "t01.npy"]


def test_an_accumulating_run_killed_mid_iteration_resumes_to_identical_results(tmp_path, cache_dir):
    args = small_args(tmp_path / "runs", cache_dir, *GRID, "regime=accumulate")
    cli(*small_args(tmp_path / "whole", cache_dir, *GRID, "regime=accumulate"))
    run_until(args, "start t02.train.m01")  # inside the iteration that reads two pools
    units = only_run_dir(tmp_path / "runs") / "units"
    assert (units / "t02.train.m00.json").exists()
    assert not (units / "t02.train.m01.json").exists()
    cli(*args)
    assert snapshot(only_run_dir(tmp_path / "runs")) == snapshot(only_run_dir(tmp_path / "whole"))
