"""Fixtures, and the config schema registered once for Hydra's compose API; the helpers
tests import live in helpers.py."""

from __future__ import annotations

import os
from pathlib import Path

import preloaded
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


# The workers' units of work (`make test`: one pytest-xdist worker per CPU). A file whose
# tests share an expensive module fixture (a converted model, a finished run, a pretrained
# world) goes whole to one worker, so the fixture is built once; the SLURM tests share one
# single-node cluster; every other test goes alone to whichever worker is free. (Named
# here: xdist's --dist loadgroup tags a test's nodeid, which pytest 9 no longer reads.)
WHOLE = (
    "test_smollm2",
    "test_loop",
    "test_real",
    "test_analysis_ragged",
    "test_llama2c",
    "test_decode",
    "test_ensemble",
    "test_kernels",
    "test_world",
)
FIRST = ("slurm", "test_smollm2", "test_loop", "test_real")  # the largest units, handed out first


def unit(nodeid: str) -> str:
    """The unit of work a test belongs to: "slurm", its file (WHOLE), or itself."""
    path, _, name = nodeid.partition("::")
    if "slurm" in name or Path(path).stem == "test_slurm":
        return "slurm"
    return path if Path(path).stem in WHOLE else nodeid


@pytest.hookimpl(optionalhook=True)  # xdist's hook: absent where xdist is not installed
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    from xdist.scheduler import LoadScopeScheduling

    class ByUnit(LoadScopeScheduling):
        """xdist's scope scheduling (a unit at a time to a free worker, in collection
        order) over `unit`s."""

        def _split_scope(self, nodeid: str) -> str:
            return unit(nodeid)

    return ByUnit(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The largest units first (FIRST), then the end-to-end runs (marked slow), then the
    rest, each in file order: the short tests come last and fill whichever worker frees
    first, so the workers end together (slow last, they ended 50 s apart)."""
    rank = {name: i for i, name in enumerate(FIRST)}

    def place(item: pytest.Item) -> int:
        u = unit(item.nodeid)
        first = rank.get("slurm" if u == "slurm" else Path(u.partition("::")[0]).stem)
        if first is not None:
            return first
        return len(FIRST) + (item.get_closest_marker("slow") is None)

    items.sort(key=place)  # stable


@pytest.fixture(autouse=True)
def _no_run_left_behind():
    """A run a test started and left running (it failed while the run held) is killed."""
    yield
    preloaded.kill_started()


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    """One base-model cache for the session: the small world's base is pretrained once."""
    return tmp_path_factory.mktemp("cache")
