"""The N-block sample, its segmentation into generation sets, and the pool step."""

from collections import Counter

import numpy as np
import pytest

from ecosys import corpus, seeds
from ecosys.pool import redistribute


def test_budget_is_a_seeded_fraction_capped_by_max_blocks():
    a = corpus.budget(1000, 0.4, None, seed=3)
    assert len(a) == 400 and len(set(a)) == 400 and a.max() < 1000
    np.testing.assert_array_equal(a, corpus.budget(1000, 0.4, None, seed=3))
    assert not np.array_equal(a, corpus.budget(1000, 0.4, None, seed=4))
    assert len(corpus.budget(1000, 0.4, 128, seed=3)) == 128
    assert len(corpus.budget(1000, 1.0, None, seed=3)) == 1000


@pytest.mark.parametrize(
    ("n", "shares", "sizes"),
    [
        (512, [0.25] * 4, [128] * 4),
        (100, [1 / 3] * 3, [33, 33, 33]),  # remainder of 1 dropped
        (100, [0.5, 0.3, 0.2], [50, 30, 20]),
        (10, [1 / 16] * 16, [0] * 16),
    ],
)
def test_split_sizes_floor_each_share(n, shares, sizes):
    assert corpus.split_sizes(n, shares) == sizes


def test_segments_are_disjoint_and_cover_all_but_the_remainder():
    sample = corpus.budget(1000, 0.4, None, seed=0)
    sets = corpus.segment(sample, corpus.split_sizes(len(sample), [1 / 3] * 3), seed=0)
    assert [len(s) for s in sets] == [133] * 3
    joined = np.concatenate(sets)
    assert len(set(joined)) == len(joined) == 399
    assert set(joined) <= set(sample)
    again = corpus.segment(sample, [133] * 3, seed=0)
    assert all(np.array_equal(x, y) for x, y in zip(sets, again, strict=True))


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


def test_slices_cut_consecutively():
    assert corpus.slices([2, 3, 1]) == [slice(0, 2), slice(2, 5), slice(5, 6)]
