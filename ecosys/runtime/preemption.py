"""SLURM's preemption signal, held until the run is between two units.

Under submitit, SIGUSR2 (preemption, or the warning before a time limit) runs a handler
that checkpoints, requeues and raises SystemExit wherever the main thread happens to
be. Inside a C extension that calls back into Python (torch building a tensor from a
storage, safetensors) that SystemExit comes out as an unrelated error, and the job
fails instead of being requeued. Here the signal is noted, and the handler runs at the
next unit boundary, where nothing is half-done; should a unit outlast `grace_s`, the
signal is delivered as before. Written by hand: submitit has no deferral hook.

The same boundary is where a run holds while the file `$ECOSYS_HOLD` names exists
(holding from iteration K on if the file holds the number K): a way to pause a run
between units, and how the SLURM tests cancel or requeue a job that is surely mid-run
whatever the machine's speed. A signal that arrives while held acts at once.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger(__name__)


@contextmanager
def deferred(grace_s: float, signum: int = signal.SIGUSR2) -> Iterator[Callable[[], None]]:
    """Within the block, `signum` waits for the returned `safe_point()` to be called
    (or for grace_s to pass). A no-op where no Python handler is installed (outside
    submitit) or off the main thread."""
    original = signal.getsignal(signum)
    if not callable(original) or threading.current_thread() is not threading.main_thread():
        yield _holder(lambda: None)
        return
    pending: list[int] = []
    expired = threading.Event()
    main = threading.main_thread().ident

    def deliver() -> None:  # the grace is over: the handler wherever the main thread is
        expired.set()
        signal.pthread_kill(main, signum)  # handlers can only be swapped on the main thread

    timer = threading.Timer(grace_s, deliver)
    timer.daemon = True

    def hold(sig: int, frame) -> None:
        if expired.is_set():
            original(sig, frame)
            return
        if not pending:
            log.warning("signal %s: stopping at the next unit boundary", signal.Signals(sig).name)
            timer.start()
        pending.append(sig)

    def act() -> None:
        if pending:
            timer.cancel()
            signal.signal(signum, original)
            original(pending[0], None)  # checkpoints, requeues, exits

    signal.signal(signum, hold)
    try:
        yield _holder(act)
    finally:
        timer.cancel()
        signal.signal(signum, original)


def _holder(act: Callable[[], None]) -> Callable[[int], None]:
    """safe_point(t): act on a held signal; wait while $ECOSYS_HOLD says to hold at t."""
    path = Path(os.environ["ECOSYS_HOLD"]) if os.environ.get("ECOSYS_HOLD") else None
    told: list[int] = []

    def safe_point(t: int = -1) -> None:
        act()
        while path is not None and _holds(path, t):
            if not told:
                told.append(t)
                log.warning("holding at t=%d: remove %s to continue", t, path)
            time.sleep(0.2)
            act()
        told.clear()

    return safe_point


def _holds(path: Path, t: int) -> bool:
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        return False
    return not text or t >= int(text)
