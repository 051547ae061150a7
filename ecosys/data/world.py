"""The synthetic world: a language whose true distribution p_data is known exactly.

Why a synthetic world: with real text nobody knows p_data, so collapse can only be
seen through test perplexity. Here every quantity the paper can only hypothesize
(the floor exp(H), a model's true excess cross-entropy, a pool's divergence) is exact.

The family is a *mixture of topic chains*. Each block of text draws one latent
topic k ~ w, its first token from chain k's stationary distribution π_k, then
every next token from chain k's sparse transition matrix P_k:

    p(x_1..L) = Σ_k w_k · π_k(x_1) · Π_i P_k(x_i | x_{i-1})

- Zipf rows with a rare tail: row s of P_k puts mass ∝ rank^-a on its
  successors, with the support size and exponent a drawn per row, so the entropy
  differs from row to row and every row has a tail of low-probability successors
  that beam search never emits and re-trained models lose.
- A long-ish dependency: the topic is shared by the whole block and must be
  inferred from the context seen so far, so a model that only learns bigram
  statistics is measurably worse than the oracle.
- Every row also reaches (s + 1) mod V, so each chain is irreducible and π_k unique.

The pretraining distribution Q has the same topics with a share of their rows
replaced by a mix with fresh Zipf rows (and other topic weights): related but
different, as OPT's pretraining corpus is to WikiText-2, so fine-tuning on p_data
helps the base model.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np


@dataclass(frozen=True)
class TopicChains:
    """A mixture of K first-order Markov chains over V tokens (one topic per block)."""

    weights: np.ndarray  # [K] topic probabilities w_k
    trans: np.ndarray  # [K, V, V] row-stochastic transition matrices P_k

    @property
    def vocab_size(self) -> int:
        return self.trans.shape[-1]

    @cached_property
    def stationary(self) -> np.ndarray:
        """π_k for every topic, [K, V], from the linear system π (P - I) = 0, Σ π = 1."""
        k, v, _ = self.trans.shape
        out = np.empty((k, v))
        for i in range(k):
            a = np.vstack([self.trans[i].T - np.eye(v), np.ones((1, v))])
            b = np.zeros(v + 1)
            b[-1] = 1.0
            pi = np.linalg.lstsq(a, b, rcond=None)[0]
            pi = np.clip(pi, 0.0, None)
            out[i] = pi / pi.sum()
        return out

    @cached_property
    def _log_trans(self) -> np.ndarray:
        with np.errstate(divide="ignore"):
            return np.log(self.trans)

    def entropy_rate(self) -> float:
        """Per-token entropy H (nats) of a long block: Σ_k w_k Σ_s π_k(s) H(P_k[s]).

        exp(H) is the best per-token perplexity any model can reach once the topic
        is known; the oracle's per-block perplexity on short blocks sits a little
        above it (the topic must first be inferred).
        """
        with np.errstate(divide="ignore", invalid="ignore"):
            row_h = -np.where(self.trans > 0, self.trans * self._log_trans, 0.0).sum(-1)
        return float((self.weights[:, None] * self.stationary * row_h).sum())

    def log_prob(self, blocks: np.ndarray) -> np.ndarray:
        """Exact log p(x_1..L) for each row of `blocks` [B, L] (nats; -inf if impossible)."""
        blocks = np.asarray(blocks, dtype=np.int64)
        with np.errstate(divide="ignore"):
            per_topic = np.log(self.weights)[:, None] + np.log(self.stationary[:, blocks[:, 0]])
        prev, nxt = blocks[:, :-1], blocks[:, 1:]
        for k in range(len(self.weights)):
            per_topic[k] += self._log_trans[k][prev, nxt].sum(-1)
        return _logsumexp(per_topic, axis=0)

    def first_token_log_prob(self, tokens: np.ndarray) -> np.ndarray:
        """log p(x_1) = log Σ_k w_k π_k(x_1)."""
        with np.errstate(divide="ignore"):
            return np.log(self.weights @ self.stationary[:, np.asarray(tokens)])

    def block_nll(self, blocks: np.ndarray) -> np.ndarray:
        """The oracle's mean NLL per block, scored like a causal LM scores a block: of
        tokens 2..L given their prefix (the first token has no context, is not predicted)."""
        blocks = np.asarray(blocks)
        cond = self.log_prob(blocks) - self.first_token_log_prob(blocks[:, 0])
        return -cond / (blocks.shape[1] - 1)

    def block_perplexity(self, blocks: np.ndarray) -> np.ndarray:
        """The oracle's per-block perplexity: exp(block_nll)."""
        return np.exp(self.block_nll(blocks))

    def next_token_log_probs(self, blocks: np.ndarray) -> np.ndarray:
        """[B, L-1]: the oracle's log p(x_{i+1} | x_1..x_i) of every true next token.

        The topic is latent, so this is the posterior-mixture predictive
        Σ_k p(k | x_1..x_i) P_k(x_{i+1} | x_i): what the ideal model, which must infer
        the topic from the prefix as any model must, assigns. Its row sums are exactly
        block_nll's numerator (log p(x_1..L) − log p(x_1)), computed as differences of
        the prefix log-marginals.
        """
        blocks = np.asarray(blocks, dtype=np.int64)
        with np.errstate(divide="ignore"):
            first = np.log(self.weights)[:, None] + np.log(self.stationary[:, blocks[:, 0]])
        prev, nxt = blocks[:, :-1], blocks[:, 1:]
        steps = np.stack([self._log_trans[k][prev, nxt] for k in range(len(self.weights))])
        prefix = np.concatenate([first[..., None], first[..., None] + steps.cumsum(-1)], -1)
        return np.diff(_logsumexp(prefix, axis=0), axis=-1)  # [K, B, L] → [B, L] → [B, L-1]

    def restrict(self, topics: list[int]) -> TopicChains:
        """The language of a community that speaks only `topics` (weights renormalised)."""
        idx = np.asarray(topics)
        w = self.weights[idx]
        return TopicChains(w / w.sum(), self.trans[idx])

    def smoothed(self, eps: float) -> TopicChains:
        """Every row mixed with eps of the uniform distribution: a p_data under which any
        sequence has a finite log-probability (what a ground metric on model output needs)."""
        v = self.vocab_size
        return TopicChains(self.weights, (1 - eps) * self.trans + eps / v)

    def sample(self, n: int, length: int, rng: np.random.Generator) -> np.ndarray:
        """n blocks of `length` tokens, [n, length] int64."""
        topics = rng.choice(len(self.weights), size=n, p=self.weights)
        cdf_first = np.cumsum(self.stationary, axis=-1)
        cdf = np.cumsum(self.trans, axis=-1)
        out = np.empty((n, length), dtype=np.int64)
        out[:, 0] = _draw(cdf_first[topics], rng)
        for i in range(1, length):
            out[:, i] = _draw(cdf[topics, out[:, i - 1]], rng)
        return out


