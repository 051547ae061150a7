"""Corpora as blocks of token ids, the N-block budget, and its segmentation.

Every split is an int64 array [n_blocks, block_size], the `group_texts` convention
of HF run_clm: text → tokens → concatenated → cut into equal blocks. Text comes from
local files or the hub through `datasets`, whose cache keeps the tokenized blocks.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import datasets
import numpy as np
from datasets import DatasetDict, load_dataset
from omegaconf import DictConfig
from transformers import PreTrainedTokenizerBase

from ecosys import config
from ecosys.data import hub, world
from ecosys.rundir import layout
from ecosys.runtime import seeds


@dataclass
class Corpus:
    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray
    p_data: world.TopicChains | None = None  # known exactly in the synthetic world only


def load(
    cfg: DictConfig,
    dcfg: DictConfig | None = None,
    tokenizer: PreTrainedTokenizerBase | None = None,
    key: str = "data",
) -> Corpus:
    """The corpus dcfg (default: cfg.data, at config key `key`) names, with valid/test
    capped by the scale; a ConfigError if a split holds no block."""
    dcfg = cfg.data if dcfg is None else dcfg
    if dcfg.source == "synthetic":
        corpus = synthetic(cfg.world, dcfg.block_size, dcfg.topics)
    elif dcfg.source == "pool":
        corpus = from_pool(dcfg, cfg.seed)
        if empty := [split for split in SPLITS if len(getattr(corpus, split)) == 0]:
            n = sum(len(getattr(corpus, split)) for split in SPLITS)
            raise config.ConfigError(
                f"{key}.pool_t",
                f"the pool {saved_pool(dcfg)} has {n} blocks: its 80/10/10 cut leaves "
                f"{' and '.join(empty)} without one",
                "pick a pool of at least 10 blocks",
            )
    else:
        if not cfg.runtime.progress:
            datasets.disable_progress_bars()
        corpus = text(dcfg, tokenizer, Path(cfg.cache_dir).expanduser() / "datasets", key)
    s = cfg.scale
    return Corpus(
        train=corpus.train,
        valid=corpus.valid[: s.max_valid_blocks],
        test=corpus.test[: s.max_test_blocks],
        p_data=corpus.p_data,
    )


def synthetic(wcfg: DictConfig, block_size: int, topics: list[int] | None = None) -> Corpus:
    """Train/valid/test sampled from p_data (or from the community that speaks only
    `topics`); fixed by world.seed, not by the run seed."""
    p, _ = world.build(wcfg)
    community = -1
    if topics is not None:
        p = p.restrict(list(topics))
        community = sum(2**k for k in topics)  # its own samples, not a subset of the others'
    sizes = (wcfg.train_blocks, wcfg.valid_blocks, wcfg.test_blocks)
    splits = [
        p.sample(n, block_size, seeds.rng(wcfg.seed, "corpus", t=i, m=community))
        for i, n in enumerate(sizes)
    ]
    return Corpus(*splits, p_data=p)


POOL_SPLIT = (0.8, 0.1, 0.1)  # train / valid / test shares of a saved pool


def saved_pool(dcfg: DictConfig) -> Path:
    """The file of the pool data=pool reads: data.run's pool at data.pool_t."""
    return layout.pool_file(Path(dcfg.run).expanduser(), dcfg.pool_t)


def from_pool(dcfg: DictConfig, seed: int) -> Corpus:
    """A finished run's generated pool at data.pool_t as a corpus (App. H, Fig. 18):
    shuffled by the run seed and cut 80/10/10 into train / valid / test."""
    blocks = np.load(saved_pool(dcfg))
    blocks = blocks[seeds.rng(seed, "corpus", t=dcfg.pool_t).permutation(len(blocks))]
    n_train, n_valid = (int(share * len(blocks)) for share in POOL_SPLIT[:2])
    return Corpus(
        blocks[:n_train], blocks[n_train : n_train + n_valid], blocks[n_train + n_valid :]
    )


SPLITS = {"train": "train", "valid": "validation", "test": "test"}


