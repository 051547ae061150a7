"""The pool step: concatenate the generated sets, optionally swap in fresh real
blocks, shuffle, and hand every model a new training set of its share's size."""

from __future__ import annotations

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
