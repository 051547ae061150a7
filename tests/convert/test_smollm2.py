"""The paper's size class, really run: SmolLM2-135M (model=smollm2-135m), a 135M Llama with
a 49,152-token vocabulary, from the GGUF that `make setup` installs, on WikiText-2.

Blocks of 32 tokens keep it to a few minutes: the model's whole 49k output layer still
runs in training, scoring and both decoders, at the real model's size."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from helpers import SHARED_DATA, cli, launch, make_cfg, only_run_dir

from bench.baselines import hf_generate
from ecosys.convert import gguf
from ecosys.kernels import decode
from ecosys.models import base, hf
from ecosys.rundir.layout import read_metrics

WIKI = SHARED_DATA / "wikitext-2"
BLOCK = 32
PROMPT = 16  # the decoder comparison's prompts and continuations
FILES = [
    "data=files",
    f"data.train={WIKI / 'train.txt'}",
    f"data.valid={WIKI / 'valid.txt'}",
    f"data.test={WIKI / 'test.txt'}",
]


def _installed() -> bool:
    try:
        gguf.packaged()
    except gguf.NotInstalled:
        return False
    return True


pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not _installed(), reason=f"needs {gguf.PACKAGE} (make setup installs it, --no-deps)"
    ),
    pytest.mark.skipif(
        not (WIKI / "test.txt").exists(), reason=f"needs WikiText-2 in {SHARED_DATA} (CI has it)"
    ),
]
# one iteration at a small N: 2 models × 4 blocks, 1 epoch, then 5-beam generation
RUN = [
    "model=smollm2-135m",
    *FILES,
    "diversity=d2",
    "T=2",
    f"data.block_size={BLOCK}",
    "scale.max_blocks=8",
    "scale.max_valid_blocks=4",
    "scale.max_test_blocks=8",
    "train.epochs=1",
    "tracking=none",
    "runtime.progress=false",
]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A cache holding the converted model: the module converts it once (about 20 s)."""
    cache = tmp_path_factory.mktemp("cache135")
    cfg = make_cfg("model=smollm2-135m", *FILES, f"cache_dir={cache}", small=False)
    base.locate(cfg, cfg.model)
    return cache


@pytest.fixture(scope="module")
def converted(cache):
    cfg = make_cfg("model=smollm2-135m", *FILES, f"cache_dir={cache}", small=False)
    return hf.load(base.locate(cfg, cfg.model), torch.float32).eval()


@pytest.fixture(scope="module")
def prompts(converted):
    """Four WikiText-2 test blocks of 16 tokens, with SmolLM2's tokenizer."""
    tok = hf.load_tokenizer(converted.name_or_path)
    text = " ".join((WIKI / "test.txt").read_text().split()[:400])
    ids = tok(text)["input_ids"][: 4 * PROMPT]
    return torch.tensor(ids).view(4, PROMPT)


@pytest.fixture(scope="module")
def one_process(cache, tmp_path_factory):
    out = tmp_path_factory.mktemp("k1")
    proc = cli(*RUN, f"cache_dir={cache}", f"out_dir={out}")
    return only_run_dir(out), proc.stdout + proc.stderr


def test_the_converted_model_is_the_gguf_model(cache, converted, prompts):
    """Same logits as transformers' own GGUF reader on the same tokens; a plain directory
    (no quantization_config), its files intact by their checksums, reused as it is."""
    ref, _ = gguf.load_gguf(gguf.packaged())
    with torch.no_grad():
        a, b = ref(prompts).logits, converted(prompts).logits
    assert a.shape == (4, PROMPT, 49152)
    assert torch.equal(a, b)
    n = sum(p.numel() for p in converted.parameters())
    assert 134e6 < n < 135e6, n  # tied: the embedding counted once
    assert converted.lm_head.weight.data_ptr() == converted.model.embed_tokens.weight.data_ptr()
    (entry,) = cache.glob("base-smollm2-135m-*/")
    assert "quantization_config" not in json.loads((entry / "config.json").read_text())
    assert gguf.verify(entry) == []
    stamp = (entry / "model.safetensors").stat().st_mtime_ns
    cfg = make_cfg("model=smollm2-135m", *FILES, f"cache_dir={cache}", small=False)
    assert base.locate(cfg, cfg.model) == str(entry)
    assert (entry / "model.safetensors").stat().st_mtime_ns == stamp


