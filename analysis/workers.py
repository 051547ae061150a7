"""Work spread over the CPUs this process may use, for the analysis's independent parts
(a lens's bootstrap, a figure): forked processes that find their inputs in their copy
of this process's memory, so nothing big is pickled, only the results on the way back.
One process where there is one CPU or processes cannot be forked."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from typing import Any

_TASK: list[Callable] = []  # the function the forked workers call


def cpus() -> int:
    """The CPUs this process may use; 1 where processes cannot be forked, or in a worker
    (a pool's workers have no children)."""
    if "fork" not in multiprocessing.get_all_start_methods():
        return 1
    if multiprocessing.current_process().daemon:
        return 1
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def fork_map(fn: Callable[[Any], Any], items: Sequence, workers: int | None = None) -> list:
    """[fn(x) for x in items], by up to `workers` forked processes (default: cpus()), an
    item at a time; fn may be a closure (it is inherited, not pickled)."""
    n = min(len(items), cpus() if workers is None else workers)
    if n < 2:
        return [fn(x) for x in items]
    _TASK[:] = [fn]
    try:
        with multiprocessing.get_context("fork").Pool(n) as pool:
            return pool.map(_call, items, chunksize=1)
    finally:
        _TASK.clear()


def _call(item: Any) -> Any:
    return _TASK[0](item)
