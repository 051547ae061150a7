"""The lenses on generated text, each against values worked out by hand on tiny arrays."""

import math

import numpy as np
import pytest
import sacrebleu
from helpers import cli, only_run_dir, small_args
from sacrebleu.metrics import BLEU

from ecosys.data.world import TopicChains
from ecosys.measures import lenses
from ecosys.rundir.layout import read_metrics

# Two rows; row 0 ends with 2 and row 1 starts with 2: a bigram (2, 2) across the seam
# would be new, so it shows whether n-grams cross rows.
ROWS = np.array([[1, 2, 1, 2], [2, 1, 3, 3]])


def test_distinct_n_pools_rows_but_never_crosses_them():
    assert lenses.distinct_n(ROWS, 1) == 3 / 8
    assert lenses.distinct_n(ROWS, 2) == 4 / 6  # (1,2) twice, (2,1) twice; not 5/7
    assert lenses.distinct_n(ROWS, 3) == 1.0
    assert lenses.distinct_n(ROWS, 4) == 1.0
    assert math.isnan(lenses.distinct_n(ROWS, 5))
    assert lenses.distinct_n(np.zeros((3, 5), dtype=np.int64), 2) == 1 / 12


def test_entropy_and_vocab_of_a_known_distribution():
    blocks = np.array([[7, 7, 3, 9]])  # p = 1/2, 1/4, 1/4
    assert lenses.unigram_entropy(blocks) == pytest.approx(1.5 * math.log(2), abs=1e-12)
    assert lenses.vocab(blocks) == 3
    assert lenses.unigram_entropy(np.full((2, 3), 4)) == 0.0


def _with_counts(counts: list[int]) -> np.ndarray:
    """One row holding token id r (from 10 on) counts[r] times, shuffled."""
    ids = np.repeat(np.arange(10, 10 + len(counts)), counts)
    return np.random.default_rng(0).permutation(ids)[None]


