"""The pool step: concatenate the generated sets, optionally swap in fresh real
blocks, shuffle, and hand every model a new training set of its share's size."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def redistribute(
    generated: list[np.ndarray],
    real: np.ndarray,
    real_fraction: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, int]:
    """(the shuffled pool [Σ n_m, L], how many of its blocks are real).

    Model m's next training set is the m-th slice of the pool, sized as its
    generation set (`corpus.slices`), so every model keeps its data share.
    """
    pool = np.concatenate(generated)
    n_real = round(real_fraction * len(pool))
    if n_real:
        where = rng.choice(len(pool), size=n_real, replace=False)
        pool[where] = real[rng.choice(len(real), size=n_real, replace=False)]
    return pool[rng.permutation(len(pool))], n_real


def redistribute_text(
    texts: list[str],
    real: list[str],
    real_fraction: float,
    encoders: list[Callable[[list[str]], list[list[int]]]],
    sizes: list[int],
    block_size: int,
    rng: np.random.Generator,
) -> tuple[list[str], list[np.ndarray], int]:
    """The pool step for members with different tokenizers (mixed families).

    The pool is text: swap in real texts, shuffle, then deal texts out in turn, each
    member re-tokenizing with its own `encoder` until it holds its n_m blocks of
    `block_size` of its own tokens (a short pool is dealt again from its start).
    Returns (the shuffled pooled texts, each member's blocks, how many texts are real).
    """
    texts = list(texts)
    n_real = round(real_fraction * len(texts))
    if n_real:
        for i, j in zip(
            rng.choice(len(texts), n_real, replace=False),
            rng.choice(len(real), n_real, replace=False),
            strict=True,
        ):
            texts[i] = real[j]
    pooled = [texts[i] for i in rng.permutation(len(texts))]
    encoded: dict[int, list[list[int]]] = {}
    sets, cursor = [], 0
    for encode, n in zip(encoders, sizes, strict=True):
        ids = encoded.setdefault(id(encode), encode(pooled))
        need, got = n * block_size, []
        while len(got) < need:
            if cursor == len(pooled):
                if not any(ids):
                    raise ValueError("the pooled texts hold no tokens")
                cursor = 0
            got += ids[cursor]
            cursor += 1
        sets.append(np.asarray(got[:need], dtype=np.int64).reshape(n, block_size))
    return pooled, sets, n_real
