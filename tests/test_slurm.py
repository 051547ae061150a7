"""The grid on a real SLURM (launchers/slurm-local/up.sh, started by .ci/run) through
hydra-submitit-launcher: same results as local runs, a requeued job resumes to the
same numbers, a cancelled job is reported, not waited on forever."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from helpers import (
    cli,
    cli_env,
    fingerprint,
    make_cfg,
    only_run_dir,
    small_args,
    snapshot,
    start_cli,
)

from ecosys import config

pytestmark = [
    pytest.mark.slurm,
    pytest.mark.skipif(
        shutil.which("sinfo") is None
        or subprocess.run(["sinfo", "-h"], capture_output=True).returncode != 0,
        reason="needs a running SLURM: launchers/slurm-local/up.sh (.ci/run starts it)",
    ),
]
SLURM = ["--multirun", "hydra/launcher=slurm", "hydra.launcher.timeout_min=10"]


def runs_by_name(root: Path) -> dict[str, Path]:
    return {p.parent.name: p.parent for p in root.rglob("run.json")}


LIVE = {"PENDING", "RUNNING", "COMPLETING", "REQUEUED", "CONFIGURING", "RESIZING", "SUSPENDED"}


def live(state: str) -> bool:
    """Whether sacct's state (e.g. "CANCELLED by 0") is of a job not yet ended."""
    return state.split()[0] in LIVE


