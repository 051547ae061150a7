"""Scoring phases: test perplexity per block (DESIGN.md §1.4), and in the synthetic
world the exact measurements against p_data (ecosys/exact.py)."""

from __future__ import annotations

import numpy as np
import torch

from ecosys import exact, layout, metrics, models
from ecosys.context import Context, Result
from ecosys.ensemble import Ensemble, states_of
from ecosys.evaluate import block_nll, block_perplexity


def evaluate(ctx: Context, t: int, m: int) -> Result:
    """Per-block test perplexity of model m after t (t = -1: its base model)."""
    mem = ctx.members[m]
    model = ctx.model(m, t)
    if t < 0:  # members sharing a base and a test set share its evaluation
        key = "base_ppl", mem.base, mem.community
        if key not in ctx.shared:
            ctx.shared[key] = _perplexity(ctx, model, mem.corpus.test, ctx.desc("evaluate", t, m))
        ppl = ctx.shared[key]
    else:
        ppl = _perplexity(ctx, model, mem.corpus.test, ctx.desc("evaluate", t, m))
    result = _scored(t, m, ppl)
    if ctx.cfg.train.eval_on_train:  # the overfitting check: its own real training blocks
        on_train = _perplexity(ctx, model, mem.prompts, None)
        result.arrays[layout.ppl(t, m, "ppl_train")] = on_train
        result.info["ppl_train/mean"] = metrics.block_mean(on_train)
    return result


def evaluate_together(ctx: Context, t: int, group: list[int]) -> list[Result]:
    """The models of `group` (one base, one test set) in one batched pass."""
    states = [states_of(ctx.model(m, t)) for m in group]
    ens = Ensemble(ctx.cache.model(group[0]), states)
    test = torch.as_tensor(ctx.members[group[0]].corpus.test, device=ctx.accelerator.device)
    with ctx.accelerator.autocast():
        ppl = np.exp(ens.block_nll(test, ctx.cfg.train.eval_batch_size).cpu().numpy())
    return [_scored(t, m, row) for m, row in zip(group, ppl, strict=True)]


def _scored(t: int, m: int, ppl: np.ndarray) -> Result:
    std = float(np.std(ppl, ddof=1)) if len(ppl) > 1 else 0.0
    info = {"ppl/mean": metrics.block_mean(ppl), "ppl/std": std}
    return Result(info=info, arrays={layout.ppl(t, m): ppl})


def _perplexity(
    ctx: Context, model: torch.nn.Module, blocks: np.ndarray, desc: str | None
) -> np.ndarray:
    bs = ctx.cfg.train.eval_batch_size
    return block_perplexity(model, blocks, bs, ctx.accelerator, desc, ctx.ranks)


def measure(ctx: Context, t: int, m: int) -> Result:
    """Model m after t against p_data: its KL rate, the distance of its own samples and
    (t ≥ 0) of the blocks it trained on at t, and the EDQ of those blocks:
    δ_EDQ(t) = W2(its training blocks at t) − W2(its model before t), and the same with
    the KL analogue."""
    ref = ctx.references[ctx.members[m].community]
    model = ctx.model(m, t)
    fresh_nll = block_nll(model, ref.fresh, ctx.cfg.train.eval_batch_size, ctx.accelerator)
    first = ref.fresh[: ctx.cfg.measure.model_samples, 0]
    first = torch.as_tensor(first, device=ctx.accelerator.device)
    with ctx.accelerator.autocast(), models.eager(model):  # its cache grows every step
        samples = exact.sample(model, first, ref.fresh.shape[1], ctx.seed("measure", t, m))
    info = {"exact/kl_rate": float(np.mean(fresh_nll - ref.oracle_nll))}
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
