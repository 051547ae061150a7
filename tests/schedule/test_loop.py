"""End-to-end runs through the real CLI: reproducibility, resume after SIGKILL, corrupt
files, the run-dir lock, sweeps, and the synthetic world's collapse."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from accelerate import Accelerator
from helpers import ROOT, cli, make_cfg, only_run_dir, run_until, small_args, snapshot, start_cli

from ecosys.data import corpus
from ecosys.kernels.evaluate import block_perplexity
from ecosys.kernels.train import fine_tune
from ecosys.models import hf
from ecosys.rundir.layout import read_metrics
from ecosys.runtime import seeds
from ecosys.schedule import loop

pytestmark = pytest.mark.slow

# Two models, three iterations, 64 prompts each: every phase of the loop, in seconds.
GRID = ("diversity=d2", "T=3", "scale.max_blocks=128")


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted run, with a fresh base-model cache (so it pretrains)."""
    tmp = tmp_path_factory.mktemp("reference")
    cache = tmp / "cache"
    cli(*small_args(tmp / "runs", cache, *GRID))
    return only_run_dir(tmp / "runs"), cache


def test_a_run_writes_the_run_store(reference):
    run, _ = reference
    info = json.loads((run / "run.json").read_text())
    assert info["N"] == 128 and info["sizes"] == [64, 64] and info["dropped_blocks"] == 0
    assert info["world"]["entropy_rate_ppl"] < info["world"]["oracle_test_ppl"]
    rows = read_metrics(run)
    eco = [r for r in rows if r["scope"] == "ecosystem"]
    assert [r["t"] for r in eco] == [-1, 0, 1, 2]
    per_model = [r for r in rows if r["scope"] == "model" and r["t"] >= 0]
    assert sorted((r["t"], r["model"]) for r in per_model) == [
        (t, m) for t in range(3) for m in range(2)
    ]
    for r in eco[1:]:
        mus = [np.load(run / "ppl" / f"t{r['t']:02d}.m{m:02d}.npy").mean() for m in range(2)]
        assert r["ppl/mean"] == pytest.approx(np.mean(mus))
        assert r[f"ppl/m{1}"] == pytest.approx(mus[1])
        assert {"ppl/std", "ppl/mu_T", "train/loss", "time/iteration_s"} <= set(r)
    for r in per_model:
        assert {"train/loss", "train/best_epoch", "train/steps"} <= set(r)
        assert ("gen/tokens_per_s" in r) == (r["t"] < 2)  # no generation after the last step
    assert sorted(p.name for p in (run / "ckpt").iterdir()) == [
        "m00.t02.safetensors",
        "m01.t02.safetensors",
    ]
    assert len(list((run / "pools").iterdir())) == 2
    assert (run / "log.txt").read_text().count("t=2 |") == 1
    assert np.load(run / "gen" / "t00.m00.npy").shape == (64, 8)


def test_same_seed_same_results_with_the_cached_base(reference, tmp_path):
    """In a new interpreter (its own hash seed, nothing preloaded), with the cached base."""
    run, cache = reference
    cli(*small_args(tmp_path / "runs", cache, *GRID), fresh=True)
    again = only_run_dir(tmp_path / "runs")
    assert again.name == run.name
    assert snapshot(again) == snapshot(run)


def test_a_different_seed_gives_different_results(reference, tmp_path):
    run, cache = reference
    cli(*small_args(tmp_path / "runs", cache, *GRID, "seed=1"))
    other = only_run_dir(tmp_path / "runs")
    assert other.name != run.name
    a = np.load(run / "ppl" / "t00.m00.npy")
    b = np.load(other / "ppl" / "t00.m00.npy")
    assert a.shape == b.shape and not np.array_equal(a, b)
    np.testing.assert_array_equal(
        np.load(run / "ppl" / "base.m00.npy"), np.load(other / "ppl" / "base.m00.npy")
    )


def test_resume_after_sigkill_at_three_points_equals_an_uninterrupted_run(reference, tmp_path):
    run, cache = reference
    args = small_args(tmp_path / "runs", cache, *GRID)
    units = tmp_path / "runs" / run.name / "units"

    run_until(args, "start t00.generate.m01")  # mid-generate
    assert (units / "t00.generate.m00.json").exists()
    assert not (units / "t00.generate.m01.json").exists()

    run_until(args, "start t01.train.m00")  # mid-train
    assert (units / "t00.summary.json").exists()
    assert not (units / "t01.train.m00.json").exists()

    run_until(args, "commit t01.evaluate.m00")  # between units
    assert (units / "t01.evaluate.m00.json").exists()

    cli(*args)
    resumed = tmp_path / "runs" / run.name
    assert snapshot(resumed) == snapshot(run)
    assert not list(resumed.rglob(".*.tmp*"))  # no half-written files left behind


def test_corrupt_files_are_detected_and_redone(reference, tmp_path):
    run, cache = reference
    out = tmp_path / "runs"
    shutil.copytree(run, out / run.name)
    damaged = out / run.name
    ckpt = damaged / "ckpt" / "m00.t02.safetensors"
    ckpt.write_bytes(ckpt.read_bytes()[:1000])  # truncated checkpoint
    ppl = damaged / "ppl" / "t01.m01.npy"
    raw = bytearray(ppl.read_bytes())
    raw[-5] ^= 0xFF  # one flipped byte in a per-block array
    ppl.write_bytes(bytes(raw))
    (damaged / "pools" / "t00.npy").unlink()  # a lost pool

    cli(*small_args(out, cache, *GRID))
    log = (damaged / "log.txt").read_text()
    assert "t01.evaluate.m01: ppl/t01.m01.npy is missing or corrupt" in log
    assert "t02.train.m00: checkpoint ckpt/m00.t02.safetensors is missing or corrupt" in log
    assert "t00.pool: pools/t00.npy is missing or corrupt" in log
    assert snapshot(damaged) == snapshot(run)


