"""The curation kernel: ranking with seeded ties, the degenerate filter, and the refill
that brings the kept blocks back to the pool's size."""

from __future__ import annotations

import numpy as np

from ecosys.kernels import curation


def test_top_keeps_the_highest_share_and_breaks_ties_by_the_seed_not_the_position():
    scores = np.array([0.1, 0.9, 0.5, 0.9, 0.9, 0.2])
    kept = curation.top(scores, 0.5, np.random.default_rng(0))
    assert len(kept) == 3 and list(kept) == sorted(kept)
    assert set(kept) == {1, 3, 4}  # the three tied at the top
    ties = np.ones(1000)
    picks = [curation.top(ties, 0.01, np.random.default_rng(s)) for s in range(3)]
    assert all(len(p) == 10 for p in picks)
    assert not all(np.array_equal(picks[0], p) for p in picks[1:])  # not the first ten
    assert len(curation.top(scores, 1e-9, np.random.default_rng(0))) == 1  # at least one


def test_commonest_share_equals_a_count_per_block():
    rng = np.random.default_rng(1)
    blocks = rng.integers(0, 5, size=(200, 16))
    blocks[:10] = 3  # one token throughout
    want = np.array([np.bincount(b).max() for b in blocks]) / blocks.shape[1]
    np.testing.assert_array_equal(curation.commonest_share(blocks), want)
    assert np.all(curation.commonest_share(blocks[:10]) == 1.0)


def test_not_degenerate_drops_repeats_and_one_token_blocks():
    blocks = np.array(
        [
            [1, 2, 3, 4],
            [1, 2, 3, 4],  # a repeat of block 0
            [5, 5, 5, 1],  # 3/4 one token
            [5, 5, 6, 7],  # 1/2: kept at max_share 0.5
            [7, 6, 5, 4],
        ]
    )
    assert list(curation.not_degenerate(blocks, 0.5)) == [0, 3, 4]
    assert list(curation.not_degenerate(blocks, 0.25)) == [0, 4]
    assert list(curation.not_degenerate(np.full((3, 4), 9), 0.5)) == [0]  # none passes


def test_refill_repeats_every_kept_block_in_turn():
    kept = np.array([2, 5, 7])
    idx = curation.refill(kept, 10, np.random.default_rng(0))
    assert len(idx) == 10 and set(idx) == set(kept)
    counts = np.bincount(idx)[kept]
    assert sorted(counts) == [3, 3, 4]  # ⌊10/3⌋ each, one of them once more
    np.testing.assert_array_equal(
        curation.refill(np.arange(6), 6, np.random.default_rng(0)), np.arange(6)
    )
