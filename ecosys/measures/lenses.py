"""What collapses: lenses on the continuations a model generated at t, per (t, model).

Test perplexity says a model got worse, not how. These measures look at its own output
(token ids [n, L], the generated part only, prompts excluded) and say in what way:
fewer distinct phrasings (distinct-n, self-BLEU), a narrower vocabulary (entropy, vocab,
Zipf slope), a lost tail (tail share; in the synthetic world, tail recall against the
exact p_data). They read token ids alone, so they mean the same on the synthetic world
and on real text. Pure numpy (and sacrebleu): the analysis may import this without torch.
"""

from __future__ import annotations

import numpy as np
from sacrebleu.metrics import BLEU
from sacrebleu.metrics.helpers import extract_all_word_ngrams

TAIL_COVER = 0.9  # the head: the most frequent tokens covering this share of real text
TAIL_TRANSITION = 0.05  # a true next token this unlikely under p_data is a tail transition
RECALLED = 0.5  # the share of its true probability a model must keep to recall it


def distinct_n(blocks: np.ndarray, n: int) -> float:
    """Distinct n-grams / all n-grams, pooled over the set (Li et al., 2016).

    n-grams lie inside one continuation (never across rows: rows are unrelated
    samples, a seam between them is no phrase). Falls as a model repeats itself.
    nan when no row has n tokens.
    """
    blocks = np.asarray(blocks)
    if blocks.shape[1] < n:
        return float("nan")
    grams = np.lib.stride_tricks.sliding_window_view(blocks, n, axis=1).reshape(-1, n)
    return len(np.unique(grams, axis=0)) / len(grams)


def _counts(blocks: np.ndarray) -> np.ndarray:
    """How often each token id occurs (ids that occur only)."""
    return np.unique(np.asarray(blocks), return_counts=True)[1]


def unigram_entropy(blocks: np.ndarray) -> float:
    """Entropy (nats) of the generated tokens' unigram distribution: how evenly a model
    spreads its output over the vocabulary; collapse concentrates it."""
    p = _counts(blocks) / np.asarray(blocks).size
    return float(-(p * np.log(p)).sum())


def vocab(blocks: np.ndarray) -> int:
    """Number of distinct token ids generated: the vocabulary a model still uses."""
    return len(_counts(blocks))


def tail_tokens(train_blocks: np.ndarray, vocab_size: int, cover: float = TAIL_COVER) -> np.ndarray:
    """[vocab_size] bool mask of the tail: every token id outside the head, the smallest
    set of most frequent ids covering ≥ `cover` of the real training tokens.

    Fixed from real text, not from the model's output, so every (t, model) is measured
    against one yardstick. Ids are ranked by count, ties by ascending id (the lower id
    joins the head first), so the mask is deterministic. Ids never seen in training are
    tail. Shares come from integer counts (cumsum / total), so a share that is exactly
    `cover` counts as reaching it.
    """
    counts = np.bincount(np.asarray(train_blocks).ravel(), minlength=vocab_size)
    order = np.lexsort((np.arange(vocab_size), -counts))  # by count desc, then id asc
    share = np.cumsum(counts[order]) / counts.sum()
    head = order[: int(np.searchsorted(share, cover, side="left")) + 1]
    tail = np.ones(vocab_size, dtype=bool)
    tail[head] = False
    return tail


def tail_share(blocks: np.ndarray, tail_mask: np.ndarray) -> float:
    """Share of generated tokens in the tail: a model that forgets rare tokens, as
    re-trained models do first, stops emitting them."""
    return float(np.mean(tail_mask[np.asarray(blocks)]))


def zipf_slope(blocks: np.ndarray, max_rank: int = 1000) -> float:
    """Slope of the least-squares line of log frequency on log rank over ranks
    1…min(max_rank, distinct tokens) of the generated tokens.

    Natural text sits near −1; a collapsing model piles mass on its top tokens and the
    slope steepens. Ranks beyond max_rank are a noisy floor of single counts and left
    out. nan with fewer than 2 distinct tokens (no line).
    """
    counts = np.sort(_counts(blocks))[::-1][:max_rank]
    if len(counts) < 2:
        return float("nan")
    rank = np.arange(1, len(counts) + 1)
    return float(np.polyfit(np.log(rank), np.log(counts), 1)[0])


