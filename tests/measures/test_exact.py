"""The synthetic world's exact measurements: each estimator against an independent
computation, and a run's record of them."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch
from helpers import cli, make_cfg, only_run_dir, small_args

from analysis import edq
from ecosys.data import corpus, world
from ecosys.kernels.train import batch_order, steps_per_epoch
from ecosys.measures import exact
from ecosys.models import hf
from ecosys.schedule import members


def test_w2_is_the_quantile_distance_of_equal_sized_copies():
    """Exact W2 between samples of sizes 3 and 4 equals the sorted RMS difference of
    their copies blown up to size 12 (each point repeated 4 and 3 times)."""
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=3), rng.normal(1.0, 2.0, size=4)
    brute = np.sqrt(np.mean((np.sort(np.repeat(a, 4)) - np.sort(np.repeat(b, 3))) ** 2))
    assert exact.w2(a, b) == pytest.approx(brute, rel=1e-12)
    assert exact.w2(a, a + 0.25) == pytest.approx(0.25)
    assert exact.w2(b, b) == 0.0


def test_js_of_identical_disjoint_and_known_distributions():
    p = torch.softmax(torch.randn(2, 5, 11, dtype=torch.float64), -1)
    assert exact.js([p, p, p]) == pytest.approx(0.0, abs=1e-12)
    one_hot = torch.eye(4, dtype=torch.float64)[None]
    assert exact.js([one_hot, one_hot.roll(1, -1)]) == pytest.approx(math.log(2))
    q = torch.tensor([[[0.5, 0.5]]], dtype=torch.float64)
    r = torch.tensor([[[0.9, 0.1]]], dtype=torch.float64)
    mid = np.array([0.7, 0.3])
    hand = 0.5 * sum(x * math.log(x / m) for x, m in zip([0.5, 0.5], mid, strict=True))
    hand += 0.5 * sum(x * math.log(x / m) for x, m in zip([0.9, 0.1], mid, strict=True))
    assert exact.js([q, r]) == pytest.approx(hand)


def test_the_sampler_draws_from_the_models_own_distribution():
    """Second-token frequencies of 6,000 sampled blocks against the model's softmax (χ²)."""
    cfg = make_cfg()
    model = hf.new(cfg.model, 32, seed=0).eval()
    first = torch.full((6000,), 3)
    blocks = exact.sample(model, first, 2, seed=0)
    assert (blocks[:, 0] == 3).all()
    probs = torch.softmax(model(input_ids=first[:1, None]).logits[0, -1].double(), -1).detach()
    counts = np.bincount(blocks[:, 1].numpy(), minlength=32)
    expected = probs.numpy() * len(first)
    keep = expected >= 5
    obs, exp = counts[keep], expected[keep]
    if (~keep).any():  # rare tokens pooled into one cell
        obs, exp = np.append(obs, counts[~keep].sum()), np.append(exp, expected[~keep].sum())
    chi2, dof = ((obs - exp) ** 2 / exp).sum(), len(obs) - 1
    assert torch.special.gammaincc(torch.tensor(dof / 2), torch.tensor(chi2 / 2)) > 1e-3


def test_reference_scores_blocks_by_smoothed_p_data():
    cfg = make_cfg()
    p, _ = world.build(cfg.world)
    fresh = p.sample(400, 8, np.random.default_rng(1))
    ref = exact.Reference(p, fresh, 1e-4)
    assert np.allclose(ref.score(fresh), p.log_prob(fresh) / 8, atol=1e-3)  # ε barely moves it
    impossible = np.zeros((400, 8), dtype=np.int64)  # 0 → 0 → … is not a transition of p
    assert np.isfinite(ref.score(impossible)).all()
    assert ref.distances(p.sample(400, 8, np.random.default_rng(2)))["kl"] < 0.1
    far = ref.distances(impossible)
    assert far["w2"] > 1.0 and far["kl"] > 1.0


def test_topic_restriction_is_the_topic_chain():
    p, _ = world.build(make_cfg().world)
    block = p.sample(5, 6, np.random.default_rng(0))
    assert np.allclose(p.restrict(list(range(len(p.weights)))).log_prob(block), p.log_prob(block))
    one = p.restrict([2])
    with np.errstate(divide="ignore"):  # a transition topic 2 lacks: -inf, as log_prob
        hand = np.log(p.stationary[2, block[:, 0]])
        hand = hand + np.log(p.trans[2][block[:, :-1], block[:, 1:]]).sum(-1)
    assert np.allclose(one.log_prob(block), hand)


