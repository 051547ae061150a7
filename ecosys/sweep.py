"""Where a multirun stands, cell by cell: `python -m ecosys.sweep status DIR` (`ecosys-sweep`).

    ecosys-sweep status runs/primary            one line per cell, then counts per state
    ecosys-sweep status runs/primary --json     the same for scripts
    ecosys-sweep status runs/primary --failed   the cells left to do, one override line each

The cells are the sweep's own: its multirun.yaml's task overrides and sweeper params,
expanded by Hydra's BasicSweeper, so cells that never started are listed too. Each cell's
run dir is `DIR/<run name>` (ecosys.config.run_name on the cell's composed config). A cell
is

    done         every iteration's summary unit is committed (t = 0 … T-1, or more)
    running      its run dir's lock is held (host and pid from the lock's owner file)
    failed       an error line in its log.txt (its last attempt) or its SLURM job's
                 stderr, or a failed SLURM job state (sacct)
    cancelled    its SLURM job was cancelled
    partial      some iterations committed and none of the above
    not started  no run dir

A cell's SLURM job is found by the run dir name its log prints (`run dir …/<name>`, in
`DIR/.submitit/<job id>/*_log.out` or `*_log.err`): exact across requeues and reruns into
the same sweep dir (the latest job wins), found only once a job got as far as opening its
run dir. Reads manifests and logs only, no torch; composing each cell's config (Hydra, as
the launch did) takes about 0.1 s of CPU a cell.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from filelock import FileLock, Timeout
from hydra import compose, initialize_config_module
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

from ecosys import config
from ecosys.rundir import layout
from ecosys.rundir.layout import Unit

MULTIRUN = "multirun.yaml"  # Hydra writes it into the sweep dir at every multirun
SUBMITIT = ".submitit"  # conf/hydra/launcher/*.yaml: submitit_folder
STATES = ("done", "running", "partial", "failed", "cancelled", "not started")
TODO = ("failed", "cancelled", "partial", "not started")  # what --failed lists
FAILED_JOB = {"FAILED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "BOOT_FAIL", "DEADLINE"}
ERROR = re.compile(r"Error|error:")
RUN_DIR = re.compile(r"\brun dir (\S+)")  # the loop's "run dir PATH", RunLocked's too


@dataclass
class Cell:
    """One cell of the grid and where it stands (what --json prints)."""

    overrides: list[str]
    run_dir: str
    T: int
    state: str = "not started"
    t_done: int = 0  # iterations committed: summary units t = 0 … t_done - 1
    detail: str = ""
    job: str | None = None  # its SLURM job id, when one printed its run dir
    hydra: list[str] = field(default_factory=list, repr=False)  # the sweep's hydra overrides

    def line(self) -> str:
        """The cell as a multirun's arguments: `python -m ecosys --multirun LINE`."""
        return shlex.join([*self.hydra, *self.overrides])


@dataclass
class Job:
    """A submitit job folder: its id, when its logs last changed, its last error line."""

    id: str
    mtime: float
    error: str | None
    state: str | None = None


# -- the grid -----------------------------------------------------------------------------


def grid(sweep_file: Path) -> tuple[list[list[str]], list[str]]:
    """The cells' overrides as the sweep's BasicSweeper enumerated them (sweeper params
    first, the command line's task overrides after, a later key replacing an earlier one),
    and the hydra overrides (the launcher and its settings) every cell was launched with.
    Call under an initialized Hydra: a glob() sweep reads the config groups."""
    mr = OmegaConf.load(sweep_file)
    sweeper = mr.hydra.sweeper
    if not str(sweeper.get("_target_", "")).endswith("BasicSweeper"):
        raise ValueError(f"{sweep_file}: sweeper {sweeper.get('_target_')} is not Hydra's basic")
    params = OmegaConf.to_container(sweeper.params, resolve=False) if sweeper.params else {}
    task = OmegaConf.to_container(mr.hydra.overrides.task, resolve=False)
    args = [f"{k}={v}" for k, v in params.items()] + list(task)
    parser = OverridesParser.create(config_loader=GlobalHydra.instance().config_loader())
    (cells,) = BasicSweeper.split_arguments(parser.parse_overrides(args), None)
    hydra = OmegaConf.to_container(mr.hydra.overrides.hydra, resolve=False)
    return cells, [o for o in hydra if not o.startswith("hydra.mode=")]


