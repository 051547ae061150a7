"""Several models trained and scored as one batched computation (ecosys/kernels/ensemble.py)
against the per-model loop: equal up to floating-point rounding."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from accelerate import Accelerator
from helpers import cli, make_cfg, only_run_dir, run_until, small_args, snapshot

from ecosys.data import world
from ecosys.kernels.ensemble import Ensemble, states_of
from ecosys.kernels.evaluate import block_nll
from ecosys.kernels.train import fine_tune, fine_tune_together
from ecosys.models import hf
from ecosys.rundir.layout import read_metrics


@pytest.fixture(scope="module")
def setup():
    cfg = make_cfg("train.epochs=3", "train.batch_size=8", "train.start_is_candidate=true")
    p, _ = world.build(cfg.world)
    rng = np.random.default_rng(0)
    valid = p.sample(24, cfg.data.block_size, rng)
    sets = [p.sample(20, cfg.data.block_size, rng) for _ in range(4)]
    return cfg, valid, sets, Accelerator(cpu=True)


def fresh(cfg, i: int):
    return hf.new(cfg.model, cfg.world.vocab_size, seed=i)


def test_training_together_equals_training_one_by_one(setup):
    cfg, valid, sets, acc = setup
    starts = [states_of(fresh(cfg, i)) for i in range(4)]
    seeds = [10, 11, 12, 13]
    bs = cfg.score.batch_size
    results, states = fine_tune_together(
        fresh(cfg, 0), starts, sets, valid, cfg.train, seeds, acc, score_batch_size=bs
    )
    for i in range(4):
        model = fresh(cfg, i)
        ref = fine_tune(model, sets[i], valid, cfg.train, seeds[i], acc, score_batch_size=bs)
        got = results[i]
        assert got.best_epoch == ref.best_epoch and got.steps == ref.steps
        np.testing.assert_allclose(got.val_losses, ref.val_losses, rtol=1e-5)
        np.testing.assert_allclose(got.loss, ref.loss, rtol=1e-5)
        for k, v in model.state_dict().items():
            torch.testing.assert_close(states[i][k], v, rtol=1e-4, atol=1e-5)


def test_scoring_together_equals_scoring_one_by_one(setup):
    cfg, valid, _, acc = setup
    members = [fresh(cfg, i) for i in range(3)]
    ens = Ensemble(members[0], [states_of(m) for m in members])
    got = ens.block_nll(torch.as_tensor(valid), batch_size=7).numpy()
    for i, m in enumerate(members):
        np.testing.assert_allclose(got[i], block_nll(m, valid, 7, acc), rtol=1e-5)


def test_a_run_together_equals_the_run_one_model_at_a_time(tmp_path, cache_dir):
    """D = 4, one iteration: test perplexities and best epochs as the per-model loop's."""
    out = {}
    for mode in ("true", "false"):
        args = ("diversity=d4", "T=1", f"train.together={mode}")
        cli(*small_args(tmp_path / mode, cache_dir, *args))
        rows = read_metrics(only_run_dir(tmp_path / mode))
        out[mode] = [r for r in rows if r["scope"] == "model"]
    assert len(out["true"]) == 8  # t = -1 and t = 0, four models each
    for a, b in zip(out["true"], out["false"], strict=True):
        assert (a["t"], a["model"], a.get("train/best_epoch")) == (
            b["t"],
            b["model"],
            b.get("train/best_epoch"),
        )
        assert a["ppl/mean"] == pytest.approx(b["ppl/mean"], rel=1e-5)


def test_a_run_together_killed_between_the_units_of_a_group_resumes_identically(
    tmp_path, cache_dir
):
    """A group is computed whole on resume, so the numbers equal an uninterrupted run's."""
    args = ("diversity=d2", "T=2", "train.together=true")
    cli(*small_args(tmp_path / "once", cache_dir, *args))
    again = small_args(tmp_path / "killed", cache_dir, *args)
    run_until(again, "commit t00.train.m00")  # m00 committed, m01 not
    run_until(again, "commit t01.evaluate.m00")
    cli(*again)
    assert snapshot(only_run_dir(tmp_path / "killed")) == snapshot(only_run_dir(tmp_path / "once"))
