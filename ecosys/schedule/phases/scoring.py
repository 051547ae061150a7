"""Scoring phases: test perplexity per block (DESIGN.md §1.4), and in the synthetic
world the exact measurements against p_data (ecosys/measures/exact.py)."""

from __future__ import annotations

import itertools

import numpy as np
import torch

from ecosys.kernels.ensemble import Ensemble, states_of
from ecosys.kernels.evaluate import block_perplexity, block_scores
from ecosys.measures import exact, lenses, metrics
from ecosys.models import hf
from ecosys.rundir import layout
from ecosys.runtime import seeds
from ecosys.schedule.context import Context, Result


def evaluate(ctx: Context, t: int, m: int) -> Result:
    """Per-block test perplexity of model m after t (t = -1: its base model); with
    lenses, the share of tail next tokens it ranks in its top 10 (the same logits), and
    at t = -1 the tail share of its real training blocks (the lens's reference)."""
    mem = ctx.members[m]
    model = ctx.model(m, t)
    tail = ctx.tail(m) if ctx.cfg.lenses.enabled else None
    desc = ctx.desc("evaluate", t, m)
    if t < 0:  # members sharing a base and a test set share its evaluation
        key = "base_scores", mem.base, mem.community
        if key not in ctx.shared:
            ctx.shared[key] = _scores(ctx, model, mem.corpus.test, desc, tail)
        nll, counts = ctx.shared[key]
    else:
        nll, counts = _scores(ctx, model, mem.corpus.test, desc, tail)
    result = _scored(t, m, np.exp(nll))
    if tail is not None:
        positions, hits = counts.sum(0)
        result.info["lens/tail_top10"] = float(hits / positions) if positions else float("nan")
        if t < 0:
            result.info["lens/tail_share"] = lenses.tail_share(mem.real_blocks, tail)
    if ctx.cfg.train.eval_on_train:  # the overfitting check: its own real training blocks
        on_train = _perplexity(ctx, model, mem.real_blocks, None)
        result.arrays[layout.ppl_train(t, m)] = on_train
        result.info["ppl_train/mean"] = metrics.block_mean(on_train)
    return result


def _scores(ctx: Context, model, blocks, desc, tail) -> tuple[np.ndarray, np.ndarray]:
    bs = ctx.cfg.score.batch_size
    nll, counts, _ = block_scores(model, blocks, bs, ctx.accelerator, desc, ctx.ranks, tail)
    return nll, counts


def evaluate_together(ctx: Context, t: int, group: list[int]) -> list[Result]:
    """The models of `group` (one base, one test set) in one batched pass."""
    states = [states_of(ctx.model(m, t)) for m in group]
    ens = Ensemble(ctx.cache.model(group[0]), states)
    test = torch.as_tensor(ctx.members[group[0]].corpus.test, device=ctx.accelerator.device)
    with ctx.accelerator.autocast():
        ppl = np.exp(ens.block_nll(test, ctx.cfg.score.batch_size).cpu().numpy())
    return [_scored(t, m, row) for m, row in zip(group, ppl, strict=True)]


def _scored(t: int, m: int, ppl: np.ndarray) -> Result:
    std = float(np.std(ppl, ddof=1)) if len(ppl) > 1 else 0.0
    info = {"ppl/mean": metrics.block_mean(ppl), "ppl/std": std, **lenses.quantiles(ppl)}
    return Result(info=info, arrays={layout.ppl(t, m): ppl})


def _perplexity(
    ctx: Context, model: torch.nn.Module, blocks: np.ndarray, desc: str | None
) -> np.ndarray:
    bs = ctx.cfg.score.batch_size
    return block_perplexity(model, blocks, bs, ctx.accelerator, desc, ctx.ranks)


