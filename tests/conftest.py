"""Shared helpers: a test-sized synthetic world, the real CLI in a subprocess, and
Hydra's compose API for in-process runs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from ecosys import config

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
SHARED_DATA = ROOT.parent / "shared" / "data"

# A world and model small enough that a whole run takes seconds: 32 tokens, blocks of 8.
SMALL = [
    "world.vocab_size=32",
    "world.min_successors=2",
    "world.max_successors=12",
    "world.train_blocks=320",
    "world.valid_blocks=24",
    "world.test_blocks=48",
    "data.block_size=8",
    "model.n_positions=16",
    "model.n_embd=32",
    "model.pretrain.steps=40",
    "model.pretrain.batch_size=32",
    "scale.max_blocks=64",
    "train.epochs=2",
    "train.eval_batch_size=32",
    "generate.batch_size=16",
    "T=2",
    "runtime.progress=false",
    "runtime.threads=1",
    "tracking=none",
]

config.register()


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    """One base-model cache for the session: the small world's base is pretrained once."""
    return tmp_path_factory.mktemp("cache")


def make_cfg(*overrides: str, small: bool = True):
    """A composed config, as `python -m ecosys OVERRIDES` would get it."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("config", overrides=[*(SMALL if small else []), *overrides])


def cli(*args: str, cwd: Path | None = None, env: dict | None = None, check: bool = True, **kw):
    """Run `python -m ecosys ARGS` for real; returns the CompletedProcess."""
    proc = subprocess.run(
        [sys.executable, "-m", "ecosys", *args],
        cwd=cwd or ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        capture_output=True,
        text=True,
        **kw,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        )
    return proc


def small_args(out: Path, cache: Path, *extra: str) -> list[str]:
    return [*SMALL, f"out_dir={out}", f"cache_dir={cache}", *extra]


def only_run_dir(out: Path) -> Path:
    (run,) = [p.parent for p in out.rglob("run.json")]
    return run


def start_cli(*args: str) -> subprocess.Popen:
    """Start `python -m ecosys ARGS` without waiting; stdout and stderr as one text pipe."""
    return subprocess.Popen(
        [sys.executable, "-m", "ecosys", *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def run_until(args: list[str], marker: str) -> None:
    """Start the CLI and SIGKILL it the moment its debug log shows `marker`."""
    proc = start_cli(*args, "hydra.verbose=ecosys")
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if marker in line:
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, f"never saw {marker!r}:\n{''.join(seen)}"