def _draw(cdf_rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    u = rng.random(len(cdf_rows)) * cdf_rows[:, -1]
    return np.minimum((cdf_rows < u[:, None]).sum(-1), cdf_rows.shape[-1] - 1)


def _logsumexp(x: np.ndarray, axis: int) -> np.ndarray:
    m = np.max(x, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore"):
        return np.squeeze(m, axis) + np.log(np.exp(x - m).sum(axis=axis))


def _zipf_row(rng: np.random.Generator, v: int, s: int, cfg) -> np.ndarray:
    """A row with a random support of size k ∈ [min, max] ∋ s+1, mass ∝ rank^-a."""
    k = int(rng.integers(cfg.min_successors, cfg.max_successors + 1))
    a = float(rng.uniform(cfg.zipf_min, cfg.zipf_max))
    support = rng.choice(v, size=k, replace=False)
    if (s + 1) % v not in support:
        support[-1] = (s + 1) % v  # keeps the chain irreducible (the tail reaches it)
    row = np.zeros(v)
    row[support] = 1.0 / np.arange(1, k + 1) ** a
    return row / row.sum()


def _chains(rng: np.random.Generator, cfg) -> np.ndarray:
    """K chains sharing a base chain except on a topic-specific share of their rows."""
    v = cfg.vocab_size
    base = np.stack([_zipf_row(rng, v, s, cfg) for s in range(v)])
    out = np.repeat(base[None], cfg.topics, axis=0)
    for k in range(cfg.topics):
        for s in np.flatnonzero(rng.random(v) < cfg.topic_rows):
            out[k, s] = _zipf_row(rng, v, s, cfg)
    return out


def build(cfg) -> tuple[TopicChains, TopicChains]:
    """(p_data, q_pretrain) from the `world` config; fully determined by `world.seed`."""
    rng = np.random.default_rng(cfg.seed)
    trans = _chains(rng, cfg)
    weights = np.full(cfg.topics, 1.0 / cfg.topics)
    p = TopicChains(weights, trans)

    q_trans = trans.copy()
    fresh = _chains(rng, cfg)
    swap = rng.random(trans.shape[:2]) < cfg.pretrain_rows
    q_trans[swap] = (1 - cfg.pretrain_mix) * trans[swap] + cfg.pretrain_mix * fresh[swap]
    q_weights = rng.dirichlet(np.full(cfg.topics, 2.0))
    return p, TopicChains(q_weights, q_trans)