def measure(ctx: Context, t: int, m: int) -> Result:
    """Model m after t against p_data: its KL rate, the distance of its own samples and
    (t ≥ 0) of the blocks it trained on at t, and the EDQ of those blocks:
    δ_EDQ(t) = W2(its training blocks at t) − W2(its model before t), and the same with
    the KL analogue."""
    ref = ctx.references[ctx.members[m].community]
    model = ctx.model(m, t)
    bs, lens = ctx.cfg.score.batch_size, ctx.cfg.lenses.enabled
    fresh_nll, _, token_nll = block_scores(model, ref.fresh, bs, ctx.accelerator, per_token=lens)
    first = ref.fresh[: ctx.cfg.measure.model_samples, 0]
    first = torch.as_tensor(first, device=ctx.accelerator.device)
    with ctx.accelerator.autocast(), hf.eager(model):  # its cache grows every step
        samples = exact.sample(model, first, ref.fresh.shape[1], ctx.seed("measure", t, m))
    info = {"exact/kl_rate": float(np.mean(fresh_nll - ref.oracle_nll))}
    if lens:  # rare transitions of p_data the model still gives half their probability
        true = np.exp(ref.p_data.next_token_log_probs(ref.fresh))
        info["lens/tail_recall"] = lenses.tail_recall(np.exp(-token_nll), true)
    info |= {f"exact/model_{k}": v for k, v in ref.distances(samples.cpu().numpy()).items()}
    if t >= 0:
        data = ref.distances(ctx.training_set(t, m))
        info |= {f"exact/data_{k}": v for k, v in data.items()}
        before = ctx.info("measure", t - 1, m)
        info["exact/edq"] = info["exact/data_w2"] - before["exact/model_w2"]
        info["exact/edq_kl"] = info["exact/data_kl"] - before["exact/model_kl"]
    return Result(info=info)


def disagree(ctx: Context, t: int) -> Result:
    """The models' mean pairwise Jensen–Shannon divergence on the first
    measure.js_blocks test blocks (per community, then averaged)."""
    groups: dict[str, list[torch.Tensor]] = {}
    for m, mem in enumerate(ctx.members):
        blocks = mem.corpus.test[: ctx.cfg.measure.js_blocks]
        ids = torch.as_tensor(blocks, device=ctx.accelerator.device)
        groups.setdefault(mem.community, []).append(
            exact.next_token_probs(ctx.model(m, t), ids).cpu()
        )
    return Result(info={"exact/js": float(np.mean([exact.js(p) for p in groups.values()]))})


def cross(ctx: Context, t: int) -> Result:
    """The M × M matrix of model i's perplexity on model j's continuations at t (the
    fixed subsample its self perplexity scores; diagonal = self perplexity): how
    different the ecosystem's models stay, the paper's epistemic diversity measured.
    Each model scores its own and lenses.cross_others other models' (seeded; all of
    them for M ≤ cross_others + 1); unscored pairs are nan."""
    n_models = ctx.n_models
    sets = []
    for j in range(n_models):
        generated = ctx.store.array(layout.generated(t, j))
        sets.append(generated[ctx.lens_rows(t, j, len(generated))])
    matrix = np.full((n_models, n_models), np.nan)
    bs = ctx.cfg.score.batch_size
    for i in range(n_models):
        cols = [i, *_others(ctx, t, i)]
        blocks = np.concatenate([sets[j] for j in cols])
        bounds = np.cumsum([0, *(len(sets[j]) for j in cols)])
        ppl = block_perplexity(ctx.model(i, t), blocks, bs, ctx.accelerator)
        matrix[i, cols] = [ppl[a:b].mean() for a, b in itertools.pairwise(bounds)]
    cross_ppl, ratio = lenses.cross_ratio(matrix)
    info = {"lens/cross_ppl": cross_ppl, "lens/cross_ratio": ratio}
    return Result(info=info, arrays={layout.cross(t): matrix})


def _others(ctx: Context, t: int, i: int) -> list[int]:
    """The other models whose continuations model i scores at t."""
    others = [j for j in range(ctx.n_models) if j != i]
    k = ctx.cfg.lenses.cross_others
    if len(others) <= k:
        return others
    return sorted(seeds.rng(ctx.cfg.seed, "cross", t, i).choice(others, size=k, replace=False))
