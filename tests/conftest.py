"""Fixtures, and the config schema registered once for Hydra's compose API; the helpers
tests import live in helpers.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

import ecosys.config

ecosys.config.register()


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist (`make test`: one worker per CPU), pin each worker to its own
    share of the CPUs. Runs started from it inherit the affinity, so torch's threads follow
    it (ecosys.runtime.ranks.allocated_cpus) and no two workers oversubscribe a core,
    which on 2 cores made each process 5-10x slower."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")  # "gw0", "gw1", ...
    if not worker:
        return
    cpus = sorted(os.sched_getaffinity(0))
    share = cpus[int(worker.removeprefix("gw")) :: int(os.environ["PYTEST_XDIST_WORKER_COUNT"])]
    os.sched_setaffinity(0, share or cpus)
    torch.set_num_threads(len(share or cpus))


# Groups that go to the workers first, largest first (the rest follow in file order), so
# that no worker is left with a long group at the end: seconds on 2 cores, measured.
FIRST = ("slurm", "test_smollm2", "test_loop", "test_real")
# Files whose module fixtures take seconds (a few files, a smoke run, a synthetic grid):
# cheaper built on each worker than their many tests kept on one.
SPREAD = ("test_checks", "test_presets", "test_analysis_figures")


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`make test` distributes by group (--dist loadgroup): a file whose tests share a
    module-scoped fixture (a converted model, a finished run) runs whole on one worker, so
    the fixture is built once; the SLURM tests share one single-node cluster; every other
    test goes wherever a worker is free."""
    for item in items:
        if group := _group(item):
            item.add_marker(pytest.mark.xdist_group(group))
    rank = {g: i for i, g in enumerate(FIRST)}
    items.sort(key=lambda item: rank.get(_group(item) or "", len(FIRST)))  # stable


def _group(item: pytest.Item) -> str | None:
    if item.get_closest_marker("slurm"):
        return "slurm"
    defs = getattr(item, "_fixtureinfo", None)
    scopes = {d[-1].scope for d in (defs.name2fixturedefs.values() if defs else []) if d}
    return item.path.stem if "module" in scopes and item.path.stem not in SPREAD else None


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    """One base-model cache for the session: the small world's base is pretrained once."""
    return tmp_path_factory.mktemp("cache")
