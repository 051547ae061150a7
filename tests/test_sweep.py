"""ecosys-sweep status: a real 2 × 2 multirun brought into every state by hand, read back
as a table, as JSON and as the cells left to do (which, pasted back as multiruns, finish
the grid); a preset's sweeper params and a SLURM job's logs and sacct state, faked."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from filelock import FileLock
from helpers import ROOT, cli, cli_env, small_args, start_cli

from ecosys import sweep
from ecosys.rundir import layout
from ecosys.rundir.layout import Unit

GRID = ["--multirun", "diversity=d1,d2", "data_quality=beam,temp1"]


def sweep_cli(*args: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "ecosys.sweep", "status", *args],
        cwd=ROOT,
        env=cli_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    return proc.stdout


def test_importing_it_loads_no_torch():
    code = "import sys, ecosys.sweep; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=cli_env(), check=True)


@pytest.mark.slow
def test_every_state_of_a_2x2_grid_and_the_cells_left_to_do(tmp_path, cache_dir):
    out = tmp_path / "out"
    cli(*GRID, *small_args(out, cache_dir))
    cells = json.loads(sweep_cli(str(out), "--json"))
    assert [c["state"] for c in cells] == ["done"] * 4
    assert all(c["t_done"] == c["T"] == 2 for c in cells)
    assert [c["overrides"][:2] for c in cells] == [
        ["diversity=d1", "data_quality=beam"],
        ["diversity=d1", "data_quality=temp1"],
        ["diversity=d2", "data_quality=beam"],
        ["diversity=d2", "data_quality=temp1"],
    ]
    runs = [Path(c["run_dir"]) for c in cells]
    assert sorted(runs) == sorted(p.parent for p in out.glob("*/run.json"))
    not_started, partial, running, failed = runs

    shutil.rmtree(not_started)
    for run in (partial, running, failed):
        (run / layout.manifest(Unit.of("summary", 1))).unlink()
    with open(partial / layout.LOG, "a") as f:  # an error an attempt after it got past
        f.write("[00:00:00][ecosys.schedule.loop] RuntimeError: an old one\n")
        f.write(f"[00:00:01][ecosys.schedule.loop] run dir {partial}\n")
    with open(failed / layout.LOG, "a") as f:
        f.write("RuntimeError: CUDA out of memory\n")
    lock = FileLock(str(running / layout.LOCK))
    lock.acquire()
    try:
        (running / layout.LOCK_OWNER).write_text("host node7, pid 4242\n")
        table = sweep_cli(str(out)).splitlines()
        cells = json.loads(sweep_cli(str(out), "--json"))
        todo = sweep_cli(str(out), "--failed").splitlines()
    finally:
        lock.release()

    names = [run.name for run in runs]
    assert [" ".join(line.split()) for line in table] == [
        f"diversity=d1 data_quality=beam not started 0/2 {names[0]}",
        f"diversity=d1 data_quality=temp1 partial 1/2 {names[1]}",
        f"diversity=d2 data_quality=beam running 1/2 {names[2]} host node7, pid 4242",
        f"diversity=d2 data_quality=temp1 failed 1/2 {names[3]} RuntimeError: CUDA out of memory",
        "4 cells: 1 running, 1 partial, 1 failed, 1 not started",
    ]
    assert len({line.index("/2 ") for line in table[:4]}) == 1  # in columns
    assert [(c["state"], c["t_done"], c["T"], c["detail"]) for c in cells] == [
        ("not started", 0, 2, ""),
        ("partial", 1, 2, ""),
        ("running", 1, 2, "host node7, pid 4242"),
        ("failed", 1, 2, "RuntimeError: CUDA out of memory"),
    ]
    assert [c["run_dir"] for c in cells] == [str(run) for run in runs]
    assert [shlex.split(line) for line in todo] == [cells[i]["overrides"] for i in (0, 1, 3)]

    # every multirun rewrites the sweep's multirun.yaml: the grid is kept in a copy
    shutil.copy(out / sweep.MULTIRUN, out / "grid.yaml")
    reruns = [start_cli("--multirun", *shlex.split(line)) for line in todo]  # side by side
    logs = [proc.communicate()[0] for proc in reruns]
    assert [proc.returncode for proc in reruns] == [0, 0, 0], logs
    after = json.loads(sweep_cli(str(out / "grid.yaml"), "--json"))
    assert [c["state"] for c in after] == ["done", "done", "partial", "done"]  # no longer held
    assert sweep_cli(str(out / "grid.yaml"), "--failed") == shlex.join(cells[2]["overrides"]) + "\n"


def fake_sweep(out: Path) -> None:
    """A preset's sweep as Hydra saves it: its params, then the command line's overrides
    (a key given on both is the command line's), launched with a SLURM launcher."""
    out.mkdir()
    multirun = {
        "hydra": {
            "sweeper": {
                "_target_": "hydra._internal.core_plugins.basic_sweeper.BasicSweeper",
                "params": {"model": "opt-125m,gpt2", "diversity": "d1,d2,d4"},
            },
            "overrides": {
                "hydra": ["hydra.mode=MULTIRUN", "hydra/launcher=slurm"],
                "task": [
                    *["experiment=primary", "model=tiny", "data=synthetic", "scale=tiny"],
                    *["debug=smoke", f"out_dir={out}"],
                ],
            },
        }
    }
    (out / sweep.MULTIRUN).write_text(json.dumps(multirun))  # JSON is YAML


def test_a_presets_cells_and_their_slurm_jobs(tmp_path, monkeypatch):
    out = tmp_path / "out"
    fake_sweep(out)
    cells = sweep.status(out)
    assert [c.overrides[:2] for c in cells] == [
        ["model=tiny", "diversity=d1"],
        ["model=tiny", "diversity=d2"],
        ["model=tiny", "diversity=d4"],
    ]
    assert [(c.state, c.T) for c in cells] == [("not started", 2)] * 3  # smoke's T
    # a job that failed before its run dir existed, one cancelled mid-run, one pending
    _job(out, "71_0", f"run dir {cells[0].run_dir} is in use", "ecosys: error: run dir in use")
    _job(out, "71_1", f"[..][ecosys.schedule.loop] run dir {cells[1].run_dir}", "")
    (Path(cells[1].run_dir) / layout.UNITS).mkdir(parents=True)
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    (bin_ / "sacct").write_text("#!/bin/sh\nprintf '71_0|FAILED\\n71_1|CANCELLED by 1000\\n'\n")
    (bin_ / "sacct").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_}{os.pathsep}{os.environ['PATH']}")
    cells = sweep.status(out)
    assert [(c.state, c.job, c.detail) for c in cells] == [
        ("failed", "71_0", "ecosys: error: run dir in use; job 71_0: FAILED"),
        ("cancelled", "71_1", "job 71_1: CANCELLED"),
        ("not started", None, ""),
    ]
    assert [c.line() for c in cells[:1]] == [
        f"hydra/launcher=slurm model=tiny diversity=d1 experiment=primary data=synthetic "
        f"scale=tiny debug=smoke out_dir={out}"
    ]


def _job(out: Path, job: str, stdout: str, stderr: str) -> None:
    folder = out / sweep.SUBMITIT / job
    folder.mkdir(parents=True)
    (folder / f"{job}_0_log.out").write_text(stdout + "\n")
    (folder / f"{job}_0_log.err").write_text(stderr + "\n")