def raw_text(dcfg: DictConfig, cache_dir: Path) -> DatasetDict:
    """The three splits as `datasets` text, from local files or the hub."""
    if dcfg.source == "files":
        files = {split: str(Path(dcfg[ours]).expanduser()) for ours, split in SPLITS.items()}
        return load_dataset("text", data_files=files, cache_dir=str(cache_dir))

    def from_hub(offline: bool) -> DatasetDict:
        with hub.offline(offline):
            return load_dataset(dcfg.hub_id, dcfg.hub_config, cache_dir=str(cache_dir))

    return hub.fetch(
        from_hub,
        f"{dcfg.hub_id}/{dcfg.hub_config}",
        "data",
        "use data=files data.train=... data.valid=... data.test=... (local text files)",
        repo=dcfg.hub_id,
    )


def text(
    dcfg: DictConfig, tokenizer: PreTrainedTokenizerBase, cache_dir: Path, key: str = "data"
) -> Corpus:
    """Tokenize every line, then group into blocks as run_clm's `group_texts` does:
    each map batch of `group_batch` lines is concatenated and cut into blocks of
    block_size, its remainder dropped. Every split must give a block (training,
    validation and the test all need one): a ConfigError names the split's key if not."""
    raw = raw_text(dcfg, cache_dir)
    column, size = dcfg.text_column, dcfg.block_size

    def tokenize(batch: dict) -> dict:
        return {
            "ids": tokenizer(batch[column], add_special_tokens=dcfg.add_special_tokens)["input_ids"]
        }

    def group(batch: dict) -> dict:
        flat = list(itertools.chain.from_iterable(batch["ids"]))
        usable = len(flat) // size * size
        return {"input_ids": [flat[i : i + size] for i in range(0, usable, size)]}

    tokens = raw.map(
        tokenize, batched=True, remove_columns=raw["train"].column_names, desc="tokenize"
    )
    blocks = tokens.map(
        group,
        batched=True,
        batch_size=dcfg.group_batch,
        remove_columns=["ids"],
        desc=f"blocks of {size}",
    )
    for ours, split in SPLITS.items():
        if blocks[split].num_rows == 0:  # (and no input_ids column: nothing was returned)
            raise no_block(dcfg, ours, sum(map(len, tokens[split]["ids"])), key)
    # the whole split as one batch ([:]): a column read row by row (ds["input_ids"]) took
    # 12 s for WikiText-2's train split in blocks of 32
    arrays = [
        np.asarray(blocks[split].with_format("numpy")[:]["input_ids"], dtype=np.int64).reshape(
            -1, size
        )
        for split in SPLITS.values()
    ]
    return Corpus(*arrays)


def no_block(dcfg: DictConfig, split: str, n_tokens: int, key: str) -> config.ConfigError:
    """The error for a split that gives no block of block_size: too few tokens, or
    enough tokens that no batch of group_batch lines holds a block's worth."""
    size = dcfg.block_size
    if dcfg.source == "files":
        where, what = f"{key}.{split}", dcfg[split]
    else:
        where, what = f"{key}.hub_id", f"{dcfg.hub_id}'s {SPLITS[split]} split"
    if n_tokens < size:
        return config.ConfigError(
            where,
            f"{what} holds {n_tokens} tokens, fewer than one block of {key}.block_size={size}",
            f"give it at least {size} tokens of text, or lower {key}.block_size",
        )
    return config.ConfigError(
        where,
        f"{what} holds {n_tokens} tokens, but no batch of {key}.group_batch={dcfg.group_batch} "
        f"lines holds a block of {size} (each batch drops its remainder)",
        f"raise {key}.group_batch",
    )


def budget(n_train: int, fraction: float, max_blocks: int | None, seed: int) -> np.ndarray:
    """Indices of the N-block sample: a seeded `fraction` of train, capped at max_blocks."""
    n = max(1, round(fraction * n_train))
    if max_blocks is not None:
        n = min(n, max_blocks)
    return np.sort(seeds.rng(seed, "sample").choice(n_train, size=n, replace=False))


def split_sizes(n: int, shares: list[float]) -> list[int]:
    """Blocks per model: floor(w_m · N); the remainder is dropped (and logged)."""
    return [int(w * n + 1e-9) for w in shares]


def segment(sample: np.ndarray, sizes: list[int], seed: int) -> list[np.ndarray]:
    """Shuffle the sample and cut it into non-overlapping generation sets."""
    order = seeds.rng(seed, "segment").permutation(sample)
    return [order[s] for s in slices(sizes)]


def slices(sizes: list[int]) -> list[slice]:
    """Consecutive slices of the given sizes: how a pool or a sample is cut per model."""
    bounds = np.cumsum([0, *sizes])
    return [slice(int(a), int(b)) for a, b in itertools.pairwise(bounds)]
