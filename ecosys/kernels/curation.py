"""Curation: which generated blocks enter the pool, and how the pool returns to its size.

A score per generated block (the phase computes it: ecosys/schedule/phases/exchange.py)
ranks the blocks; the kept ones are then repeated in turn until there are as many as
were generated (every kept block ⌊N/k⌋ times, a seeded ⌈N mod k⌉ of them once more).
So the pool still holds N blocks and every model its n_m = N/M of them: D's trade-off
stays the paper's, and what curation costs is the pool's unique blocks, k instead of N.
"""

from __future__ import annotations

import numpy as np


def top(scores: np.ndarray, keep: float, rng: np.random.Generator) -> np.ndarray:
    """The sorted indices of the round(keep · n) highest scores (at least one); ties are
    broken by a seeded draw, not by position, so no model's blocks are favoured."""
    k = max(1, round(keep * len(scores)))
    order = np.lexsort((rng.permutation(len(scores)), -np.asarray(scores, float)))
    return np.sort(order[:k])


def commonest_share(blocks: np.ndarray) -> np.ndarray:
    """Per block: the share of its tokens taken by its most frequent token."""
    blocks = np.asarray(blocks)
    ordered = np.sort(blocks, axis=1)
    starts = np.ones_like(ordered, dtype=bool)
    starts[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    # the longest run of one value in each sorted row
    idx = np.where(starts, np.arange(blocks.shape[1]), 0)
    run_start = np.maximum.accumulate(idx, axis=1)
    longest = (np.arange(blocks.shape[1]) - run_start + 1).max(axis=1)
    return longest / blocks.shape[1]


def not_degenerate(blocks: np.ndarray, max_share: float) -> np.ndarray:
    """The sorted indices of the blocks that are neither a repeat of an earlier block nor
    dominated by one token (its share > max_share); the least dominated block when no
    block passes, so that a pool can still be made."""
    share = commonest_share(blocks)
    _, first = np.unique(np.asarray(blocks), axis=0, return_index=True)
    fresh = np.zeros(len(blocks), dtype=bool)
    fresh[first] = True
    kept = np.flatnonzero(fresh & (share <= max_share))
    return kept if len(kept) else np.array([int(np.argmin(share))])


def refill(kept: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """n indices from `kept`: each ⌊n/k⌋ times, and a seeded n mod k of them once more."""
    rounds, extra = divmod(n, len(kept))
    return np.concatenate([np.tile(kept, rounds), rng.choice(kept, size=extra, replace=False)])
