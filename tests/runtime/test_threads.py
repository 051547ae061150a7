"""CPU threads follow the allocation: SLURM's, else the process's CPU affinity, not the
node's cores; runtime.threads still wins; the run's log says how many."""

from __future__ import annotations

import pytest
from helpers import cli, only_run_dir, small_args

from ecosys.runtime import ranks


@pytest.fixture
def no_allocation(monkeypatch):
    """Neither SLURM nor `accelerate launch` in the environment, four CPUs in the affinity."""
    for var in ("SLURM_CPUS_PER_TASK", "LOCAL_WORLD_SIZE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(ranks.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    return monkeypatch


def test_threads_default_to_the_allocation(no_allocation):
    assert ranks.allocated_cpus() == (4, "CPU affinity")
    assert ranks.threads(None) == 4
    no_allocation.setenv("LOCAL_WORLD_SIZE", "2")  # two processes share the affinity
    assert ranks.threads(None) == 2
    no_allocation.setenv("SLURM_CPUS_PER_TASK", "3")  # SLURM's word is the allocation
    assert ranks.allocated_cpus() == (3, "SLURM_CPUS_PER_TASK")
    assert ranks.threads(None) == 3
    assert ranks.threads(1) == 1  # runtime.threads wins
    no_allocation.setenv("SLURM_CPUS_PER_TASK", "")  # set but empty: not SLURM's word
    assert ranks.threads(None) == 2


def _logged_threads(tmp_path, name: str, *overrides: str) -> list[str]:
    out = tmp_path / name
    args = small_args(out, tmp_path / "cache", "T=1", "train.epochs=1", *overrides)
    cli(*args, env={"SLURM_CPUS_PER_TASK": "1"})
    log = (only_run_dir(out) / "log.txt").read_text()
    return [line.split("] ", 1)[1] for line in log.splitlines() if "torch threads:" in line]


@pytest.mark.slow
def test_a_run_logs_its_threads(tmp_path):
    """SLURM_CPUS_PER_TASK=1 gives one thread; runtime.threads=2 gives two anyway."""
    (line,) = _logged_threads(tmp_path, "slurm", "runtime.threads=null")
    assert line == "torch threads: 1 per process (allotted: 1, SLURM_CPUS_PER_TASK)"
    (line,) = _logged_threads(tmp_path, "asked", "runtime.threads=2")
    assert line == "torch threads: 2 per process (allotted: 1, SLURM_CPUS_PER_TASK)"
