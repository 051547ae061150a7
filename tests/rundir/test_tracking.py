"""W&B, offline, read back from its own files with `wandb leet inspect --json`: what it
holds equals the run store, a resumed run logs no step twice, a sweep is one group."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers import WANDB, cli, inspect, only_run_dir, run_until, small_args

from ecosys.rundir.layout import read_metrics

pytestmark = pytest.mark.slow

COORDS = ("scope", "t", "model", "family", "community")


def logged(run: Path) -> list[dict]:
    """Every history record of every offline W&B run dir of a run, in order."""
    records = []
    for d in sorted((run / "tracking" / "wandb").glob("offline-run-*")):
        records += [r["history"]["item"] for r in inspect(d) if r["type"] == "history"]
    return records


def close(a, b) -> bool:
    return a == pytest.approx(b, rel=1e-12)  # W&B gives whole-number floats back as ints


def test_offline_wandb_holds_what_the_run_store_holds(tmp_path, cache_dir):
    cli(*small_args(tmp_path, cache_dir, "diversity=d2", "T=2", *WANDB))
    run = only_run_dir(tmp_path)
    history = {rec["t"]: rec for rec in logged(run)}
    rows = read_metrics(run)
    assert sorted(history) == sorted({r["t"] for r in rows}) == [-1, 0, 1]
    n_values = 0
    for row in rows:
        rec = history[row["t"]]
        for key, value in row.items():
            if key in COORDS or (row["scope"] == "model" and key == "ppl/mean"):
                continue
            name = key if row["scope"] == "ecosystem" else f"{key}/m{row['model']}"
            assert close(rec[name], value), (row["t"], name)
            n_values += 1
    assert n_values > 40
    for t, rec in history.items():  # the per-block distribution: all models' test blocks
        assert rec["ppl/blocks._type"] == "histogram"
        assert sum(rec["ppl/blocks.values"]) == 2 * 48
        assert close(
            rec[f"ppl/m{1}"],
            next(r for r in rows if r["t"] == t and r.get("model") == 1)["ppl/mean"],
        )

    (offline,) = (run / "tracking" / "wandb").glob("offline-run-*")
    summary = inspect(offline, "--summary")[0]
    assert summary["state"] == "finished"
    assert summary["config"]["diversity"] == "d2" and summary["config"]["model"] == "tiny"
    assert summary["config"]["train.lr"] == pytest.approx(3e-4)
    last = [r for r in rows if r["scope"] == "ecosystem"][-1]
    assert close(summary["summary"]["mu_T"], last["ppl/mu_T"])
    assert close(summary["summary"]["ppl/mean"], last["ppl/mean"])
    header = next(r["run"] for r in inspect(offline) if r["type"] == "run")
    assert header["job_type"] == "tiny/synthetic/tiny/beam"
    assert set(header["tags"]) == {"tiny", "synthetic", "beam", "d2"}


def test_a_resumed_run_continues_the_same_wandb_run_without_repeating_a_step(tmp_path, cache_dir):
    args = small_args(tmp_path, cache_dir, "diversity=d2", "T=3", *WANDB)
    run_until(args, "start t01.train.m00")  # t = -1 and 0 are logged, the rest is not
    proc = cli(*args)
    run = only_run_dir(tmp_path)
    sessions = sorted((run / "tracking" / "wandb").glob("offline-run-*"))
    assert len(sessions) == 2  # the killed one (whatever W&B wrote before the kill) and the resume
    ids = {r["run"]["run_id"] for d in sessions for r in inspect(d) if r["type"] == "run"}
    assert len(ids) == 1 and all(d.name.endswith(next(iter(ids))) for d in sessions)
    assert next(iter(ids)) in proc.stdout  # the printed sync command names the run
    # every iteration exactly once over both sessions: none repeated, none lost
    assert sorted(rec["t"] for rec in logged(run)) == [-1, 0, 1, 2]


def test_a_multirun_is_one_wandb_group_named_after_its_sweep_dir(tmp_path, cache_dir):
    sweep = tmp_path / "my-sweep"
    cli(
        "--multirun",
        "diversity=d1,d2",
        *small_args(sweep, cache_dir, "T=1", *WANDB),
        f"hydra.sweep.dir={sweep}",
    )
    groups = set()
    for run in {p.parent for p in sweep.rglob("run.json")}:
        (offline,) = (run / "tracking" / "wandb").glob("offline-run-*")
        groups.add(next(r["run"]["run_group"] for r in inspect(offline) if r["type"] == "run"))
    assert groups == {"my-sweep"}
    cli(*small_args(tmp_path / "x", cache_dir, "T=1", *WANDB, "tracking.group=mine"))
    (offline,) = (only_run_dir(tmp_path / "x") / "tracking" / "wandb").glob("offline-run-*")
    assert next(r["run"]["run_group"] for r in inspect(offline) if r["type"] == "run") == "mine"


def test_analysis_from_offline_wandb_equals_analysis_from_run_dirs(tmp_path, cache_dir):
    """The W&B reader and the run-dir reader give the same μ_{m,t}, std, μ_T and D_opt."""
    from analysis import load, stats, wandb_source
    from analysis.__main__ import main as analysis_main

    sweep_dir = tmp_path / "sweep"
    cli("--multirun", "diversity=d1,d2", *small_args(sweep_dir, cache_dir, "T=2", *WANDB))
    from_dirs = load.read(sweep_dir)
    from_wandb = wandb_source.from_records(wandb_source.offline_records(sweep_dir))
    assert from_wandb.blocks is None and len(from_wandb.runs) == 2
    key = ["run", "t"]
    a = stats.ecosystem(from_dirs).sort_values(key).reset_index(drop=True)
    b = stats.ecosystem(from_wandb).sort_values(key).reset_index(drop=True)
    assert a["run"].tolist() == b["run"].tolist() and a["t"].tolist() == b["t"].tolist()
    assert np.allclose(a["mu_t"], b["mu_t"], rtol=1e-12) and np.allclose(
        a["std"], b["std"], rtol=1e-12
    )
    opt_a = stats.optimum(stats.aggregated(a))
    opt_b = stats.optimum(stats.aggregated(b))
    assert opt_a["D_opt"].tolist() == opt_b["D_opt"].tolist()
    assert (
        analysis_main(
            [
                str(sweep_dir),
                "--wandb-offline",
                "--out",
                str(tmp_path / "rep"),
                "--reps",
                "50",
                "--no-pdf",
            ]
        )
        == 0
    )
    assert "offline W&B runs" in (tmp_path / "rep" / "report.md").read_text()
