"""The pool step: the generated sets pooled, a real fraction swapped in, shuffled."""

from collections import Counter

import numpy as np

from ecosys.kernels.pooling import redistribute
from ecosys.runtime import seeds


def test_pool_without_real_data_is_a_permutation_of_the_generated_blocks():
    rng = np.random.default_rng(0)
    gen = [rng.integers(0, 50, size=(n, 4)) for n in (5, 7, 3)]
    pool, n_real = redistribute(
        [g.copy() for g in gen], np.zeros((10, 4), int), 0.0, seeds.rng(0, "pool", 0)
    )
    assert n_real == 0 and pool.shape == (15, 4)
    key = lambda a: Counter(map(bytes, a.astype(np.int64)))  # noqa: E731
    assert key(pool) == key(np.concatenate(gen))
    assert not np.array_equal(pool, np.concatenate(gen))  # shuffled


def test_pool_replaces_the_real_fraction_with_real_blocks():
    gen = [np.full((50, 4), -1), np.full((50, 4), -2)]
    real = np.arange(400).reshape(100, 4)
    pool, n_real = redistribute(gen, real, 0.1, np.random.default_rng(1))
    assert n_real == 10
    is_real = (pool >= 0).all(1)
    assert is_real.sum() == 10
    assert len({bytes(r) for r in pool[is_real]}) == 10  # distinct real blocks
    assert set(map(bytes, pool[is_real])) <= set(map(bytes, real))
