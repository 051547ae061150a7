"""How one ecosystem's work spreads over Accelerate processes (ranks).

With K processes and M models:

- M ≥ K: model m belongs to rank m mod K, which runs all its units alone (no
  collectives inside a unit, so a rank never waits on another's model);
- M < K: no rank idles: every rank works on every model, in turn. Training is
  data-parallel (DDP through Accelerate: each rank takes its share of every batch),
  evaluation and generation split their batches over the ranks and gather the
  results in batch order.

Rank 0 opens the run store and writes what is shared (config, pools, summaries,
metrics, W&B); a model's units are written by the rank that computes them (rank 0 in
data-parallel mode). Ranks meet at the end of every phase. With K = 1 all of this is
the plain single-process loop.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

import torch
from accelerate import Accelerator
from accelerate.utils import broadcast_object_list, gather_object
from omegaconf import DictConfig

T = TypeVar("T")


class Ranks:
    def __init__(self, accelerator: Accelerator, n_models: int):
        self.accelerator = accelerator
        self.k = accelerator.num_processes
        self.rank = accelerator.process_index
        self.main = self.rank == 0
        self.data_parallel = self.k > 1 and n_models < self.k

    def models(self, n_models: int) -> list[int]:
        """The models this rank computes units for."""
        if self.k == 1 or self.data_parallel:
            return list(range(n_models))
        return [m for m in range(n_models) if m % self.k == self.rank]

    def writes(self, m: int) -> bool:
        """Does this rank commit model m's units?"""
        return self.rank == (0 if self.data_parallel or self.k == 1 else m % self.k)

    def barrier(self) -> None:
        if self.k > 1:
            self.accelerator.wait_for_everyone()

    def agree(self, value: T) -> T:
        """Rank 0's value on every rank (decisions that steer collective work)."""
        if not self.data_parallel:
            return value
        box = [value]
        broadcast_object_list(box, from_process=0)
        return box[0]

    def batches(self, n_batches: int) -> range:
        """This rank's batch indices: all of them, or every K-th in data-parallel mode."""
        return range(self.rank, n_batches, self.k) if self.data_parallel else range(n_batches)

    def gather(self, results: list[tuple[int, Any]]) -> list[Any]:
        """(batch index, result) pairs of every rank, in batch order."""
        if self.data_parallel:
            results = gather_object(results)
        return [r for _, r in sorted(results, key=lambda pair: pair[0])]

    def run_batches(self, n_batches: int, work: Callable[[int], Any]) -> list[Any]:
        """`work(b)` over this rank's batches, gathered in batch order on every rank."""
        return self.gather([(b, work(b)) for b in self.batches(n_batches)])


def over_batches(ranks: Ranks | None, n_batches: int, work: Callable[[int], Any]) -> list[Any]:
    """`work(b)` for b in range(n_batches), split over the ranks where they share a model
    (`ranks` None: one process), the results in batch order on every rank."""
    if ranks is None:
        return [work(b) for b in range(n_batches)]
    return ranks.run_batches(n_batches, work)


def join_slurm_tasks() -> None:
    """Inside a submitit SLURM job of several tasks (hydra/launcher=slurm_gpu sets
    tasks_per_node = GPUs), export torch.distributed's env:// variables, so that the
    tasks form one Accelerate process group as `accelerate launch` would."""
    if "WORLD_SIZE" in os.environ or int(os.environ.get("SLURM_NTASKS", "1")) < 2:
        return
    if "SUBMITIT_EXECUTOR" not in os.environ:
        return
    from submitit.helpers import TorchDistributedEnvironment

    TorchDistributedEnvironment().export(set_cuda_visible_devices=False)  # Accelerate picks the GPU


def allocated_cpus() -> tuple[int, str]:
    """The CPUs this process was given, and who said so: SLURM's SLURM_CPUS_PER_TASK,
    else the process's CPU affinity (a cgroup, taskset, a container's cpuset), shared
    among the processes `accelerate launch` started on this machine. Not the node's
    cores, torch's default: on a shared node that oversubscribes every CPU."""
    slurm = os.environ.get("SLURM_CPUS_PER_TASK", "")
    if slurm.isdigit() and int(slurm) >= 1:
        return int(slurm), "SLURM_CPUS_PER_TASK"
    local = max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    n = len(os.sched_getaffinity(0))
    if local == 1:
        return n, "CPU affinity"
    return max(1, n // local), f"CPU affinity ({n}) over {local} local processes"


def threads(requested: int | None) -> int:
    """Torch's intra-op threads for this process: runtime.threads if set, else its CPUs."""
    return requested or allocated_cpus()[0]


def accelerator(cfg: DictConfig) -> Accelerator:
    """The process's Accelerator. Several launched processes without a GPU join one
    process group on the CPU (gloo): Accelerate would otherwise run them as
    independent copies of the whole run."""
    join_slurm_tasks()
    launched = int(os.environ.get("WORLD_SIZE", "1")) > 1
    cpu = cfg.runtime.cpu or (launched and not torch.cuda.is_available())
    return Accelerator(cpu=cpu, mixed_precision=cfg.train.mixed_precision)


def main_first(
    accelerator: Accelerator, make: Callable[[], T], errors: tuple[type[Exception], ...]
) -> T | None:
    """`make()` on rank 0 alone (None elsewhere); one of `errors` it raises is raised
    on every rank, so that all stop with the same one-line error."""
    if accelerator.num_processes == 1:
        return make()
    made, error = None, None
    if accelerator.is_main_process:
        try:
            made = make()
        except errors as err:
            error = err
    box = [error]
    broadcast_object_list(box, from_process=0)
    if box[0] is not None:
        raise box[0]
    return made