def job_states(ids: set[str], seconds: float = 60) -> dict[str, str]:
    """sacct's state of each job or array task of `ids`, once none is live any more:
    SLURM's accounting lags the job's result file that submitit returns on, so a job
    just done may still read RUNNING for a moment."""
    deadline = time.monotonic() + seconds
    while True:
        lines = subprocess.run(
            ["sacct", "-n", "-X", "-P", "-o", "JobID,State", "-j", ",".join(sorted(ids))],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
        states = dict(line.split("|") for line in lines if line.strip())  # "CANCELLED by 0"
        if not any(map(live, states.values())) or time.monotonic() > deadline:
            return states
        time.sleep(0.5)


def array_tasks(out: Path, seconds: float = 60) -> dict[str, str]:
    """The SLURM array tasks of the sweep under out (submitit's job folders), by sacct,
    settled: task id -> state."""
    return job_states(
        {p.name.partition("_")[0] for p in (out / ".submitit").iterdir() if p.is_dir()}, seconds
    )


GRID = ["diversity=d1,d2", "data_quality=beam,temp1"]


@pytest.fixture(scope="module")
def local_grid(tmp_path_factory, cache_dir) -> dict[str, Path]:
    """The 2 × 2 grid done locally, in one process, once: name -> run dir."""
    out = tmp_path_factory.mktemp("local_grid")
    cli("--multirun", *GRID, *small_args(out, cache_dir))
    return runs_by_name(out)


@pytest.fixture(scope="module")
def local_d2_t4(tmp_path_factory, cache_dir) -> Path:
    """diversity=d2 to T = 4 done locally, once: what a requeued job must end equal to."""
    out = tmp_path_factory.mktemp("local_d2_t4")
    cli(*small_args(out, cache_dir, "diversity=d2", "T=4"))
    return only_run_dir(out)


@pytest.mark.parametrize("runs_per_job, jobs", [(1, 4), (2, 2)], ids=["a job a run", "packed"])
def test_a_2x2_grid_on_slurm_equals_the_same_runs_done_locally(
    runs_per_job, jobs, tmp_path, cache_dir, local_grid, capsys
):
    """Packed (hydra.launcher.runs_per_job = 2), the four runs are two jobs, two runs each."""
    packing = f"hydra.launcher.runs_per_job={runs_per_job}"
    start = time.monotonic()
    proc = cli(*SLURM, packing, *GRID, *small_args(tmp_path / "slurm", cache_dir))
    on_slurm = time.monotonic() - start
    tasks = array_tasks(tmp_path / "slurm")
    with capsys.disabled():
        print(f"\nsacct: {tasks}\n2 × 2 grid, {runs_per_job} run(s) a job: {on_slurm:.1f} s")
    assert len(tasks) == jobs and set(tasks.values()) == {"COMPLETED"}, tasks
    assert "Submitit 'slurm' sweep output dir" in proc.stdout
    slurm_runs = runs_by_name(tmp_path / "slurm")
    assert sorted(slurm_runs) == sorted(local_grid) and len(slurm_runs) == 4
    for name, run in slurm_runs.items():
        assert snapshot(run) == snapshot(local_grid[name]), name


def until(check: Callable[[], Any], seconds: float, failure: Callable[[], str]) -> Any:
    """check()'s first truthy value, asked every 0.2 s; AssertionError(failure()) once
    `seconds` have passed without one."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(0.2)
    raise AssertionError(failure())


def _job_id(out: Path) -> str:
    def ids() -> list[str]:
        return [
            p.name for p in (out / ".submitit").glob("*") if re.fullmatch(r"\d+(_\d+)?", p.name)
        ]

    return until(ids, 60, lambda: "no SLURM job appeared")[0]


def _wait_for_log(root: Path, pattern: str, times: int = 1, seconds: float = 120) -> None:
    """Until some run's log.txt under root shows `pattern` `times` times."""

    def failure() -> str:
        queue = subprocess.run(["squeue", "-h", "-o", "%i %T %r"], capture_output=True, text=True)
        return (
            f"{pattern!r} never appeared {times}× in a log under {root}; squeue: {queue.stdout!r}"
        )

    until(
        lambda: any(p.read_text().count(pattern) >= times for p in root.glob("*/log.txt")),
        seconds,
        failure,
    )


def preempt(job: str) -> None:
    """What a preemption or a time limit does to a submitit job: SIGUSR2 to the job steps;
    submitit checkpoints (the Hydra launcher resubmits itself), requeues the job, exits.
    SLURM holds a requeued job back (Reason=BeginTime, cred_expire + 1 = 31 s) before it
    may start again: once it waits so, it is made eligible in 2 s instead. Not at once:
    slurmd refuses a credential issued within the second it revoked the job's old one
    ("Killing non-startable batch job: Job credential revoked"; seconds compared with <=)."""
    subprocess.run(["scancel", "--signal=USR2", job], check=True)

    def held() -> bool:
        queue = subprocess.run(
            ["squeue", "-h", "-j", job, "-o", "%T %r"], capture_output=True, text=True
        )
        return queue.stdout.split() == ["PENDING", "BeginTime"]

    until(held, 60, lambda: f"job {job} was not requeued within 60 s")
    subprocess.run(["scontrol", "update", f"JobId={job}", "StartTime=now+2"], check=True)


def test_a_job_requeued_mid_run_resumes_to_identical_results(tmp_path, cache_dir, local_d2_t4):
    """The job holds at t = 2 ($ECOSYS_HOLD) until the test has requeued it, so the
    signal lands mid-run whatever the machine's speed."""
    hold = tmp_path / "hold"
    hold.write_text("2")
    args = small_args(tmp_path / "slurm", cache_dir, "diversity=d2", "T=4")
    sweep = start_cli(*SLURM, *args, env={"ECOSYS_HOLD": str(hold)})
    job = _job_id(tmp_path / "slurm")
    _wait_for_log(tmp_path / "slurm", "holding at t=2")  # t = 0 and 1 are committed
    preempt(job)
    _wait_for_log(tmp_path / "slurm", "holding at t=2", times=2)  # the requeued job resumed
    hold.unlink()
    out, _ = sweep.communicate(timeout=300)
    assert sweep.returncode == 0, out
    run = only_run_dir(tmp_path / "slurm")
    log = (run / "log.txt").read_text()
    assert log.count("run dir ") == 2  # the job started twice, on the same run dir
    assert snapshot(run) == snapshot(local_d2_t4)
    assert "COMPLETED" in job_states({job}).values()


def test_a_packed_job_requeued_mid_run_skips_its_finished_run_and_resumes_the_other(
    tmp_path, cache_dir, local_d2_t4
):
    """Two cells in one job (runs_per_job = 2): T = 2 finishes the run, T = 4 continues
    the same run dir (T is no part of its identity) and holds at t = 2 ($ECOSYS_HOLD)
    until the test has requeued the job. The requeued job reruns the finished T = 2 cell
    as a no-op (not a byte written) and resumes the other, which ends identical to a
    local run."""
    hold = tmp_path / "hold"
    hold.write_text("2")
    grid = ["diversity=d2", "T=2,4"]
    args = [*SLURM, "hydra.launcher.runs_per_job=2", *small_args(tmp_path / "slurm", cache_dir)]
    sweep = start_cli(*args, *grid, env={"ECOSYS_HOLD": str(hold)})
    job = _job_id(tmp_path / "slurm")
    _wait_for_log(tmp_path / "slurm", "holding at t=2")
    preempt(job)
    _wait_for_log(tmp_path / "slurm", "holding at t=2", times=2)
    hold.unlink()
    out, _ = sweep.communicate(timeout=300)
    assert sweep.returncode == 0, out
    slurm_runs = runs_by_name(tmp_path / "slurm")
    assert len(slurm_runs) == 1  # T = 2 and T = 4: one run, continued
    (run,) = slurm_runs.values()
    log = (run / "log.txt").read_text()
    # T = 2, then T = 4 (held, requeued, resumed); the requeued T = 2 cell wrote nothing
    assert log.count("run dir ") == 3 and "extending the run from T = 2" in log, log
    jobs = "".join(p.read_text() for p in (tmp_path / "slurm" / ".submitit").rglob("*_log.*"))
    assert "nothing to do" in jobs
    assert run.name == local_d2_t4.name
    assert snapshot(run) == snapshot(local_d2_t4)  # as if started with T = 4, uninterrupted
    assert list(array_tasks(tmp_path / "slurm").values()) == ["COMPLETED"]


def test_a_refused_run_in_a_packed_job_fails_the_sweep_not_the_other_run(tmp_path, cache_dir):
    """ecosys refuses regime=accumulate with retrain_real (it exits 2): the job goes on to
    its other run, as if each had a job of its own, and the sweep reports the refusal."""
    grid = ["data_quality=retrain_real", "regime=accumulate,replace"]
    args = [*SLURM, "hydra.launcher.runs_per_job=2", *small_args(tmp_path / "slurm", cache_dir)]
    proc = cli(*args, *grid, check=False)
    assert proc.returncode != 0
    failed = proc.stderr.partition("Error executing job with overrides: ")[2].splitlines()
    assert failed and "'regime=accumulate'" in failed[0], proc.stderr
    assert "the run exited with status 2" in proc.stderr
    (run,) = runs_by_name(tmp_path / "slurm").values()  # the refused run never opened one
    assert "done: " in (run / "log.txt").read_text()
    assert list(array_tasks(tmp_path / "slurm").values()) == ["COMPLETED"]


def test_a_cancelled_job_is_reported_not_waited_on(tmp_path, cache_dir):
    """The job holds at t = 1 until cancelled: it cannot end first, however fast."""
    hold = tmp_path / "hold"
    hold.write_text("1")
    args = small_args(tmp_path / "slurm", cache_dir, "T=3")
    sweep = start_cli(*SLURM, *args, env={"ECOSYS_HOLD": str(hold)})
    job = _job_id(tmp_path / "slurm")
    _wait_for_log(tmp_path / "slurm", "holding at t=1")
    subprocess.run(["scancel", job], check=True)
    out, _ = sweep.communicate(timeout=120)
    assert sweep.returncode != 0
    assert "CANCELLED" in out


def test_a_grid_run_again_finishes_only_its_cancelled_and_failed_cells(tmp_path, cache_dir):
    """2 × 2 on SLURM: one job is cancelled mid-run (held at t = 1), one cell fails (its
    run dir's units/ is a file); `ecosys.sweep status` says so; the same command again
    completes exactly those two: the finished cells keep every byte and mtime, and the
    resumed cell equals an uninterrupted run."""
    out, grid = tmp_path / "slurm", ["diversity=d1,d2", "data_quality=beam,temp1"]
    args = [*SLURM, *grid, *small_args(out, cache_dir, "T=3")]
    cells = [(d, q) for d in ("d1", "d2") for q in ("beam", "temp1")]  # the array's order
    names = [
        config.run_name(make_cfg(f"diversity={d}", f"data_quality={q}", "T=3")) for d, q in cells
    ]
    broken = out / names[3]
    broken.mkdir(parents=True)
    (broken / "units").write_text("not a directory")  # the cell fails at its first commit
    hold = tmp_path / "hold"
    hold.write_text("1")
    sweep = start_cli(*args, env={"ECOSYS_HOLD": str(hold)})
    job = _job_id(out).partition("_")[0]
    _wait_for_log(out, "holding at t=1")
    (held,) = [p.parent.name for p in out.glob("*/log.txt") if "holding" in p.read_text()][:1]
    cancelled = names.index(held)
    subprocess.run(["scancel", f"{job}_{cancelled}"], check=True)
    for _ in range(600):  # the cancelled task's process is gone before the others go on
        queued = subprocess.run(
            ["squeue", "-h", "-j", f"{job}_{cancelled}"], capture_output=True, text=True
        ).stdout
        if not queued.strip():
            break
        time.sleep(0.2)
    hold.unlink()
    first, _ = sweep.communicate(timeout=300)
    assert sweep.returncode != 0, first
    # the sweep returns at the first task that failed, in the array's order; the others
    # may still run: read the status once every task has settled, not before
    settled = array_tasks(out, seconds=120)
    assert not any(map(live, settled.values())), settled

    before = sweep_status(out)
    states = {line.split()[2] for line in before.splitlines()[:4]}
    assert {"done", "failed"} <= states and states & {"cancelled", "partial"}, before
    finished = [out / n for i, n in enumerate(names) if i not in (cancelled, 3)]
    prints = {run: fingerprint(run) for run in finished}
    (broken / "units").unlink()

    cli(*args)
    after = sweep_status(out)
    assert after.splitlines()[-1] == "4 cells: 4 done", after
    changed = {run.name: diff(prints[run], fingerprint(run)) for run in finished}
    assert not any(changed.values()), changed
    d, q = cells[cancelled]
    cli(*small_args(tmp_path / "local", cache_dir, "T=3", f"diversity={d}", f"data_quality={q}"))
    assert snapshot(out / held) == snapshot(only_run_dir(tmp_path / "local"))
    print(f"\nstatus before the re-run:\n{before}\nstatus after:\n{after}")


def diff(before: dict, after: dict) -> list[str]:
    """The files added, removed or changed between two fingerprints."""
    return sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))


def sweep_status(out: Path) -> str:
    return subprocess.run(
        [sys.executable, "-m", "ecosys.sweep", "status", str(out)],
        capture_output=True,
        text=True,
        check=True,
        env=cli_env(),
    ).stdout
