"""The real path on the real data in ../shared/data: WikiText-2 through data=files,
GPT-2's BPE, a randomly initialised OPT, the converted stories260K, and the errors a
user gets when neither a local copy nor the hub is there."""

from __future__ import annotations

import json
import math
import time

import numpy as np
import pytest
from helpers import SHARED_DATA, cli, make_cfg, only_run_dir

from ecosys.data import corpus
from ecosys.models import hf
from ecosys.rundir.layout import read_metrics

WIKI = SHARED_DATA / "wikitext-2"
GPT2 = SHARED_DATA / "tokenizers" / "gpt2"
pytestmark = pytest.mark.skipif(
    not (WIKI / "train.txt").exists() or not (GPT2 / "vocab.json").exists(),
    reason=f"needs WikiText-2 and GPT-2's tokenizer files in {SHARED_DATA} (present in CI)",
)
FILES = [
    "data=files",
    f"data.train={WIKI / 'train.txt'}",
    f"data.valid={WIKI / 'valid.txt'}",
    f"data.test={WIKI / 'test.txt'}",
]


def run_slice(data_cache, out, *overrides: str):
    """The CLI on a slice of WikiText-2: two models, one epoch, 16 blocks to share."""
    return cli(
        *overrides,
        *FILES,
        "diversity=d2",
        "train.epochs=1",
        "scale.max_blocks=16",
        "scale.max_valid_blocks=8",
        "scale.max_test_blocks=16",
        f"cache_dir={data_cache}",
        f"out_dir={out}",
        "runtime.progress=false",
    )


@pytest.fixture(scope="module")
def data_cache(tmp_path_factory):
    """One cache for the module: datasets keeps each tokenization there."""
    return tmp_path_factory.mktemp("cache")


def test_wikitext2_block_counts_with_gpt2_tokenizer(data_cache, capsys):
    cfg = make_cfg(*FILES, "scale=primary", f"cache_dir={data_cache}", small=False)
    tok = hf.load_tokenizer(str(GPT2))
    assert len(tok) == 50257 and tok.eos_token_id == 50256
    raw = corpus.raw_text(cfg.data, data_cache / "datasets")
    tokens = {
        s: sum(map(len, tok(list(raw[s]["text"]))["input_ids"])) for s in corpus.SPLITS.values()
    }
    blocks = corpus.load(cfg, tokenizer=tok)
    sample = corpus.budget(len(blocks.train), cfg.scale.fraction, cfg.scale.max_blocks, cfg.seed)
    with capsys.disabled():
        print(
            f"\nWikiText-2 (tokenized release) with GPT-2's BPE: tokens train {tokens['train']:,} "
            f"valid {tokens['validation']:,} test {tokens['test']:,}; blocks of 128: train "
            f"{len(blocks.train):,} valid {len(blocks.valid):,} test {len(blocks.test):,}; "
            f"primary 2/5 sample {len(sample):,} blocks = {len(sample) * 128:,} tokens"
        )
    # the paper: ~7,500 primary train blocks, ~1,900 valid, ~2,200 test
    assert 7000 < len(sample) < 8000
    assert 1800 < len(blocks.valid) < 2100 and 2100 < len(blocks.test) < 2400
    assert 2.2e6 < tokens["train"] < 2.6e6
    # group_texts drops at most one partial block per 1,000-line batch
    assert tokens["train"] // 128 - 37 <= len(blocks.train) <= tokens["train"] // 128
    assert blocks.train.dtype == np.int64 and blocks.train.max() < len(tok)
    # the blocks are the text: decoding the first block gives WikiText-2's first words
    assert tok.decode(blocks.train[0][:8]).strip().startswith("= Valkyria Chronicles III =")


def test_random_opt_with_gpt2_bpe_runs_a_paper_shaped_iteration(data_cache, tmp_path):
    """Blocks of 128, 128 new tokens by 5-beam search in batches of 32: the paper's shapes."""
    proc = run_slice(
        data_cache,
        tmp_path,
        "model=opt-125m-random",
        f"model.tokenizer={GPT2}",
        "model.n_layer=2",
        "model.n_embd=64",
        "model.n_head=2",
        "model.n_positions=256",
        "generate.batch_size=32",
        "T=2",
    )
    run = only_run_dir(tmp_path)
    gen = np.load(run / "gen" / "t00.m01.npy")
    assert gen.shape == (8, 128) and gen.max() < 50257
    rows = [r for r in read_metrics(run) if r["scope"] == "ecosystem"]
    assert [r["t"] for r in rows] == [-1, 0, 1]
    assert all(math.isfinite(r["ppl/mean"]) for r in rows)
    assert "done:" in proc.stdout