def cells_of(sweep: Path, sweep_file: Path) -> list[Cell]:
    """Every cell of the grid, its config composed the way its job composed it."""
    config.register()
    with initialize_config_module(config.CONF, version_base="1.3"):
        overrides, hydra = grid(sweep_file)
        out = []
        for cell in overrides:
            cfg = compose("config", overrides=cell)
            out.append(Cell(cell, str(sweep / config.run_name(cfg)), int(cfg.T), hydra=hydra))
    return out


# -- a run dir ----------------------------------------------------------------------------


def iterations_done(run: Path) -> int:
    """How many iterations t = 0, 1, … have their summary unit committed (the last unit
    of an iteration)."""
    t = 0
    while (run / layout.manifest(Unit.of("summary", t))).exists():
        t += 1
    return t


def holder(run: Path) -> str | None:
    """Who holds the run dir's lock ("host H, pid P"); None when nobody does.

    Takes the lock for an instant when it is free: a run starting in that instant with
    runtime.lock_timeout=0 would be refused (RunLocked) and should be resubmitted."""
    lock = FileLock(str(run / layout.LOCK), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        owner = run / layout.LOCK_OWNER
        return owner.read_text().strip() if owner.exists() else "owner unknown"
    except OSError:  # a read-only sweep dir: nobody can be writing it from here
        return None
    lock.release()
    return None


def last_error(lines: list[str]) -> str | None:
    """The last line that reports an error, without its log prefixes ([time][logger])."""
    line = next((line.strip() for line in reversed(lines) if ERROR.search(line)), None)
    return None if line is None else re.sub(r"^(\[[^\]]*\])+\s*", "", line)


def log_error(run: Path) -> str | None:
    """The last error line of the run's last attempt in log.txt (every attempt appends;
    each starts with its "run dir" line), so an error a later attempt got past is not
    reported."""
    path = run / layout.LOG
    if not path.exists():
        return None
    lines = path.read_text(errors="replace").splitlines()
    starts = [i for i, line in enumerate(lines) if RUN_DIR.search(line)]
    return last_error(lines[starts[-1] if starts else 0 :])


# -- SLURM --------------------------------------------------------------------------------


def jobs_by_run(sweep: Path) -> dict[str, Job]:
    """The latest submitit job that printed each run dir name, by that name."""
    out: dict[str, Job] = {}
    folder = sweep / SUBMITIT
    if not folder.is_dir():
        return out
    for job_dir in folder.iterdir():
        logs = sorted(job_dir.glob("*_log.out")) + sorted(job_dir.glob("*_log.err"))
        if not logs:
            continue
        texts = {p: p.read_text(errors="replace") for p in logs}
        err = "\n".join(text for p, text in texts.items() if p.name.endswith(".err"))
        job = Job(job_dir.name, max(p.stat().st_mtime for p in logs), last_error(err.splitlines()))
        for name in {Path(m).name for text in texts.values() for m in RUN_DIR.findall(text)}:
            if name not in out or out[name].mtime < job.mtime:
                out[name] = job
    return out


def job_states(ids: list[str]) -> dict[str, str]:
    """SLURM's state of each job (sacct, one call per 200 jobs); none without sacct."""
    if not ids or shutil.which("sacct") is None:
        return {}
    states = {}
    for i in range(0, len(ids), 200):
        cmd = ["sacct", "-j", ",".join(ids[i : i + 200]), "-n", "-X", "-P", "-o", "JobID,State"]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            return states
        for row in proc.stdout.splitlines():
            job, _, state = row.partition("|")
            if state:
                states[job.strip()] = state.split()[0]  # "CANCELLED by 1000" → CANCELLED
    return states


# -- status -------------------------------------------------------------------------------


def classify(cell: Cell, job: Job | None) -> None:
    """Set the cell's state, t_done and detail from its run dir and its SLURM job."""
    run = Path(cell.run_dir)
    job_state = job.state if job else None
    cell.job = job.id if job else None
    slurm = f"job {job.id}: {job_state}" if job and job_state else ""
    if run.is_dir():
        cell.t_done = iterations_done(run)
        if cell.t_done >= cell.T:
            cell.state, cell.detail = "done", ""
            return
        if owner := holder(run):
            cell.state, cell.detail = "running", owner
            return
    error = (log_error(run) if run.is_dir() else None) or (job.error if job else None)
    if job_state == "CANCELLED":
        cell.state = "cancelled"
    elif error or job_state in FAILED_JOB:
        cell.state = "failed"
    else:
        cell.state = "partial" if run.is_dir() else "not started"
    cell.detail = "; ".join(x for x in (error, slurm) if x)


def status(path: Path) -> list[Cell]:
    """Every cell of the sweep at PATH (a sweep dir, or a copy of its multirun.yaml in it)."""
    sweep_file = path if path.is_file() else path / MULTIRUN
    if not sweep_file.exists():
        raise FileNotFoundError(f"{sweep_file} not found: is {path} a multirun's sweep dir?")
    sweep = sweep_file.parent
    cells = cells_of(sweep, sweep_file)
    jobs = jobs_by_run(sweep)
    states = job_states(sorted({j.id for j in jobs.values()}))
    for job in jobs.values():
        job.state = states.get(job.id)
    for cell in cells:
        classify(cell, jobs.get(Path(cell.run_dir).name))
    return cells


def varying(cells: list[Cell]) -> list[list[str]]:
    """Each cell's overrides that differ between cells (all of them for a single cell)."""
    if len(cells) < 2:
        return [c.overrides for c in cells]
    common = set.intersection(*(set(c.overrides) for c in cells))
    return [[o for o in c.overrides if o not in common] for c in cells]


def table(cells: list[Cell]) -> str:
    """One aligned line per cell (its varying overrides, state, iterations done of T, run
    name, detail), then the counts per state."""
    rows = [
        (" ".join(v), c.state, f"{c.t_done}/{c.T}", Path(c.run_dir).name, c.detail)
        for c, v in zip(cells, varying(cells), strict=True)
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = [
        "  ".join([*(x.ljust(w) for x, w in zip(r, widths, strict=False)), r[4]]).rstrip()
        for r in rows
    ]
    counts = Counter(c.state for c in cells)
    summary = ", ".join(f"{counts[s]} {s}" for s in STATES if counts[s])
    return "\n".join([*lines, f"{len(cells)} cells: {summary}"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ecosys-sweep", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    st = sub.add_parser("status", help="where each cell of a multirun stands")
    st.add_argument("dir", type=Path, help="the sweep dir (or a copy of its multirun.yaml)")
    out = st.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="a JSON list, one object per cell")
    out.add_argument(
        "--failed",
        action="store_true",
        help="the overrides of every cell left to do, one line each: "
        "python -m ecosys --multirun LINE runs it",
    )
    args = parser.parse_args(argv)
    try:
        cells = status(args.dir)
    except (FileNotFoundError, ValueError) as err:
        print(f"ecosys-sweep: error: {err}", file=sys.stderr)
        return 2
    if args.json:
        keys = ("overrides", "run_dir", "state", "t_done", "T", "detail", "job")
        print(json.dumps([{k: asdict(c)[k] for k in keys} for c in cells], indent=1))
    elif args.failed:
        for cell in cells:
            if cell.state in TODO:
                print(cell.line())
    else:
        print(table(cells))
    return 0


def cli() -> None:
    sys.exit(main())


if __name__ == "__main__":
    cli()