def self_bleu(blocks: np.ndarray, k: int = 64, seed: int = 0) -> float:
    """Mean sentence BLEU of each of k continuations against the other k − 1 as
    references (Zhu et al., 2018), on the 0–1 scale (sacrebleu's score / 100, the scale
    of distinct-n): high when a model's samples are copies of one another.

    The k are a fixed subsample drawn with `seed` (all rows if there are no more than
    k). Token ids joined by spaces are the words (sacrebleu, tokenize='none'), so no
    detokenizer is involved and the synthetic world is scored as real text is;
    effective order and exp smoothing, as sentence BLEU needs. Equal to sacrebleu's
    `sentence_score` per row, in O(k) rather than its O(k²): each row's clipped counts
    take, per n-gram, the largest count among the *other* rows, which is the largest of
    all rows or, where this row holds it, the second largest. nan with fewer than 2 rows.
    """
    blocks = np.asarray(blocks)
    if len(blocks) < 2:
        return float("nan")
    rows = np.arange(len(blocks))
    if len(blocks) > k:
        rows = np.sort(np.random.default_rng(seed).choice(len(blocks), size=k, replace=False))
    bleu = BLEU(tokenize="none", effective_order=True)
    order = bleu.max_ngram_order
    grams = [
        extract_all_word_ngrams(" ".join(map(str, blocks[r].tolist())), 1, order) for r in rows
    ]
    best: dict[tuple, list[tuple[int, int]]] = {}  # n-gram → its two largest (count, row)
    for i, (counts, _) in enumerate(grams):
        for gram, c in counts.items():
            top = best.setdefault(gram, [])
            top.append((c, i))
            if len(top) > 2:
                top.sort(reverse=True)
                top.pop()
    lengths = [n for _, n in grams]
    scores = []
    for i, (counts, n) in enumerate(grams):
        correct, total = [0] * order, [0] * order
        for gram, c in counts.items():
            others = [cnt for cnt, row in best[gram] if row != i]
            correct[len(gram) - 1] += min(c, max(others, default=0))
            total[len(gram) - 1] += c
        ref_len = bleu._get_closest_ref_len(n, lengths[:i] + lengths[i + 1 :])
        score = bleu.compute_bleu(
            correct, total, n, ref_len, bleu.smooth_method, bleu.smooth_value, True, order
        )
        scores.append(score.score)
    return float(np.mean(scores)) / 100


def lexical(blocks: np.ndarray, tail_mask: np.ndarray, seed: int) -> dict[str, float]:
    """Every lens on one model's continuations, under its final metric name.

    Self-BLEU is in (lens/self_bleu, 0–1) with the `seed` of its subsample, so a phase
    body makes one call; pass the unit's derived seed for a reproducible row.
    """
    out = {f"lens/distinct_{n}": distinct_n(blocks, n) for n in range(1, 5)}
    out["lens/entropy"] = unigram_entropy(blocks)
    out["lens/vocab"] = vocab(blocks)
    out["lens/tail_share"] = tail_share(blocks, tail_mask)
    out["lens/zipf"] = zipf_slope(blocks)
    out["lens/self_bleu"] = self_bleu(blocks, seed=seed)
    return out


def quantiles(ppl: np.ndarray) -> dict[str, float]:
    """Upper quantiles of per-block perplexity: collapse shows first in the blocks a
    model finds hardest (the tail), which the mean dilutes. Linear interpolation."""
    q = np.quantile(np.asarray(ppl, dtype=np.float64), [0.5, 0.9, 0.99])
    return {"ppl/p50": float(q[0]), "ppl/p90": float(q[1]), "ppl/p99": float(q[2])}


def tail_recall(
    model_probs: np.ndarray,
    data_probs: np.ndarray,
    threshold: float = TAIL_TRANSITION,
    keep: float = RECALLED,
) -> float:
    """Share of tail transitions a model still knows, on fresh p_data blocks.

    Both arrays are [n, L-1], the probabilities of the true next tokens x_{i+1}:
    `model_probs` the model's, `data_probs` p_data's as the oracle gives them
    (`TopicChains.next_token_log_probs`, exponentiated: the posterior-mixture predictive
    p(x_{i+1} | x_1..x_i), the topic being latent in the fresh blocks, which is what an
    ideal model could assign). A position is a tail transition where
    data_probs < threshold; it is recalled where model_probs ≥ keep · data_probs.
    Perplexity barely moves when these go (they are rare); this sees them go.
    nan without tail transitions.
    """
    model_probs, data_probs = np.asarray(model_probs), np.asarray(data_probs)
    tail = data_probs < threshold
    if not tail.any():
        return float("nan")
    return float(np.mean(model_probs[tail] >= keep * data_probs[tail]))


def cross_ratio(matrix: np.ndarray) -> tuple[float, float]:
    """(cross perplexity, cross / self) of an M×M perplexity matrix whose diagonal is
    each model on its own material: the mean off-diagonal entry, and its ratio to the
    mean diagonal entry. A ratio near 1 means the models' worlds have merged (an
    ecosystem collapsed onto one language); large, that they drifted apart.
    (nan, nan) for M = 1: there is no other model. Unscored pairs (nan) are left out.
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    m = len(matrix)
    if m < 2:
        return float("nan"), float("nan")
    off = np.nanmean(matrix[~np.eye(m, dtype=bool)])  # nan: a pair not scored
    return float(off), float(off / np.diag(matrix).mean())