def test_zipf_slope_of_an_exact_power_law():
    assert lenses.zipf_slope(_with_counts([840 // r for r in range(1, 9)])) == pytest.approx(
        -1.0, abs=1e-9
    )
    assert lenses.zipf_slope(_with_counts([3600 // r**2 for r in range(1, 7)])) == pytest.approx(
        -2.0, abs=1e-9
    )
    # ranks past max_rank are left out of the fit
    bent = _with_counts([840 // r for r in range(1, 9)] + [1, 1, 1])
    assert lenses.zipf_slope(bent, max_rank=8) == pytest.approx(-1.0, abs=1e-9)
    assert lenses.zipf_slope(bent) < -1.0
    assert math.isnan(lenses.zipf_slope(np.full((2, 3), 5)))


def test_tail_is_outside_the_head_covering_ninety_percent_ties_by_id():
    # counts by id: 0:4, 1:2, 2:2, 3:1, 4:1, 5:0 (10 tokens, order scrambled)
    train = np.array([[4, 0, 2, 1, 0], [3, 2, 0, 1, 0]])
    # cumulative shares .4 .6 .8 .9: id 3 reaches exactly 0.9 and beats id 4 (same count)
    np.testing.assert_array_equal(
        lenses.tail_tokens(train, 6), [False, False, False, False, True, True]
    )
    # at 0.5 the head is {0, 1}: id 2 ties with id 1 but the lower id goes first
    np.testing.assert_array_equal(
        lenses.tail_tokens(train, 6, cover=0.5), [False, False, True, True, True, True]
    )
    # every seen id is head at cover 1; unseen ids are always tail
    np.testing.assert_array_equal(
        lenses.tail_tokens(train, 7, cover=1.0), [False] * 5 + [True, True]
    )
    tail = lenses.tail_tokens(train, 6)
    assert lenses.tail_share(np.array([[4, 5, 0, 1], [3, 3, 2, 4]]), tail) == 3 / 8


def test_self_bleu_is_sacrebleu_sentence_bleu_against_the_others():
    blocks = np.array([[1, 2, 3, 4, 5], [1, 2, 3, 4, 6], [7, 8, 3, 4, 5]])
    texts = ["1 2 3 4 5", "1 2 3 4 6", "7 8 3 4 5"]
    direct = [
        sacrebleu.sentence_bleu(
            texts[i], texts[:i] + texts[i + 1 :], tokenize="none", use_effective_order=True
        ).score
        for i in range(3)
    ]
    assert lenses.self_bleu(blocks) == pytest.approx(np.mean(direct) / 100, abs=1e-12)
    assert 0 < lenses.self_bleu(blocks) < 1
    assert lenses.self_bleu(np.tile(blocks[:1], (4, 1))) == pytest.approx(1.0)
    assert math.isnan(lenses.self_bleu(blocks[:1]))


def test_self_bleu_subsample_is_seeded():
    rng = np.random.default_rng(1)
    blocks = rng.integers(0, 6, size=(20, 8))
    a = lenses.self_bleu(blocks, k=5, seed=3)
    assert a == lenses.self_bleu(blocks, k=5, seed=3)
    assert a != lenses.self_bleu(blocks, k=5, seed=4)
    assert lenses.self_bleu(blocks, k=20) == lenses.self_bleu(blocks, k=64, seed=9)  # all rows


def test_lexical_names_every_lens():
    tail = lenses.tail_tokens(ROWS, 4)
    out = lenses.lexical(ROWS, tail, seed=0)
    assert list(out) == [
        "lens/distinct_1",
        "lens/distinct_2",
        "lens/distinct_3",
        "lens/distinct_4",
        "lens/entropy",
        "lens/vocab",
        "lens/tail_share",
        "lens/zipf",
        "lens/self_bleu",
    ]
    assert out["lens/distinct_2"] == 4 / 6
    assert out["lens/vocab"] == 3
    assert out["lens/self_bleu"] == lenses.self_bleu(ROWS)


def test_quantiles():
    ppl = np.random.default_rng(0).permutation(np.arange(1.0, 102.0))
    assert lenses.quantiles(ppl) == {"ppl/p50": 51.0, "ppl/p90": 91.0, "ppl/p99": 100.0}


def test_cross_ratio_of_a_hand_matrix():
    assert lenses.cross_ratio(np.array([[2.0, 4.0], [6.0, 2.0]])) == (5.0, 2.5)
    three = np.array([[1.0, 2.0, 3.0], [4.0, 2.0, 6.0], [7.0, 8.0, 3.0]])
    assert lenses.cross_ratio(three) == pytest.approx((5.0, 2.5))
    assert all(math.isnan(v) for v in lenses.cross_ratio(np.array([[3.0]])))


def test_tail_recall_counts_tail_transitions_kept_at_half():
    data = np.array([[0.5, 0.04, 0.01], [0.02, 0.9, 0.049]])
    model = np.array([[0.1, 0.02, 0.001], [0.5, 0.0, 0.02]])
    # tail: .04 (kept: .02 ≥ .02), .01 (lost), .02 (kept), .049 (lost: .02 < .0245)
    assert lenses.tail_recall(model, data) == 0.5
    assert math.isnan(lenses.tail_recall(model, np.full((2, 3), 0.5)))


def test_oracle_next_token_probs_are_the_posterior_mixture_predictive():
    trans = np.array([[[0.9, 0.1], [0.5, 0.5]], [[0.2, 0.8], [0.5, 0.5]]])
    p = TopicChains(np.array([0.5, 0.5]), trans)
    pi0 = np.array([5 / 6, 5 / 13])  # π_k(0) of either chain
    got = np.exp(p.next_token_log_probs(np.array([[0, 0, 1]])))
    first = (pi0 * [0.9, 0.2]).sum() / pi0.sum()  # p(x2 = 0 | x1 = 0)
    second = (pi0 * [0.9 * 0.1, 0.2 * 0.8]).sum() / (pi0 * [0.9, 0.2]).sum()
    np.testing.assert_allclose(got, [[first, second]], rtol=1e-12)
    # the row sums are what the oracle's block_nll scores
    blocks = p.sample(50, 6, np.random.default_rng(0))
    np.testing.assert_allclose(
        p.next_token_log_probs(blocks).sum(-1),
        p.log_prob(blocks) - p.first_token_log_prob(blocks[:, 0]),
        rtol=1e-12,
    )


def test_self_bleu_equals_sentence_bleu_against_the_others_on_random_rows():
    """The O(k) clipping (largest count among the other rows) gives sacrebleu's own
    sentence_score of every row, also with repeated rows and uneven lengths."""
    rng = np.random.default_rng(0)
    for length in (3, 7, 11):
        blocks = rng.integers(0, 6, size=(30, length))
        blocks = np.concatenate([blocks, blocks[:4]])  # copies: the clipping's second largest
        texts = [" ".join(map(str, r.tolist())) for r in blocks]
        bleu = BLEU(tokenize="none", effective_order=True)
        scores = [
            bleu.sentence_score(h, texts[:i] + texts[i + 1 :]).score for i, h in enumerate(texts)
        ]
        assert lenses.self_bleu(blocks, k=64) == pytest.approx(np.mean(scores) / 100, abs=1e-12)


LEXICAL = [*(f"lens/distinct_{n}" for n in range(1, 5)), "lens/entropy", "lens/vocab"]
GENERATED = [*LEXICAL, "lens/tail_share", "lens/zipf", "lens/self_bleu", "lens/self_ppl"]
SCORED = ["ppl/p50", "ppl/p90", "ppl/p99", "lens/tail_top10", "lens/tail_recall"]


@pytest.mark.slow
def test_a_run_logs_every_lens_where_it_applies(tmp_path, cache_dir):
    """M = 2, T = 3 on the synthetic world: the test-set lenses at every t (the
    reference tail share at t = -1), the generation lenses where the models generated
    (t < T-1), the cross matrix whose diagonal is each model's self perplexity, and
    the pool's lenses; lenses.enabled=false logs none of them."""
    cli(*small_args(tmp_path / "on", cache_dir, "diversity=d2", "T=3"))
    run = only_run_dir(tmp_path / "on")
    rows = read_metrics(run)
    for r in rows:
        model = r["scope"] == "model"
        assert set(SCORED) <= set(r), (r["t"], r["scope"])
        generated = set(GENERATED) <= set(r)
        assert generated == (0 <= r["t"] < 2), (r["t"], r["scope"])
        if r["t"] < 0:
            assert 0 <= r["lens/tail_share"] <= 1
        if not model and 0 <= r["t"] < 2:
            assert {"lens/cross_ppl", "lens/cross_ratio", "pool/distinct_1"} <= set(r)
    for t in (0, 1):
        matrix = np.load(run / "cross" / f"t{t:02d}.npy")
        own = [r["lens/self_ppl"] for r in rows if r["t"] == t and r["scope"] == "model"]
        np.testing.assert_allclose(np.diag(matrix), own, rtol=1e-5)
    assert not (run / "cross" / "t02.npy").exists()

    cli(*small_args(tmp_path / "off", cache_dir, "diversity=d2", "T=2", "lenses.enabled=false"))
    off = only_run_dir(tmp_path / "off")
    assert not any(k.startswith(("lens/", "pool/d")) for r in read_metrics(off) for k in r)
    assert not (off / "cross").exists()
