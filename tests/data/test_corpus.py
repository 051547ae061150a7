"""The N-block sample and its segmentation into generation sets."""

import numpy as np
import pytest

from ecosys.data import corpus


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


def test_slices_cut_consecutively():
    assert corpus.slices([2, 3, 1]) == [slice(0, 2), slice(2, 5), slice(5, 6)]