def test_stories260k_ecosystem_on_wikitext2(data_cache, tmp_path):
    """A real pretrained model on real text: fine-tuning helps, beam-search output hurts."""
    cli(
        "model=stories260k",
        f"model.path={SHARED_DATA / 'models' / 'stories260K'}",
        *FILES,
        "diversity=d2",
        "T=2",
        "train.epochs=1",
        "scale.max_blocks=128",
        "scale.max_valid_blocks=32",
        "scale.max_test_blocks=128",
        f"cache_dir={data_cache}",
        f"out_dir={tmp_path}",
        "runtime.progress=false",
    )
    run = only_run_dir(tmp_path)
    mu = {r["t"]: r["ppl/mean"] for r in read_metrics(run) if r["scope"] == "ecosystem"}
    assert sorted(mu) == [-1, 0, 1]
    assert all(math.isfinite(v) for v in mu.values())
    assert mu[0] < mu[-1]  # fine-tuning on WikiText-2 helps the TinyStories model
    info = json.loads((run / "run.json").read_text())
    assert info["N"] == 128 and "world" not in info


@pytest.mark.parametrize(
    ("args", "key"),
    [
        (["model=gpt2", *FILES], "model.path"),
        (["model=stories260k", "data=wikitext2"], "data"),
    ],
    ids=["hub model", "hub dataset"],
)
def test_unreachable_hub_fails_fast_with_one_line(tmp_path, args, key):
    start = time.monotonic()
    proc = cli(
        *args,
        f"model.path={SHARED_DATA / 'models' / 'stories260K'}" if "stories" in args[0] else "T=1",
        f"out_dir={tmp_path / 'runs'}",
        f"cache_dir={tmp_path / 'cache'}",
        env={"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")},
        check=False,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    (line,) = [x for x in proc.stderr.splitlines() if x.strip()]
    assert line.startswith(f"ecosys: error: {key}: cannot load")
    assert "HF_HUB_OFFLINE" in line and ("model.path" in line or "data=files" in line)
    assert time.monotonic() - start < 60
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_mixed_families_pool_text_and_keep_their_own_tokens(data_cache, tmp_path):
    """stories260K (SentencePiece, 512 tokens) + a small GPT2 (GPT-2 BPE) in one ecosystem."""
    run_slice(
        data_cache,
        tmp_path,
        "+model@families.a=stories260k",
        f"families.a.path={SHARED_DATA / 'models' / 'stories260K'}",
        "+model@families.b=opt-125m-random",
        "families.b.name=gpt2-small",
        "families.b.arch=gpt2",
        f"families.b.tokenizer={GPT2}",
        "families.b.n_layer=2",
        "families.b.n_embd=64",
        "families.b.n_head=2",
        "families.b.n_positions=256",
        "train.lr=1e-3",
        "T=2",
    )
    run = only_run_dir(tmp_path)
    assert run.name.startswith("stories260k+gpt2-small_files_")
    info = json.loads((run / "run.json").read_text())
    assert [m["family"] for m in info["members"]] == ["stories260k", "gpt2-small"]
    texts = np.load(run / "pools" / "t00.texts.npy")
    assert len(texts) == 16 and all(isinstance(s, str) and s for s in texts)
    stories = np.load(run / "pools" / "t00.m00.npy")
    gpt2 = np.load(run / "pools" / "t00.m01.npy")
    assert stories.shape == (8, 128) and stories.max() < 512  # n in its own tokens
    assert gpt2.shape == (8, 128) and gpt2.max() < 50257
    assert gpt2.max() >= 512  # really GPT-2 ids, not stories ids
    rows = [r for r in read_metrics(run) if r["scope"] == "model"]
    assert {r["family"] for r in rows} == {"stories260k", "gpt2-small"}
    assert all(math.isfinite(r["ppl/mean"]) for r in rows)


def test_community_test_sets_trim_and_score_each_on_its_own(data_cache, tmp_path):
    """WikiText-2 + PTB communities: each member scored on its community's test set,
    train splits trimmed to the shorter one (PTB) before sampling."""
    ptb = SHARED_DATA / "ptb"
    cli(
        "model=stories260k",
        f"model.path={SHARED_DATA / 'models' / 'stories260K'}",
        *FILES,
        "+data@communities.wiki=files",
        *(f"communities.wiki.{s}={WIKI / f'{s}.txt'}" for s in ("train", "valid", "test")),
        "+data@communities.ptb=ptb_files",
        *(f"communities.ptb.{s}={ptb / f'{s}.txt'}" for s in ("train", "valid", "test")),
        "diversity=d2",
        "T=1",
        "train.epochs=1",
        "scale.fraction=0.002",
        "scale.max_blocks=null",
        "scale.max_valid_blocks=8",
        "scale.max_test_blocks=32",
        f"cache_dir={data_cache}",
        f"out_dir={tmp_path}",
        "runtime.progress=false",
    )
    run = only_run_dir(tmp_path)
    info = json.loads((run / "run.json").read_text())
    assert [m["community"] for m in info["members"]] == ["ptb", "wiki"]
    assert info["samples"]["ptb"] == info["samples"]["wiki"]  # trimmed to PTB's length
    wiki_base, ptb_base = (np.load(run / "ppl" / f"base.m{m:02d}.npy") for m in (1, 0))
    assert not np.array_equal(wiki_base, ptb_base)  # two different test sets
    rows = {r["model"]: r for r in read_metrics(run) if r["scope"] == "model" and r["t"] == 0}
    assert rows[0]["community"] == "ptb" and rows[1]["community"] == "wiki"
