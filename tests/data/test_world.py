"""The synthetic world's p_data is exact: probabilities sum to one, sampling follows
them, and the entropy rate matches its Monte-Carlo estimate."""

import itertools
from types import SimpleNamespace

import numpy as np
import pytest

from ecosys.data import world

CFG = SimpleNamespace(
    seed=7,
    vocab_size=5,
    topics=3,
    topic_rows=0.5,
    min_successors=2,
    max_successors=4,
    zipf_min=0.7,
    zipf_max=1.5,
    pretrain_rows=0.5,
    pretrain_mix=0.7,
)


@pytest.fixture(scope="module")
def worlds():
    return world.build(CFG)


def test_rows_are_distributions_and_chains_irreducible(worlds):
    for chains in worlds:
        np.testing.assert_allclose(chains.trans.sum(-1), 1.0)
        np.testing.assert_allclose(chains.weights.sum(), 1.0)
        pi = chains.stationary
        np.testing.assert_allclose(np.einsum("kv,kvw->kw", pi, chains.trans), pi, atol=1e-10)
        assert (pi > 0).all()


def test_log_prob_sums_to_one_over_all_sequences(worlds):
    p, _ = worlds
    seqs = np.array(list(itertools.product(range(CFG.vocab_size), repeat=4)))
    total = np.exp(p.log_prob(seqs)).sum()
    assert total == pytest.approx(1.0, abs=1e-10)
    # and the first-token marginal is the sum over continuations
    firsts = np.exp(p.first_token_log_prob(np.arange(CFG.vocab_size)))
    assert firsts.sum() == pytest.approx(1.0, abs=1e-10)


def test_sampling_follows_the_exact_probabilities(worlds):
    p, _ = worlds
    x = p.sample(60000, 3, np.random.default_rng(0))
    seqs, counts = np.unique(x, axis=0, return_counts=True)
    expected = np.exp(p.log_prob(seqs)) * len(x)
    # every observed sequence is possible, and frequencies match (chi-square per cell)
    assert np.isfinite(p.log_prob(seqs)).all()
    chi2 = ((counts - expected) ** 2 / expected).sum()
    dof = len(seqs) - 1
    assert chi2 < dof + 5 * np.sqrt(2 * dof)


def test_entropy_rate_matches_monte_carlo(worlds):
    p, _ = worlds
    length = 400
    x = p.sample(400, length, np.random.default_rng(1))
    per_token = -(p.log_prob(x) - p.first_token_log_prob(x[:, 0])) / (length - 1)
    # long blocks: the topic is inferred early, so the per-token NLL tends to H
    assert per_token.mean() == pytest.approx(p.entropy_rate(), rel=0.03)


def test_the_world_is_a_function_of_its_seed_and_q_differs_from_p(worlds):
    p, q = worlds
    p2, _ = world.build(CFG)
    np.testing.assert_array_equal(p.trans, p2.trans)
    assert not np.allclose(p.trans, q.trans)


def test_oracle_block_perplexity_is_the_conditional_of_tokens_2_to_L(worlds):
    p, _ = worlds
    x = p.sample(5, 6, np.random.default_rng(2))
    # brute-force chain rule over the mixture posterior
    for row in x:
        logp = 0.0
        for i in range(1, len(row)):
            logp += p.log_prob(row[None, : i + 1])[0] - p.log_prob(row[None, :i])[0]
        expected = np.exp(-logp / (len(row) - 1))
        assert p.block_perplexity(row[None])[0] == pytest.approx(expected, rel=1e-9)