def test_segments_split_same_and_whole():
    sample = np.arange(12)
    split = members._segments("split", sample, [4, 4, 4], seed=0)
    assert sorted(np.concatenate(split)) == list(range(12))
    same = members._segments("same", sample, [4, 4, 4], seed=0)
    assert all((s == split[0]).all() for s in same)
    whole = members._segments("whole", sample, [4, 4, 4], seed=0)
    assert all(sorted(w) == list(range(12)) for w in whole)
    assert corpus.segment(sample, [12], 0)[0].tolist() == whole[0].tolist()


def test_equal_steps_and_the_batch_stream():
    """The stream's first pass is the per-epoch permutation the loop always used; under
    equal_steps a model on n of N blocks takes N's steps per epoch."""
    gen_a, gen_b = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    stream = batch_order(10, 4, gen_a)
    first = [next(stream) for _ in range(3)]
    assert torch.cat(first).tolist() == torch.randperm(10, generator=gen_b).tolist()
    assert [len(b) for b in first] == [4, 4, 2]
    tcfg = make_cfg("train.protocol=equal_steps", "train.batch_size=16").train
    assert steps_per_epoch(4, tcfg, budget=64) == 4
    assert steps_per_epoch(4, make_cfg("train.batch_size=16").train, budget=64) == 1


def test_wilson_interval_and_edq_agreement():
    lo, hi = edq.wilson(5, 10)
    assert (lo, hi) == (pytest.approx(0.2366, abs=1e-4), pytest.approx(0.7634, abs=1e-4))
    rows = pd.DataFrame(
        {
            "scope": "model",
            "run": "r",
            "m": 0,
            "t": [-1, 0, 1, 2],
            "ppl/mean": [20.0, 15.0, 18.0, 17.0],  # falls, rises, falls
            "exact/kl_rate": 1.0,
            "exact/edq": [np.nan, -0.5, 0.3, 0.2],  # predicts fall, rise, rise
            "exact/edq_kl": [np.nan, -1.0, -1.0, -1.0],  # predicts fall, fall, fall
            **{k: "x" for k in edq.CONDITION},
            "D": 1.0,
        }
    )
    per_d, pooled = edq.agreement(rows).to_dict("records")  # D = 1, then all D
    assert per_d["D"] == 1.0 and math.isnan(pooled["D"])
    for row in (per_d, pooled):
        assert row["n"] == 3
        assert row["w2_rate"] == pytest.approx(2 / 3)
        assert row["kl_rate"] == pytest.approx(2 / 3)


def test_a_run_records_its_exact_measurements(tmp_path, cache_dir):
    """KL rate on fresh blocks agrees with the test-set estimate (mean log perplexity
    minus the oracle's), and every (t, model) and pool carries its measurements."""
    cli(*small_args(tmp_path, cache_dir, "diversity=d2", "world.test_blocks=400"))
    run = only_run_dir(tmp_path)
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    base = [r for r in rows if r["scope"] == "model" and r["t"] == -1]
    assert len(base) == 2 and all("exact/edq" not in r for r in base)
    model_rows = [r for r in rows if r["scope"] == "model" and r["t"] >= 0]
    keys = {"exact/kl_rate", "exact/model_w2", "exact/data_w2", "exact/edq", "train/param_dist"}
    assert all(keys <= set(r) for r in model_rows)
    eco = {r["t"]: r for r in rows if r["scope"] == "ecosystem"}
    assert "exact/pool_w2" in eco[0] and "exact/js" in eco[0] and eco[0]["exact/js"] > 0
    assert all(r["train/param_dist"] > 0 for r in model_rows)

    cfg = make_cfg("world.test_blocks=400")
    p, _ = world.build(cfg.world)
    test = corpus.synthetic(cfg.world, 8).test
    oracle = np.log(p.block_perplexity(test)).mean()
    measured = np.log(np.load(run / "ppl" / "base.m00.npy")).mean() - oracle
    assert base[0]["exact/kl_rate"] == pytest.approx(measured, abs=0.1)
    assert base[0]["exact/kl_rate"] > 0.1  # the base model is measurably off p_data