def test_a_second_process_on_the_same_run_dir_is_refused(reference, tmp_path):
    """The first holds at t = 1 ($ECOSYS_HOLD), the run dir locked, until the second has
    been refused; then it finishes, untouched by the second."""
    _, cache = reference
    hold = tmp_path / "hold"
    hold.write_text("1")
    args = small_args(tmp_path / "runs", cache, "diversity=d2", "T=3")
    first = start_cli(*args, env={"ECOSYS_HOLD": str(hold)})
    for line in first.stdout:
        if "holding at t=1" in line:
            break
    start = time.monotonic()
    second = cli(*args, check=False)
    assert second.returncode == 2
    assert "is in use by another process" in second.stderr
    assert time.monotonic() - start < 30  # refused, not waiting for the lock
    hold.unlink()
    rest = first.stdout.read()
    assert first.wait() == 0, rest
    assert "done:" in rest
    run = only_run_dir(tmp_path / "runs")
    assert [r["t"] for r in read_metrics(run) if r["scope"] == "ecosystem"] == [-1, 0, 1, 2]


def test_multirun_with_the_basic_launcher_then_analysis(reference, tmp_path):
    _, cache = reference
    out = tmp_path / "sweep"
    proc = cli("--multirun", "diversity=d1,d2,d4,d16", *small_args(out, cache, "T=2"))
    assert proc.stdout.count("done:") == 4
    runs = [p.parent.name for p in out.rglob("run.json")]
    assert sorted(r.split("_")[4] for r in runs) == sorted(["d1", "d2", "d4", "d16"])
    table = subprocess.run(
        [sys.executable, "-m", "analysis", str(out), "--no-report"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "D_opt(T)" in table and "μ_T" in table


@pytest.mark.skipif(os.environ.get("ECOSYS_SKIP_WORLD") == "1", reason="ECOSYS_SKIP_WORLD=1")
def test_the_default_world_pretrains_fine_tunes_and_collapses(tmp_path):
    """The demo's world, unshrunk: base ppl well above exp(H), lower after t = 0, and
    under beam search D = 1 rises over t."""
    cli(
        f"out_dir={tmp_path / 'runs'}",
        f"cache_dir={tmp_path / 'cache'}",
        "T=3",
        "runtime.progress=false",
    )
    run = only_run_dir(tmp_path / "runs")
    world = json.loads((run / "run.json").read_text())["world"]
    mu = {r["t"]: r["ppl/mean"] for r in read_metrics(run) if r["scope"] == "ecosystem"}
    assert world["entropy_rate_ppl"] < world["oracle_test_ppl"] < mu[0] < mu[-1]
    assert mu[-1] > 1.5 * world["oracle_test_ppl"]
    assert mu[2] > mu[1] > mu[0]


def test_restart_from_base_trains_every_iteration_from_the_base_model(reference, tmp_path):
    """train.restart_from_base: model m at t is the base fine-tuned on its t-th training set."""
    _, cache = reference
    cfg = make_cfg(f"cache_dir={cache}", "T=2", "train.restart_from_base=true")
    run = loop.run(cfg, root=tmp_path)
    (base,) = [p for p in cache.glob("base-*") if p.is_dir()]
    model = hf.load(str(base), torch.float32)
    pool = np.load(run / "pools" / "t00.npy")  # D = 1: the whole pool is model 0's next set
    seed = seeds.derive(cfg.seed, "train", 1, 0)
    valid, bs = corpus.load(cfg).valid, cfg.score.batch_size
    fine_tune(model, pool, valid, cfg.train, seed, Accelerator(cpu=True), score_batch_size=bs)
    saved = hf.load_weights(hf.load(str(base), torch.float32), run / "ckpt" / "m00.t01.safetensors")
    expected = model.state_dict()
    assert all(torch.equal(expected[k], v) for k, v in saved.state_dict().items())


def test_eval_on_train_scores_each_model_on_its_own_real_blocks(reference, tmp_path):
    _, cache = reference
    cfg = make_cfg(f"cache_dir={cache}", "diversity=d2", "T=2", "train.eval_on_train=true")
    run = loop.run(cfg, root=tmp_path)
    data = corpus.load(cfg)
    sample = corpus.budget(len(data.train), cfg.scale.fraction, cfg.scale.max_blocks, cfg.seed)
    sets = corpus.segment(sample, corpus.split_sizes(len(sample), [0.5, 0.5]), cfg.seed)
    (base,) = [p for p in cache.glob("base-*") if p.is_dir()]
    for m in range(2):
        model = hf.load_weights(
            hf.load(str(base), torch.float32), run / "ckpt" / f"m{m:02d}.t01.safetensors"
        )
        expected = block_perplexity(
            model, data.train[sets[m]], cfg.score.batch_size, Accelerator(cpu=True)
        )
        np.testing.assert_array_equal(np.load(run / "ppl_train" / f"t01.m{m:02d}.npy"), expected)
    eco = next(r for r in read_metrics(run) if r["scope"] == "ecosystem" and r["t"] == 1)
    per_model = [
        r["ppl_train/mean"] for r in read_metrics(run) if r["scope"] == "model" and r["t"] == 1
    ]
    assert eco["ppl_train/mean"] == pytest.approx(np.mean(per_model))
