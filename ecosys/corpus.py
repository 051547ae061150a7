"""Corpora as blocks of token ids, the N-block budget, and its segmentation.

Every split is an int64 array [n_blocks, block_size], the `group_texts` convention
of HF run_clm: text → tokens → concatenated → cut into equal blocks.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from omegaconf import DictConfig

from ecosys import seeds, world


@dataclass
class Corpus:
    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray
    p_data: world.TopicChains | None = None  # known exactly in the synthetic world only


def load(cfg: DictConfig) -> Corpus:
    """The corpus the config names, with valid/test capped by the scale."""
    if cfg.data.source != "synthetic":
        raise NotImplementedError(f"data.source={cfg.data.source!r}")
    corpus = synthetic(cfg.world, cfg.data.block_size)
    s = cfg.scale
    return Corpus(
        train=corpus.train,
        valid=corpus.valid[: s.max_valid_blocks],
        test=corpus.test[: s.max_test_blocks],
        p_data=corpus.p_data,
    )


def synthetic(wcfg: DictConfig, block_size: int) -> Corpus:
    """Train/valid/test sampled from p_data; fixed by world.seed, not by the run seed."""
    p, _ = world.build(wcfg)
    sizes = (wcfg.train_blocks, wcfg.valid_blocks, wcfg.test_blocks)
    splits = [
        p.sample(n, block_size, seeds.rng(wcfg.seed, "corpus", t=i)) for i, n in enumerate(sizes)
    ]
    return Corpus(*splits, p_data=p)


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
