"""SLURM's preemption signal, held until the run is between two units.

Under submitit, SIGUSR2 (preemption, or the warning before a time limit) runs a handler
that checkpoints, requeues and raises SystemExit wherever the main thread happens to
be. Inside a C extension that calls back into Python (torch building a tensor from a
storage, safetensors) that SystemExit comes out as an unrelated error, and the job
fails instead of being requeued. Here the signal is noted, and the handler runs at the
next unit boundary, where nothing is half-done; should a unit outlast `grace_s`, the
signal is delivered as before. Written by hand: submitit has no deferral hook.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)


@contextmanager
def deferred(grace_s: float, signum: int = signal.SIGUSR2) -> Iterator[Callable[[], None]]:
    """Within the block, `signum` waits for the returned `safe_point()` to be called
    (or for grace_s to pass). A no-op where no Python handler is installed (outside
    submitit) or off the main thread."""
    original = signal.getsignal(signum)
    if not callable(original) or threading.current_thread() is not threading.main_thread():
        yield lambda: None
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

    def safe_point() -> None:
        if pending:
            timer.cancel()
            signal.signal(signum, original)
            original(pending[0], None)  # checkpoints, requeues, exits

    signal.signal(signum, hold)
    try:
        yield safe_point
    finally:
        timer.cancel()
        signal.signal(signum, original)
