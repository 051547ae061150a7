"""Curation through the real CLI: each option's pick, checked against scores recomputed
from the committed arrays; keeping everything is the paper's pool; a kill inside a
curated iteration resumes to the same result."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from accelerate import Accelerator
from helpers import cli, make_cfg, only_run_dir, run_until, small_args, snapshot

from ecosys.data import world
from ecosys.kernels.evaluate import block_perplexity
from ecosys.models import hf
from ecosys.rundir import layout
from ecosys.rundir.layout import read_metrics

pytestmark = pytest.mark.slow

GRID = ("diversity=d2", "T=3")
N = 64  # debug=smoke's blocks: two models of 32


def _array(run, name: str) -> np.ndarray:
    return np.load(run / layout.npy(name))


def _pool_row(run, t: int) -> dict:
    (row,) = [r for r in read_metrics(run) if r["scope"] == "ecosystem" and r["t"] == t]
    return row


def _recomputed(option: str, run, generated: np.ndarray) -> np.ndarray:
    """The option's score of every block generated at t = 0, from scratch."""
    cfg = make_cfg(*GRID, f"curation={option}")
    if option == "oracle":
        p_data, _ = world.build(cfg.world)
        return p_data.smoothed(cfg.measure.smoothing).log_prob(generated) / generated.shape[1]
    if option == "degenerate":
        return np.array([np.bincount(b).max() for b in generated]) / generated.shape[1]
    # self, surprise: each model's perplexity of its own blocks, from its t = 0 checkpoint
    base = json.loads((run / "run.json").read_text())["members"][0]["base"]
    scores = []
    for m in range(2):
        model = hf.load_weights(hf.load(base, torch.float32), run / layout.checkpoint(m, 0))
        own = _array(run, layout.generated(0, m))
        scores.append(block_perplexity(model, own, 32, Accelerator(cpu=True)))
    return np.concatenate(scores)


@pytest.mark.parametrize("option", ["oracle", "self", "surprise", "degenerate"])
def test_each_option_keeps_what_its_recomputed_scores_rank_first(option, tmp_path, cache_dir):
    args = small_args(tmp_path, cache_dir, *GRID, f"curation={option}")
    run_until(args, "start t01.train.m00")  # t = 0's pool made, its checkpoints still there
    run = only_run_dir(tmp_path)
    generated = np.concatenate([_array(run, layout.generated(0, m)) for m in range(2)])
    scores = _array(run, layout.curation_scores(0))
    kept = _array(run, layout.curation_kept(0))
    np.testing.assert_allclose(scores, _recomputed(option, run, generated), rtol=1e-5)

    dropped = np.setdiff1d(np.arange(N), kept)
    if option == "degenerate":
        rows = [generated[i].tobytes() for i in kept]
        assert len(set(rows)) == len(rows) and scores[kept].max() <= 0.5
        for i in dropped:  # a repeat of an earlier block, or one token's
            earlier = {generated[j].tobytes() for j in range(i)}
            assert scores[i] > 0.5 or generated[i].tobytes() in earlier
    else:
        assert len(kept) == N // 2
        best_first = -scores if option == "self" else scores
        assert best_first[kept].min() >= best_first[dropped].max()

    pool = _array(run, layout.pool(0))
    assert len(pool) == N  # every model keeps its n_m blocks
    assert {r.tobytes() for r in pool} == {generated[i].tobytes() for i in kept}
    row = _pool_row(run, 0)
    assert row["curation/kept_share"] == len(kept) / N
    assert row["curation/score_kept"] == pytest.approx(scores[kept].mean())


def test_keeping_every_block_is_the_papers_pool(tmp_path, cache_dir):
    """curation.keep=1: the pick is every block in order, so the pools and every
    perplexity equal curation=none's bit for bit."""
    cli(*small_args(tmp_path / "none", cache_dir, *GRID))
    cli(*small_args(tmp_path / "all", cache_dir, *GRID, "curation=self", "curation.keep=1.0"))
    none, everything = only_run_dir(tmp_path / "none"), only_run_dir(tmp_path / "all")
    a, b = snapshot(none)["files"], snapshot(everything)["files"]
    shared = [k for k in a if k.startswith(("pools/", "ppl/", "gen/"))]
    assert shared and all(a[k] == b[k] for k in shared)
    assert _pool_row(everything, 0)["curation/kept_share"] == 1.0
    assert "curation/kept_share" not in _pool_row(none, 0)  # none: nothing added


def test_a_kill_inside_a_curated_iteration_resumes_to_the_same_result(tmp_path, cache_dir):
    grid = (*GRID, "curation=surprise")
    cli(*small_args(tmp_path / "whole", cache_dir, *grid))
    args = small_args(tmp_path / "killed", cache_dir, *grid)
    run_until(args, "start t00.pool")  # every model generated and self-scored, no pool
    run_until(args, "start t01.generate.m01")  # t = 1's curated iteration, mid-generate
    cli(*args)
    whole, resumed = only_run_dir(tmp_path / "whole"), only_run_dir(tmp_path / "killed")
    assert snapshot(resumed) == snapshot(whole)
    assert (resumed / layout.npy(layout.curation_kept(1))).exists()
