"""CLI runs forked from one preloaded interpreter, for the tests.

Every `python -m ecosys` that runs a model first spends about 4 s importing torch and
transformers, and the tests start it about a hundred times. multiprocessing's forkserver
imports them once per test process; each run is then a fresh fork of it that runs
`ecosys` as `python -m` does (runpy), with its own argv, environment, working directory,
stdout, stderr and exit status, and fresh random state.

A fork cannot give everything a new interpreter has: modules read some environment
variables when they are imported, and the hash seed is the server's. So the server starts
again in the new environment when a test's environment changes (but for RUNTIME's
variables, read only when used, which a fork is simply given), and a test that needs a
new interpreter asks for one (helpers.cli(fresh=True): a reproducibility check across
interpreters, or an environment of the test's own).

`run` waits for the run; `start` does not, and streams its output as it comes (a test
that kills a run at a line of its log, or acts while it holds)."""

from __future__ import annotations

import atexit
import multiprocessing
import multiprocessing.forkserver as forkserver
import os
import random
import runpy
import subprocess
import sys
import tempfile
import threading
import traceback
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np

# what a run imports before its first line of work (ecosys.schedule.loop pulls in torch,
# transformers and the model classes), and W&B for the tracked runs
PRELOAD = ["ecosys.schedule.loop", "ecosys.config", "hydra", "wandb"]

# read when used, never at import ($ECOSYS_HOLD: runtime/preemption.py; SLURM's CPUs:
# runtime/ranks.py): no reason to start a new server
RUNTIME = ("ECOSYS_HOLD", "SLURM_CPUS_PER_TASK")

_env: dict[str, str] | None = None  # the environment the running server started in
_started: list[multiprocessing.Process] = []  # what `start` began, for kill_started


def available() -> bool:
    return "forkserver" in multiprocessing.get_all_start_methods()


def _server(env: dict[str, str]) -> multiprocessing.context.BaseContext:
    """The forkserver, running in `env`: started at the first run, and again whenever the
    environment runs are given changes (a test process's own code may set a variable,
    as ecosys sets WANDB_SILENT; a server keeps the environment it started in)."""
    global _env
    ctx = multiprocessing.get_context("forkserver")
    env = {k: v for k, v in env.items() if k not in RUNTIME}
    if env != _env:
        forkserver._forkserver._stop()  # CPython's own way to stop it (its tests use it)
        ctx.set_forkserver_preload(PRELOAD)
        saved = dict(os.environ)
        _set_environ(env)  # the server starts in this process's environment
        try:
            forkserver.ensure_running()
        finally:
            _set_environ(saved)
        _env = dict(env)
    return ctx


def run(
    args: list[str], cwd: Path, env: dict[str, str], timeout: float | None = None
) -> subprocess.CompletedProcess:
    """`python -m ecosys ARGS` in `env`, in a fork of the server started in `env`."""
    ctx, argv = _server(env), _argv(args)
    with tempfile.TemporaryDirectory(prefix="ecosys-cli-") as tmp:
        out, err = Path(tmp, "stdout"), Path(tmp, "stderr")
        proc = ctx.Process(target=_main, args=(list(args), str(cwd), env, str(out), str(err)))
        proc.start()
        proc.join(timeout)
        if proc.exitcode is None:
            proc.kill()
            proc.join()
            raise subprocess.TimeoutExpired(argv, timeout)
        return subprocess.CompletedProcess(
            argv,
            proc.exitcode,
            out.read_text() if out.exists() else "",
            err.read_text() if err.exists() else "",
        )


class Started:
    """A run `start` began: what the tests use of subprocess.Popen (stdout and stderr
    as one text stream)."""

    def __init__(self, args: list[str], proc: multiprocessing.Process, output: Connection):
        self.args, self._proc, self.pid = args, proc, proc.pid
        self.stdout = os.fdopen(os.dup(output.fileno()), "r")
        output.close()

    @property
    def returncode(self) -> int | None:
        return self._proc.exitcode

    def poll(self) -> int | None:
        return self.returncode

    def send_signal(self, sig: int) -> None:
        os.kill(self.pid, sig)

    def wait(self, timeout: float | None = None) -> int:
        self._proc.join(timeout)
        if self._proc.exitcode is None:
            raise subprocess.TimeoutExpired(self.args, timeout)
        return self._proc.exitcode

    def communicate(self, timeout: float | None = None) -> tuple[str, None]:
        """The rest of its output once it has exited; killed past `timeout`."""
        rest: list[str] = []
        reader = threading.Thread(target=lambda: rest.append(self.stdout.read()), daemon=True)
        reader.start()
        reader.join(timeout)
        if reader.is_alive():
            self._proc.kill()
            raise subprocess.TimeoutExpired(self.args, timeout)
        self.wait()
        return rest[0], None


def start(args: list[str], cwd: Path, env: dict[str, str]) -> Started:
    """`python -m ecosys ARGS` in `env`, in a fork of the server, not waited for."""
    ctx = _server(env)
    output, sink = ctx.Pipe(duplex=False)  # the fork writes its fds 1 and 2 to `sink`
    proc = ctx.Process(target=_main, args=(list(args), str(cwd), env, sink, sink))
    proc.start()
    sink.close()
    _started.append(proc)
    return Started(_argv(args), proc, output)


def kill_started() -> None:
    """Kill what `start` began and is still running (a failed test's held run): the
    test process, at its exit, would wait for it (multiprocessing joins its children)."""
    while _started:
        proc = _started.pop()
        if proc.exitcode is None:
            proc.kill()
            proc.join()


def _argv(args: list[str]) -> list[str]:
    """The command line a run stands for (what subprocess would report as its args)."""
    return ["python", "-m", "ecosys", *args]


def _main(
    args: list[str], cwd: str, env: dict[str, str], out: str | Connection, err: str | Connection
) -> None:
    """In the fork: what `python -m ecosys ARGS` would do, then its exit status; its
    stdout and stderr go to files or to a pipe's end."""
    os.chdir(cwd)
    _set_environ(env)
    for fd, target in ((1, out), (2, err)):
        if isinstance(target, Connection):
            os.dup2(target.fileno(), fd)
            continue
        f = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(f, fd)
        os.close(f)
    for target in {out, err}:
        if isinstance(target, Connection):
            target.close()
    random.seed()  # a new interpreter's random state, not the server's
    np.random.seed()
    sys.path.insert(0, cwd)  # as `-m` does
    sys.argv = ["", *args]  # runpy sets argv[0] to the module's path
    code: int | str | None = 0
    try:
        runpy.run_module("ecosys", run_name="__main__", alter_sys=True)
    except SystemExit as exit_:
        code = exit_.code
    except BaseException:  # the traceback the interpreter prints, and its status
        traceback.print_exc()
        code = 1
    atexit._run_exitfuncs()  # what the interpreter runs at exit (logging, W&B)
    sys.stdout.flush()
    sys.stderr.flush()
    sys.exit(code)  # the Process maps it to an exit status as the interpreter does


def _set_environ(env: dict[str, str]) -> None:
    """Make `env` this process's whole environment (os.environ passes it on to C)."""
    os.environ.clear()
    os.environ.update(env)
