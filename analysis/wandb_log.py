"""The analysis as a W&B run of its own (`--wandb-log`): one run of job_type "analysis"
in the sweep's group, beside the runs it read, so the answer sits where the runs are.

It logs the tables (`tables/summary`, report.md's opening table, a row per condition;
`tables/mu_T`, `tables/D_opt`, `tables/mu_t`, a row per condition and T or t, D), every
figure's PNG as `figures/<name>`, report.md with its figures as the artifact
`report-<group>` (type "report": reruns stack up as its versions), and a summary with
each condition's D_opt at its largest T with one (the largest every D reached:
analysis/coverage.py), that D's probability, and its collapse rate (analysis/rate.py).
Each invocation is a new W&B run: an analysis is a snapshot of a sweep that may still grow.
Mode as tracking's `auto` (online with a key, else offline); the files land in
`<out>/tracking/wandb/`, as a run dir's do in `<run dir>/tracking/`.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from analysis.summary import frame as summary_table
from analysis.sweep import CONDITION, name
from analysis.tables import Condition
from ecosys.config import WANDB_PROJECT
from ecosys.rundir import layout, wandb_files
from ecosys.rundir.tracking import resolve_mode

JOB_TYPE = "analysis"
PROJECT = WANDB_PROJECT  # the schema's default: where runs without a config went


@dataclass
class Target:
    """Where the analysis run goes, and what could not be decided (notes to print)."""

    entity: str | None
    project: str
    group: str | None
    notes: list[str] = field(default_factory=list)


def target(
    runs: pd.DataFrame, project: str | None, group: str | None, source: str | None
) -> Target:
    """The runs' own entity, project and group unless chosen: `project` ([ENTITY/]PROJECT)
    and `group` first, then the W&B source read (`source`: ENTITY/PROJECT), then what the
    run dirs say (config.yaml's tracking.*, the group their W&B runs were logged to)."""
    mirrors = [_mirror(Path(p)) for p in runs["path"] if p and Path(p).is_dir()]
    notes = []

    def agreed(key: str) -> Any:
        values = {m[key] for m in mirrors if m.get(key)}
        if len(values) > 1:
            how = "--group" if key == "group" else "--wandb-project"
            notes.append(f"the runs' W&B {key}s differ ({', '.join(sorted(values))}): {how}")
        return next(iter(values)) if len(values) == 1 else None

    chosen = project or source
    if chosen:
        entity, _, proj = chosen.rpartition("/")
        entity = entity or agreed("entity")
    else:
        entity, proj = agreed("entity"), agreed("project") or PROJECT
    group = group or agreed("group")
    if group is None:
        notes.append("the analysis run has no W&B group: --group G to give it one")
    return Target(entity or None, proj, group, notes)


def _mirror(run_dir: Path) -> dict[str, str | None]:
    """A run dir's W&B entity, project (its config) and group (tracking/state.json; for
    runs tracked before it held one, the W&B run record of its latest session)."""
    cfg = {}
    if (run_dir / layout.CONFIG).exists():
        cfg = (yaml.safe_load((run_dir / layout.CONFIG).read_text()) or {}).get("tracking", {})
    out = {"entity": cfg.get("entity"), "project": cfg.get("project"), "group": cfg.get("group")}
    state = run_dir / layout.TRACKING_STATE
    if out["group"] or not state.exists():
        return out
    if "group" in (saved := json.loads(state.read_text())):
        return out | {"group": saved["group"]}
    sessions = sorted((run_dir / layout.TRACKING_WANDB).glob("*run-*"), key=_started)
    for record in wandb_files.records(sessions[-1]) if sessions else []:
        if record["type"] == "run":
            return out | {"group": record["run"].get("run_group") or None}
    return out


def _started(session: Path) -> str:
    """When a W&B session began: its folder is [offline-]run-<date>_<time>-<id>."""
    return session.name.removeprefix("offline-").split("-")[1]


def tables(conds: dict[tuple, Condition]) -> dict[str, pd.DataFrame]:
    """The report's tables as long frames, a `condition` column telling them apart: the
    summary (analysis/summary.py), μ_T with its interval, D_opt(T) with its probability,
    μ_t (means over seeds)."""
    mu_T, d_opt, mu_t = [], [], []
    for cond, t in conds.items():
        c = {"condition": name(cond)}
        point = t.agg.groupby(["T", "D"])["mu_T"].mean().reset_index()
        ci = point.merge(t.intervals[["T", "D", "lo", "hi"]], on=["T", "D"], how="left")
        mu_T.append(ci.assign(**c))
        p = t.p_opt.rename(columns={"D": "D_opt"})[["T", "D_opt", "p"]]
        d_opt.append(t.opt[["T", "D_opt"]].merge(p, on=["T", "D_opt"], how="left").assign(**c))
        mu_t.append(t.eco.groupby(["t", "D"])["mu_t"].mean().reset_index().assign(**c))
    order = {
        "mu_T": ["condition", "T", "D", "mu_T", "lo", "hi"],
        "D_opt": ["condition", "T", "D_opt", "p"],
        "mu_t": ["condition", "t", "D", "mu_t"],
    }
    frames = {"mu_T": mu_T, "D_opt": d_opt, "mu_t": mu_t}
    out = {k: pd.concat(frames[k], ignore_index=True)[cols] for k, cols in order.items()}
    return {"summary": summary_table(conds), **out}


def summary(d_opt: pd.DataFrame) -> dict[str, float]:
    """Per condition: D_opt at its largest T (every D reached it), the bootstrap probability
    of that D, the T."""
    out = {}
    for cond, g in d_opt.groupby("condition", sort=False):
        last = g.sort_values("T").iloc[-1]
        out |= {
            f"D_opt/{cond}": float(last["D_opt"]),
            f"p_opt/{cond}": float(last["p"]),
            f"T_max/{cond}": int(last["T"]),
        }
    return out


def rates(table: pd.DataFrame) -> dict[str, float]:
    """Per condition with one: D = 1's collapse rate (summary.frame's rate column)."""
    have = table.dropna(subset=["rate"])
    return {f"rate/{c}": float(r) for c, r in zip(have["condition"], have["rate"], strict=True)}


def log(
    out: Path,
    report: Path,
    conds: dict[tuple, Condition],
    figures: list[str],
    where: Target,
    config: dict[str, Any],
) -> Path:
    """Log the analysis as one W&B run; returns its local run folder (offline: the one
    `wandb sync` uploads)."""
    import wandb  # only when asked: importing it costs a second or two

    os.environ.setdefault("WANDB_SILENT", "true")
    mode = resolve_mode("auto")
    (out / layout.TRACKING).mkdir(parents=True, exist_ok=True)
    run = wandb.init(
        project=where.project,
        entity=where.entity,
        group=where.group,
        job_type=JOB_TYPE,
        name=f"analysis-{where.group}" if where.group else "analysis",
        tags=[JOB_TYPE],
        dir=str(out / layout.TRACKING),
        config=config,
        mode=mode,
    )
    frames = tables(conds)
    run.log(
        {f"tables/{k}": wandb.Table(dataframe=f) for k, f in frames.items()}
        | {f"figures/{f}": wandb.Image(str(out / f"{f}.png")) for f in figures}
    )
    run.summary.update(summary(frames["D_opt"]) | rates(frames["summary"]))
    artifact = wandb.Artifact(_artifact_name(where.group), type="report")
    artifact.add_file(str(report))
    for path in [out / f"{f}.{ext}" for f in figures for ext in ("png", "pdf")]:
        if path.exists():  # the report's links: its figures beside it
            artifact.add_file(str(path))
    run.log_artifact(artifact)
    folder, url = Path(run.dir).parent, run.url
    run.finish()
    if mode == "offline":
        print(f"W&B (offline): analysis run in {folder}; upload with `wandb sync {folder}`")
    else:
        print(f"W&B: analysis run {url}")
    return folder


def _artifact_name(group: str | None) -> str:
    """report-<group>: W&B allows letters, digits, -, _ and . in an artifact's name."""
    return "report-" + re.sub(r"[^\w.-]", "-", group) if group else "report"


def run_config(source: str, runs: pd.DataFrame, reps: int, seed: int) -> dict[str, Any]:
    """What the analysis read and how (no `run` key: wandb_source takes a config with
    one for an ecosystem run's)."""
    return {
        "source": source,
        "runs": sorted(runs["run"]),
        "n_runs": len(runs),
        "conditions": sorted({name(c) for c in runs[CONDITION].itertuples(index=False)}),
        "reps": reps,
        "seed": seed,
    }
