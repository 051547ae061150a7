"""`python -m analysis --wandb-log`: the analysis as one W&B run in the sweep's group,
read back offline with W&B's own reader as test_tracking reads the runs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from helpers import WANDB, cli, inspect, small_args

from analysis import load, stats, wandb_log, wandb_source
from analysis.__main__ import main as analysis_main
from analysis.summary import COLUMNS as SUMMARY
from analysis.sweep import CONDITION, name
from analysis.tables import analyse


@pytest.fixture
def no_wandb_key(monkeypatch, tmp_path):
    """No API key and no `wandb login`: mode auto is offline."""
    for var in ("WANDB_API_KEY", "WANDB_MODE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))


@pytest.mark.slow
def test_the_analysis_is_one_offline_wandb_run_in_the_sweeps_group(
    tmp_path, cache_dir, no_wandb_key, capsys
):
    sweep = tmp_path / "my-sweep"
    cli(
        "--multirun",
        "diversity=d1,d2",
        *small_args(sweep, cache_dir, "T=2", *WANDB),
        f"hydra.sweep.dir={sweep}",
    )
    states = sorted(sweep.rglob("tracking/state.json"))
    for state in states:  # the group, read without W&B's reader
        assert json.loads(state.read_text())["group"] == "my-sweep"
    # a run tracked before state.json kept its group: read from its W&B files instead
    states[0].write_text(json.dumps({"id": json.loads(states[0].read_text())["id"]}))
    assert analysis_main([str(sweep), "--wandb-log", "--reps", "20", "--no-pdf"]) == 0
    out = sweep / "analysis"
    (offline,) = (out / "tracking" / "wandb").glob("offline-run-*")
    assert f"wandb sync {offline}" in capsys.readouterr().out

    records = inspect(offline)
    header = next(r["run"] for r in records if r["type"] == "run")
    assert header["job_type"] == "analysis" and header["run_group"] == "my-sweep"
    assert header["project"] == "ecosys" and header["config"]["update"]["n_runs"] == 2
    (logged,) = [r["history"]["item"] for r in records if r["type"] == "history"]

    # the tables: their files hold the report's numbers
    read = load.read(sweep)
    eco = stats.ecosystem(read)
    agg = stats.aggregated(eco)
    (cond,) = {name(c) for c in read.runs[CONDITION].itertuples(index=False)}
    want = {
        "summary": (SUMMARY, 1),  # report.md's opening table: a row per condition
        "mu_T": (["condition", "T", "D", "mu_T", "lo", "hi"], 2 * 2),  # T = 1, 2 × D = 1, 2
        "D_opt": (["condition", "T", "D_opt", "p"], 2),
        "mu_t": (["condition", "t", "D", "mu_t"], 3 * 2),  # t = -1, 0, 1
    }
    tables = {}
    for key, (columns, n) in want.items():
        assert logged[f"tables/{key}._type"] == "table-file"
        table = json.loads((offline / "files" / logged[f"tables/{key}.path"]).read_text())
        assert table["columns"] == columns and len(table["data"]) == n
        tables[key] = pd.DataFrame(table["data"], columns=columns)
        assert set(tables[key]["condition"]) == {cond}
    mu_T = agg.groupby(["T", "D"])["mu_T"].mean()
    for r in tables["mu_T"].itertuples():
        assert r.mu_T == pytest.approx(mu_T[(r.T, r.D)], rel=1e-12) and r.lo <= r.mu_T <= r.hi
    d_opt = stats.optimum(agg).set_index("T")["D_opt"]
    assert tables["D_opt"].set_index("T")["D_opt"].to_dict() == d_opt.to_dict()
    (row,) = tables["summary"].to_dict("records")
    last = tables["D_opt"].sort_values("T").iloc[-1]
    assert (row["T"], row["D_opt"], row["p"]) == (2, last["D_opt"], pytest.approx(last["p"]))
    assert row["D_opt(T)"] == ", ".join(f"{d:g}" for d in d_opt)
    assert (row["runs"], row["seeds"], row["ragged"]) == (2, 1, False)
    mu = eco[(eco["D"] == 1) & eco["t"].isin([0, 1])].set_index("t")["mu_t"]
    assert row["rate_D"] == 1 and row["rate"] == pytest.approx(np.log(mu[1] / mu[0]))
    assert row["rate_lo"] <= row["rate"] <= row["rate_hi"]

    # every figure, as an image file of the run
    pngs = sorted(p.stem for p in out.glob("*.png"))
    assert {"d_opt", "mu_T", "trajectories"} <= set(pngs)
    for fig in pngs:
        assert logged[f"figures/{fig}._type"] == "image-file"
        assert (offline / "files" / logged[f"figures/{fig}.path"]).exists()

    summary = inspect(offline, "--summary")[0]
    assert summary["state"] == "finished"
    last = tables["D_opt"].sort_values("T").iloc[-1]
    assert summary["summary"][f"D_opt/{cond}"] == last["D_opt"]
    assert summary["summary"][f"p_opt/{cond}"] == pytest.approx(last["p"])
    assert summary["summary"][f"T_max/{cond}"] == 2
    assert summary["summary"][f"rate/{cond}"] == pytest.approx(row["rate"])

    artifacts = [r["artifact"] for r in records if r["type"] == "artifact"]
    (report,) = [a for a in artifacts if a["type"] == "report"]
    assert report["name"] == "report-my-sweep"
    files = {c["path"] for c in report["manifest"]["contents"]}
    assert {"report.md", *(f"{f}.png" for f in pngs)} <= files

    # a rerun is a new analysis run (logged directly: the report is made already); the
    # runs' reader still sees the two runs only
    conds = analyse(read, reps=5).conditions
    wandb_log.log(
        out, out / "report.md", conds, ["d_opt"], wandb_log.Target(None, "ecosys", "again"), {}
    )
    (again,) = [d for d in (out / "tracking" / "wandb").glob("offline-run-*") if d != offline]
    header = next(r["run"] for r in inspect(again) if r["type"] == "run")
    assert header["run_group"] == "again" and header["run_id"] not in offline.name
    assert len(wandb_source.from_records(wandb_source.offline_records(sweep)).runs) == 2


def _run_dir(path: Path, tracking: dict, state: dict) -> str:
    """A run dir as the analysis's target reads it: config.yaml and tracking/state.json."""
    (path / "tracking").mkdir(parents=True)
    (path / "config.yaml").write_text(yaml.safe_dump({"tracking": tracking}))
    (path / "tracking" / "state.json").write_text(json.dumps(state))
    return str(path)


def test_the_analysis_runs_target_is_the_runs_project_and_group_unless_chosen(tmp_path):
    mine = {"project": "proj", "entity": "me", "group": None}
    runs = pd.DataFrame(
        {"path": [_run_dir(tmp_path / n, mine, {"id": n, "group": "g"}) for n in ("a", "b")]}
    )
    where = wandb_log.target(runs, None, None, None)
    assert (where.entity, where.project, where.group, where.notes) == ("me", "proj", "g", [])
    where = wandb_log.target(runs, "you/other", "mine", None)
    assert (where.entity, where.project, where.group) == ("you", "other", "mine")
    assert wandb_log.target(runs, None, None, "them/theirs").project == "theirs"

    runs.loc[2, "path"] = _run_dir(tmp_path / "c", mine, {"id": "c", "group": "h"})
    where = wandb_log.target(runs, None, None, None)
    assert where.group is None and any("differ" in n for n in where.notes)
    assert wandb_log.target(runs, None, "g", None).group == "g"
