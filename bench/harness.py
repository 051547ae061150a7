"""How the bench measures, apart from what it measures: composing configs, best-of-two
timing, peak memory, the compiled variant of a model, and the printed table."""

from __future__ import annotations

import copy
import math
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from hydra import compose, initialize_config_module
from omegaconf import DictConfig

from ecosys import config
from ecosys.models import hf

ROOT = Path(__file__).resolve().parents[1]


def compose_cfg(*overrides: str) -> DictConfig:
    """The config `python -m ecosys OVERRIDES` would run."""
    config.register()
    with initialize_config_module(config.CONF, version_base="1.3"):
        return compose("config", overrides=list(overrides))


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


@contextmanager
def peak_memory(out: dict) -> Iterator[None]:
    """Peak memory while the block runs: CUDA max allocated on a GPU, else the
    process's resident set sampled every 5 ms (MiB)."""
    if torch.cuda.is_available():
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        yield
        torch.cuda.synchronize()
        out["peak_mib"] = torch.cuda.max_memory_allocated() / 2**20
        return
    peak, stop = [_rss_mib()], threading.Event()

    def sample() -> None:
        while not stop.wait(0.005):
            peak[0] = max(peak[0], _rss_mib())

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        out["peak_mib"] = max(peak[0], _rss_mib())


def timed(fn: Callable[[], object], repeat: int = 2) -> tuple[object, float, float]:
    """(result, seconds, peak MiB) of a call: the fastest of `repeat` calls, since a
    shared machine's noise only ever adds time."""
    best, peak = math.inf, 0.0
    for _ in range(repeat):
        mem: dict = {}
        with peak_memory(mem):
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            start = time.perf_counter()
            result = fn()
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            best = min(best, time.perf_counter() - start)
        peak = max(peak, mem["peak_mib"])
    return result, best, peak


def warm_up(model: torch.nn.Module, blocks: torch.Tensor) -> None:
    """One forward pass first, so neither side pays the first call's set-up."""
    with torch.no_grad():
        model(input_ids=blocks[:2])


def compile_seconds(
    model: torch.nn.Module, fn: Callable[[torch.nn.Module], object]
) -> tuple[torch.nn.Module, float]:
    """A copy of `model` with runtime.compile's forward, and the seconds its first call
    of `fn(copy)` took (tracing and compiling every shape it meets, once per process)."""
    fast = hf.compiled(copy.deepcopy(model))
    start = time.perf_counter()
    fn(fast)
    return fast, time.perf_counter() - start


def variants(
    model: torch.nn.Module, compile: bool, first: Callable[[torch.nn.Module], object]
) -> list[tuple[str, torch.nn.Module, dict]]:
    """What ecosys is timed as: [(label, model, extra row fields)]: the eager model, and
    with `compile` a compiled copy whose first call `first(copy)` is timed as compile_s."""
    out = [("", model, {})]
    if compile:
        fast, secs = compile_seconds(model, first)
        out.append((" compiled", fast, {"compile_s": secs}))
    return out


class Table:
    """The rows bench.json gets, each printed as it is added."""

    def __init__(self) -> None:
        self.rows: list[dict] = []

    def header(self) -> None:
        print(f"{'name':<34} {'ecosys':>11} {'baseline':>11} {'unit':<9} {'ratio':>7}")

    def add(self, name: str, ecosys: float, baseline: float, unit: str, **extra) -> dict:
        """One comparison; ratio > 1 means ecosys is better (faster, or for a cost, less)."""
        lower_is_better = unit in ("s", "MiB")
        ratio = baseline / ecosys if lower_is_better else ecosys / baseline
        row = dict(name=name, ecosys=ecosys, baseline=baseline, unit=unit, ratio=ratio, **extra)
        self.rows.append(row)
        note = "  ".join(f"{k}={_fmt(v)}" for k, v in extra.items())
        print(f"{name:<34} {ecosys:>11.1f} {baseline:>11.1f} {unit:<9} {ratio:>6.2f}×  {note}")
        sys.stdout.flush()
        return row


def _fmt(v: object) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)
