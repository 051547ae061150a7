"""Helpers the tests import (`from helpers import ...`): the real CLI in a subprocess,
Hydra's compose API for in-process configs, both at the tests' size (debug=smoke)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import preloaded
from hydra import compose, initialize_config_module
from omegaconf import DictConfig

from ecosys import config
from ecosys.rundir.layout import read_metrics
from ecosys.rundir.summary import TIMING

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"  # the checkout's config tree: what the tests list and read
SHARED_DATA = ROOT.parent / "shared" / "data"

WANDB = ["tracking=wandb", "tracking.mode=offline"]  # W&B on, its files local

# A world and model small enough that a whole run takes seconds (conf/debug/smoke.yaml).
SMOKE = "debug=smoke"


def cli_env(**extra: str) -> dict[str, str]:
    """The environment the CLI runs in: unbuffered, and this checkout's ecosys first on
    the path, whatever the cwd (an editable install may point at another checkout)."""
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    # not the W&B service an in-process test started (wandb exports WANDB_SERVICE): a CLI
    # run that joined it would find a run id it had killed still "in use" there; nor the
    # name of the test pytest is in (PYTEST_CURRENT_TEST), so that every test's CLI runs
    # have the environment the preloaded interpreter started in (tests/preloaded.py)
    hidden = ("WANDB_SERVICE", "PYTEST_CURRENT_TEST")
    env = {k: v for k, v in os.environ.items() if k not in hidden}
    return {**env, "PYTHONUNBUFFERED": "1", "PYTHONPATH": path, **extra}


def make_cfg(*overrides: str, small: bool = True, hydra: bool = False) -> DictConfig:
    """A composed config, as `python -m ecosys OVERRIDES` would get it (with `hydra`,
    Hydra's own node too: the launcher, help and logging options)."""
    overrides = [*([SMOKE] if small else []), *overrides]
    with initialize_config_module(config.CONF, version_base="1.3"):
        return compose("config", overrides=overrides, return_hydra_config=hydra)


def cli(
    *args: str,
    cwd: Path | None = None,
    env: dict | None = None,
    check: bool = True,
    fresh: bool = False,
    timeout: float | None = None,
) -> subprocess.CompletedProcess:
    """Run `python -m ecosys ARGS` for real, in a process of its own: a fork of the tests'
    preloaded interpreter (tests/preloaded.py), or a new interpreter where the test asks
    for one (`fresh`: a check across interpreters, each with its own hash seed) or gives
    variables of its own read when a module is imported (`env` beyond preloaded.RUNTIME)."""
    environ = cli_env(**(env or {}))
    if fresh or not _forkable(env):
        proc = subprocess.run(
            [sys.executable, "-m", "ecosys", *args],
            cwd=cwd or ROOT,
            env=environ,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    else:
        proc = preloaded.run(list(args), cwd or ROOT, environ, timeout)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        )
    return proc


def _forkable(env: dict[str, str] | None) -> bool:
    """Whether a run in `env` may be a fork of the preloaded interpreter."""
    return set(env or {}) <= set(preloaded.RUNTIME) and preloaded.available()


def small_args(out: Path, cache: Path, *extra: str) -> list[str]:
    """CLI arguments for a run at the tests' size, its runs and base cache in tmp dirs."""
    return [SMOKE, f"out_dir={out}", f"cache_dir={cache}", *extra]


def only_run_dir(out: Path) -> Path:
    (run,) = [p.parent for p in out.rglob("run.json")]
    return run


def start_cli(
    *args: str, env: dict[str, str] | None = None
) -> subprocess.Popen | preloaded.Started:
    """Start `python -m ecosys ARGS` without waiting; stdout and stderr as one text pipe.
    A fork of the preloaded interpreter, as `cli` runs it, unless `env` sets variables
    read at import (then a new interpreter)."""
    if _forkable(env):
        return preloaded.start(list(args), ROOT, cli_env(**(env or {})))
    return subprocess.Popen(
        [sys.executable, "-m", "ecosys", *args],
        cwd=ROOT,
        env=cli_env(**(env or {})),
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


ACCELERATE_CPU = ROOT / "launchers" / "accelerate" / "cpu-2proc.yaml"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(*args: str) -> subprocess.CompletedProcess:
    """`accelerate launch` of the CLI on two CPU ranks (one process group, gloo)."""
    accelerate = Path(sys.executable).with_name("accelerate")
    proc = subprocess.run(
        [
            str(accelerate),
            "launch",
            "--config_file",
            str(ACCELERATE_CPU),
            "--main_process_port",
            str(free_port()),
            "-m",
            "ecosys",
            *args,
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def snapshot(run: Path) -> dict:
    """Everything a run computed, but wall-clock speeds."""
    rows = [{k: v for k, v in r.items() if not k.startswith(TIMING)} for r in read_metrics(run)]
    files = {
        str(p.relative_to(run)): p.read_bytes()
        for sub in ("ppl", "gen", "gen_ppl", "curation", "pools", "ckpt", "cross")
        for p in sorted((run / sub).glob("*"))
    }
    return {"rows": rows, "files": files}


def fingerprint(run: Path) -> dict[str, tuple[int, str]]:
    """Every file under the run dir: its mtime and its bytes' digest."""
    return {
        str(p.relative_to(run)): (p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
        for p in sorted(run.rglob("*"))
        if p.is_file()
    }


def inspect(offline_run: Path, *flags: str) -> list[dict]:
    """W&B's own reading of an offline run's records (`wandb leet inspect --json`)."""
    wandb = Path(sys.executable).with_name("wandb")
    out = subprocess.run(
        [str(wandb), "leet", "inspect", "--json", *flags, str(offline_run)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    if "--summary" in flags:  # one pretty-printed document
        return [json.loads(out)]
    return [json.loads(line) for line in out.splitlines() if line.strip()]  # a record a line
