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


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    """One base-model cache for the session: the small world's base is pretrained once."""
    return tmp_path_factory.mktemp("cache")
