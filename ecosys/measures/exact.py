"""The synthetic world's exact measurements: what the paper could only hypothesize.

Because p_data is known, every model and every set of blocks can be placed relative to
it, per (t, model):

- the model's KL rate E_{x~p_data}[log p_data(x_i | x_<i) − log p_θ(x_i | x_<i)] per
  token, on fresh p_data blocks (tokens 2…L, as perplexity scores them): the true
  excess cross-entropy, where test perplexity mixes it with the floor exp(H);
- distances of block distributions from p_data on a 1-D ground metric: a block x maps
  to g(x) = log p̃_data(x) / L, its per-token log-likelihood under p_data (p̃: every
  row mixed with `measure.smoothing` uniform mass, so a model's impossible transitions
  cost a finite amount). W2 between two samples of g is exact (`w2`); the KL-based
  analogue is KL(p_data ‖ q) between histograms of g on p_data's quantile bins (`kl`);
- the paper's effective data quality (its Eq. 7), per model and t:
  δ_EDQ(t) = W2(p̂_data(t), p_data) − W2(p_θ(t−1), p_data): the distance of the blocks
  the model trains on at t minus that of the model it starts from (θ_{-1}: the base);
- model disagreement: mean pairwise Jensen–Shannon divergence of the models'
  next-token distributions on test blocks (`js`), a diversity measure that, unlike
  Hill–Shannon D, looks at what the models believe.
"""

from __future__ import annotations

import itertools

import numpy as np
import torch

from ecosys.data.world import TopicChains

BINS = 20  # equal-mass bins of p_data's g for the KL analogue


class Reference:
    """p_data's side of every comparison: the smoothed ground metric and g of fresh blocks."""

    def __init__(self, p_data: TopicChains, fresh: np.ndarray, smoothing: float):
        self.p_data, self.fresh = p_data, fresh
        self.ground = p_data.smoothed(smoothing)
        self.g = self.score(fresh)
        self.oracle_nll = p_data.block_nll(fresh)  # the KL rate's other half
        inner = np.quantile(self.g, np.linspace(0, 1, BINS + 1)[1:-1])
        self.edges = np.concatenate([[-np.inf], inner, [np.inf]])

    def score(self, blocks: np.ndarray) -> np.ndarray:
        """g(x) = log p̃_data(x) / L for every block."""
        blocks = np.asarray(blocks)
        return self.ground.log_prob(blocks) / blocks.shape[1]

    def distances(self, blocks: np.ndarray) -> dict[str, float]:
        """How far a set of blocks lies from p_data: W2 and the KL analogue of their g."""
        g = self.score(blocks)
        return {"w2": w2(g, self.g), "kl": self.kl(g), "g_mean": float(g.mean())}

    def kl(self, g: np.ndarray) -> float:
        """KL(p_data ‖ q) between the histograms of g on p_data's equal-mass bins
        (half a count added to every bin of q, so an empty bin is not infinite)."""
        p = np.histogram(self.g, self.edges)[0] + 0.0
        q = np.histogram(g, self.edges)[0] + 0.5
        p, q = p / p.sum(), q / q.sum()
        return float(np.sum(np.where(p > 0, p * np.log(p / q), 0.0)))


def w2(a: np.ndarray, b: np.ndarray) -> float:
    """Exact 2-Wasserstein distance between two 1-D empirical distributions: the L2
    distance of their quantile functions, integrated piece by piece over the merged
    breakpoints i/n_a and j/n_b (no interpolation, any sizes)."""
    a, b = np.sort(np.asarray(a, float)), np.sort(np.asarray(b, float))
    cuts = np.union1d(np.arange(1, len(a) + 1) / len(a), np.arange(1, len(b) + 1) / len(b))
    widths = np.diff(np.concatenate([[0.0], cuts]))
    mid = cuts - widths / 2
    ia = np.minimum((mid * len(a)).astype(int), len(a) - 1)
    ib = np.minimum((mid * len(b)).astype(int), len(b) - 1)
    return float(np.sqrt(np.sum(widths * (a[ia] - b[ib]) ** 2)))


@torch.no_grad()
def sample(model: torch.nn.Module, first: torch.Tensor, length: int, seed: int) -> torch.Tensor:
    """Blocks drawn from the model itself (τ = 1, no top-k): each starts with the given
    first token (drawn from p_data), the rest ancestrally, with the KV cache."""
    model.eval()
    gen = torch.Generator(device=first.device).manual_seed(seed)
    ids = first[:, None]
    out = model(input_ids=ids, use_cache=True)
    for _ in range(length - 1):
        probs = torch.softmax(out.logits[:, -1].float(), dim=-1)
        nxt = torch.multinomial(probs, 1, generator=gen)
        ids = torch.cat([ids, nxt], dim=1)
        out = model(input_ids=nxt, cache=out.cache, use_cache=True)
    return ids


@torch.no_grad()
def next_token_probs(model: torch.nn.Module, blocks: torch.Tensor) -> torch.Tensor:
    """[B, L-1, V] float64: the model's next-token distribution after every prefix."""
    model.eval()
    return torch.softmax(model(input_ids=blocks).logits[:, :-1].double(), dim=-1)


def js(probs: list[torch.Tensor]) -> float:
    """Mean pairwise Jensen–Shannon divergence (nats) of several models' next-token
    distributions, averaged over positions; 0 for one model."""
    pairs = list(itertools.combinations(range(len(probs)), 2))
    if not pairs:
        return 0.0
    total = 0.0
    for i, j in pairs:
        p, q = probs[i], probs[j]
        mid = (p + q) / 2
        total += float((0.5 * _kl(p, mid) + 0.5 * _kl(q, mid)).mean())
    return total / len(pairs)


def _kl(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Σ p log(p / q) over the last axis; 0 log 0 = 0 (where q = 0, p is 0 too)."""
    xlogy = torch.special.xlogy
    return (xlogy(p, p) - xlogy(p, q)).sum(-1)
