"""SLURM's preemption signal is held until a unit boundary (ecosys/runtime/preemption.py): real
signals sent to this process."""

from __future__ import annotations

import os
import signal
import time

import pytest
from helpers import only_run_dir, small_args, start_cli

from ecosys.runtime import preemption


def recording_handler(calls: list[int]):
    def handler(signum, frame) -> None:
        calls.append(signum)

    return handler


def test_the_signal_waits_for_the_safe_point():
    calls: list[int] = []
    before = signal.signal(signal.SIGUSR2, recording_handler(calls))
    try:
        with preemption.deferred(grace_s=60) as safe_point:
            os.kill(os.getpid(), signal.SIGUSR2)
            time.sleep(0.05)
            assert calls == []  # held mid-unit
            safe_point()
            assert calls == [signal.SIGUSR2]  # delivered between units
        os.kill(os.getpid(), signal.SIGUSR2)
        assert calls == [signal.SIGUSR2] * 2  # the original handler is back
    finally:
        signal.signal(signal.SIGUSR2, before)


def test_a_unit_longer_than_the_grace_gets_the_signal_anyway():
    calls: list[int] = []
    before = signal.signal(signal.SIGUSR2, recording_handler(calls))
    try:
        with preemption.deferred(grace_s=0.2):
            os.kill(os.getpid(), signal.SIGUSR2)
            deadline = time.monotonic() + 5
            while not calls and time.monotonic() < deadline:
                time.sleep(0.01)
            assert calls == [signal.SIGUSR2]
    finally:
        signal.signal(signal.SIGUSR2, before)


def test_without_a_python_handler_nothing_changes():
    before = signal.signal(signal.SIGUSR2, signal.SIG_IGN)
    try:
        with preemption.deferred(grace_s=60) as safe_point:
            assert signal.getsignal(signal.SIGUSR2) == signal.SIG_IGN
            safe_point()
    finally:
        signal.signal(signal.SIGUSR2, before)


@pytest.mark.slow
def test_a_run_holds_between_units_while_the_hold_file_says(tmp_path, cache_dir):
    """$ECOSYS_HOLD=file holding "1": the run stops at the first unit boundary of t = 1
    (t = 0 committed, nothing of t = 1) and goes on when the file is removed."""
    hold = tmp_path / "hold"
    hold.write_text("1")
    out = tmp_path / "runs"
    proc = start_cli(*small_args(out, cache_dir, "T=2"), env={"ECOSYS_HOLD": str(hold)})
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if "holding at t=1" in line:
            break
    run = only_run_dir(out)
    units = sorted(p.name for p in (run / "units").iterdir())
    assert "t00.summary.json" in units and not [u for u in units if u.startswith("t01")]
    assert proc.poll() is None, "".join(seen)  # still there, waiting
    hold.unlink()
    rest, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, "".join(seen) + rest
    assert (run / "units" / "t01.summary.json").exists()