def test_the_lean_decoder_gives_generate_s_tokens(converted, prompts):
    """Beam 5 and sampling over the full 49k vocabulary: the tokens of model.generate."""
    ref = hf_generate(converted, prompts, 4, num_beams=5, do_sample=False)
    lean = decode.beam_search(converted, prompts, PROMPT, 5)
    assert ref.shape == lean.shape == (4, PROMPT)
    assert torch.equal(ref, lean)
    mode = dict(temperature=1.0, top_k=50, top_p=1.0)
    torch.manual_seed(3)
    ref = hf_generate(converted, prompts, 4, do_sample=True, num_beams=1, **mode)
    torch.manual_seed(3)
    lean = decode.sample(converted, prompts, PROMPT, **mode)
    assert torch.equal(ref, lean)
    assert int(lean.max()) > 512  # far beyond a toy vocabulary


def test_one_iteration_ends_with_finite_plausible_numbers(one_process):
    """Train, evaluate, generate with 5 beams, pool and lenses at N = 8 on WikiText-2."""
    run, log = one_process
    assert "building" not in log  # the module's converted copy, reused
    rows = read_metrics(run)
    eco = {r["t"]: r for r in rows if r["scope"] == "ecosystem"}
    assert sorted(eco) == [-1, 0, 1]
    for t in (-1, 0, 1):
        assert math.isfinite(eco[t]["ppl/mean"]) and 5 < eco[t]["ppl/mean"] < 500, eco[t]
    assert eco[0]["ppl/mean"] < eco[-1]["ppl/mean"]  # fine-tuning on WikiText-2 helps
    for key in ("lens/distinct_2", "lens/entropy", "lens/self_bleu", "ppl/p99", "pool/vocab"):
        assert math.isfinite(eco[0][key]), key
    gen = np.load(run / "gen/t00.m00.npy")
    assert gen.shape == (4, BLOCK) and gen.min() >= 0 and gen.max() < 49152
    assert len(np.unique(gen)) > 10  # text, not one repeated token
    pools = sorted((run / "pools").glob("*"))
    assert pools, "no pool committed"


def test_two_accelerate_ranks_equal_one_process(cache, one_process, tmp_path):
    """M = 2 on two CPU ranks of one thread each at 135M: one process group, and the
    numbers of one two-thread process up to the order of floating-point sums (a 576-wide
    matmul splits over threads differently: measured relative 1e-6). Up to t = 0 (T = 1):
    the base's scoring, training and scoring spread over the ranks at the real size;
    generation across ranks is the same code at any size, checked number for number by
    the tiny model's two-rank runs (tests/runtime/test_accelerate.py)."""
    out = tmp_path / "k2"
    proc = launch(*[a for a in RUN if a != "T=2"], "T=1", f"cache_dir={cache}", f"out_dir={out}")
    assert "process group: world size 2 (models spread over ranks)" in proc.stdout
    k2, (k1, _) = only_run_dir(out), one_process
    files = sorted(p.relative_to(k2) for p in k2.glob("ppl/*.npy"))
    assert [f.name for f in files] == ["base.m00.npy", "base.m01.npy", "t00.m00.npy", "t00.m01.npy"]
    for f in files:
        np.testing.assert_allclose(np.load(k2 / f), np.load(k1 / f), rtol=1e-4)
    one = {(r["scope"], r.get("model"), r["t"]): r for r in read_metrics(k1)}
    trained = [r for r in read_metrics(k2) if r["scope"] == "model" and r["t"] == 0]
    assert len(trained) == 2
    for a in trained:
        b = one[("model", a["model"], 0)]
        assert a["train/loss"] == pytest.approx(b["train/loss"], rel=1e-4)
