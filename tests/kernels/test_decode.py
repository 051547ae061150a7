"""The lean decode loop (ecosys/kernels/decode.py) against `model.generate` on the same inputs:
a base pretrained on the synthetic world, prompts from its test set."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from accelerate import Accelerator
from helpers import make_cfg

from bench.baselines import hf_generate
from bench.rows import sequence_logprob
from ecosys.data import world
from ecosys.kernels import decode
from ecosys.kernels.evaluate import block_nll
from ecosys.kernels.generate import continue_blocks
from ecosys.models import base, hf

BLOCK = 32
N = 512


@pytest.fixture(scope="module")
def tiny(cache_dir):
    """A synthetic base trained enough to have peaked, realistic next-token
    distributions (a random model's near-uniform ones would be all near-ties)."""
    cfg = make_cfg(
        f"data.block_size={BLOCK}",
        f"model.n_positions={2 * BLOCK}",
        "model.pretrain.steps=200",
        f"cache_dir={cache_dir}",
    )
    base.ensure(cfg, cfg.model, Accelerator(cpu=True))
    model = hf.load(base.locate(cfg, cfg.model), torch.float32).eval()
    p, _ = world.build(cfg.world)
    prompts = torch.as_tensor(p.sample(N, BLOCK, np.random.default_rng(7)))
    return cfg, model, prompts


def test_beam_search_equals_generate_up_to_near_ties(tiny):
    _, model, prompts = tiny
    ref = hf_generate(model, prompts, 32, num_beams=5, do_sample=False)
    lean = torch.cat([decode.beam_search(model, p, BLOCK, 5) for p in prompts.split(256)])
    same = (ref == lean).all(1)
    assert same.float().mean() >= 0.995, f"{int((~same).sum())} of {N} rows differ"
    if not same.all():  # every difference is a near-tie of the two beams' scores
        rows = ~same
        gap = sequence_logprob(model, prompts[rows], ref[rows]) - sequence_logprob(
            model, prompts[rows], lean[rows]
        )
        assert gap.abs().max() < 1e-3, gap


@pytest.mark.parametrize(
    "mode",
    [
        dict(temperature=1.0, top_k=50, top_p=1.0),
        dict(temperature=0.5, top_k=50, top_p=1.0),
        dict(temperature=2.0, top_k=20, top_p=0.9),
    ],
)
def test_sampling_draws_what_generate_draws_from_the_same_seed(tiny, mode):
    _, model, prompts = tiny
    prompts = prompts[:128]
    torch.manual_seed(11)
    ref = hf_generate(model, prompts, 128, do_sample=True, num_beams=1, **mode)
    torch.manual_seed(11)
    lean = decode.sample(model, prompts, BLOCK, **mode)
    same = (ref == lean).all(1).float().mean()
    assert same >= 0.99, f"identical rows {same:.3f}"
    torch.manual_seed(12)
    other = decode.sample(model, prompts, BLOCK, **mode)
    assert (other != lean).any(1).float().mean() > 0.5  # the seed, not the model, decides


def test_both_engines_give_the_same_blocks_through_continue_blocks(tiny, caplog):
    _, model, prompts = tiny
    acc = Accelerator(cpu=True)
    blocks = prompts[:64].numpy()
    calls = []
    real = decode.beam_search, decode.sample
    decode.beam_search = lambda *a, **k: calls.append("beam") or real[0](*a, **k)
    decode.sample = lambda *a, **k: calls.append("sample") or real[1](*a, **k)
    try:
        for dq in ("beam", "temp1"):
            out = {}
            for engine in ("hf", "lean"):
                g = make_cfg(f"data_quality={dq}", f"generate.engine={engine}").generate
                out[engine], _ = continue_blocks(model, blocks, g, seed=5, accelerator=acc)
            assert (out["hf"] == out["lean"]).all(1).mean() >= 0.98, dq
    finally:
        decode.beam_search, decode.sample = real
    assert "does not mirror" not in caplog.text
    assert "beam" in calls and "sample" in calls  # the lean loop really ran


def test_what_the_lean_loop_does_not_mirror_goes_to_generate(tiny, caplog):
    _, model, prompts = tiny
    assert decode.unmirrored(model) == []
    assert decode.unmirrored(model, repetition_penalty=1.0) == []  # the config's default
    assert decode.unmirrored(model, repetition_penalty=1.3) == ["repetition_penalty"]
    g = make_cfg("generate.repetition_penalty=1.3").generate
    blocks = prompts[:8].numpy()
    with caplog.at_level("WARNING"):
        got, _ = continue_blocks(model, blocks, g, seed=0, accelerator=Accelerator(cpu=True))
    assert "does not mirror ['repetition_penalty']: using model.generate" in caplog.text
    ref = hf_generate(model, prompts[:8], 8, num_beams=5, do_sample=False, repetition_penalty=1.3)
    np.testing.assert_array_equal(got, ref.numpy())


def test_a_compiled_forward_keeps_the_tokens_and_the_scores(tiny):
    """runtime.compile: static-shape graphs for both decode loops and for scoring; the
    hf engine and a growing cache run the eager forward."""
    _, model, prompts = tiny
    model = hf.load(model.name_or_path, torch.float32).eval()  # its own module
    blocks = prompts[:64].numpy()
    acc = Accelerator(cpu=True)
    modes = {m: make_cfg(f"data_quality={m}").generate for m in ("beam", "temp1")}

    def outputs() -> dict[str, np.ndarray]:
        out = {
            m: continue_blocks(model, blocks, g, seed=0, accelerator=acc)[0]
            for m, g in modes.items()
        }
        return out | {"nll": block_nll(model, blocks, 64, acc)}

    eager = outputs()
    assert hf.compiled(model) is model and "forward" in model.__dict__
    fast = outputs()
    assert (fast["beam"] == eager["beam"]).all(1).mean() >= 0.98
    assert (fast["temp1"] == eager["temp1"]).all(1).mean() >= 0.98
    np.testing.assert_allclose(fast["nll"], eager["nll"], atol=1e-5)
    with hf.eager(model):
        assert "forward" not in model.__dict__
        engine = make_cfg("generate.engine=hf").generate
        via_hf, _ = continue_blocks(model, blocks[:8], engine, 0, acc)
    assert "forward" in model.__dict__
    np.testing.assert_array_equal(via_hf, eager["beam"][:8])
