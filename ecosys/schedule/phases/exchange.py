"""The exchange between models: each generates continuations of its own fixed prompts,
and the outputs are pooled, shuffled and redistributed (DESIGN.md §1.3)."""

from __future__ import annotations

import numpy as np

from ecosys import config
from ecosys.config.schema import Curation
from ecosys.kernels import curation
from ecosys.kernels.evaluate import block_perplexity
from ecosys.kernels.generate import continue_blocks
from ecosys.kernels.pooling import redistribute, redistribute_text
from ecosys.measures import lenses, metrics
from ecosys.rundir import layout
from ecosys.runtime import seeds
from ecosys.schedule.context import Context, Result
from ecosys.schedule.members import Member

SELF_SCORED = (Curation.self, Curation.surprise)  # ranked by the generating model's perplexity


def generate(ctx: Context, t: int, m: int) -> Result:
    """Model m's continuations of its own, fixed prompt set; their perplexity under model m
    where curation ranks by it; with lenses, what they lost (ecosys/measures/lenses.py) and
    the model's perplexity on a fixed subsample of them."""
    model = ctx.model(m, t)
    tokens, speed = continue_blocks(
        model,
        ctx.members[m].real_blocks,
        ctx.cfg.generate,
        ctx.seed("generate", t, m),
        ctx.accelerator,
        ctx.desc("generate", t, m),
        ctx.ranks,
    )
    distinct = len({r.tobytes() for r in tokens}) / len(tokens)
    info = {"gen/tokens_per_s": speed, "gen/distinct": distinct}
    arrays = {layout.generated(t, m): tokens}
    bs = ctx.cfg.score.batch_size
    self_ppl = None
    if ctx.cfg.curation.name in SELF_SCORED:
        self_ppl = block_perplexity(model, tokens, bs, ctx.accelerator, ranks=ctx.ranks)
        arrays[layout.generated_ppl(t, m)] = self_ppl
    if ctx.cfg.lenses.enabled:
        info |= lenses.lexical(tokens, ctx.tail(m), ctx.seed("lens", t, m))
        rows = ctx.lens_rows(t, m, len(tokens))
        if self_ppl is None:
            own_ppl = block_perplexity(model, tokens[rows], bs, ctx.accelerator, ranks=ctx.ranks)
        else:
            own_ppl = self_ppl[rows]
        info["lens/self_ppl"] = metrics.block_mean(own_ppl)
    return Result(info=info, arrays=arrays)


def pool(ctx: Context, t: int) -> Result:
    """Every model's generated set of t, pooled (curated to the blocks `curation` keeps,
    repeated back to the pool's size; fresh real blocks swapped in at
    data_quality.real_fraction), shuffled and dealt out as the next training sets."""
    generated = [ctx.store.array(layout.generated(t, m)) for m in range(ctx.n_models)]
    rng = seeds.rng(ctx.cfg.seed, "pool", t)
    fraction = ctx.cfg.data_quality.real_fraction
    mems = ctx.members
    info, arrays = {}, {}
    chosen = None  # curation's pick: indices into the generated blocks, models in order
    if ctx.cfg.curation.name != Curation.none:
        chosen, info, arrays = curate(ctx, t, generated)
    if ctx.roster.shared_tokens:
        real = np.concatenate(_unique(mem.corpus.train for mem in mems))
        if chosen is not None:
            generated = [np.concatenate(generated)[chosen]]
        pooled, n_real = redistribute(generated, real, fraction, rng)
        arrays[layout.pool(t)] = pooled
        if ctx.cfg.lenses.enabled:  # the pool's lexical lenses, by member 0's tail
            found = lenses.lexical(pooled, ctx.tail(0), ctx.seed("lens", t))
            info |= {k.replace("lens/", "pool/"): v for k, v in found.items()}
        if len(ctx.references) == 1:  # the pool's distance from p_data
            (ref,) = ctx.references.values()
            info |= {f"exact/pool_{k}": v for k, v in ref.distances(pooled).items()}
    else:
        texts = [s for mem, g in zip(mems, generated, strict=True) for s in _decode(mem, g)]
        if chosen is not None:
            texts = [texts[i] for i in chosen]
        texts_pool, sets, n_real = redistribute_text(
            texts,
            _real_texts(mems, round(fraction * len(texts)), rng),
            fraction,
            [_encoder(mem) for mem in mems],
            [mem.n for mem in mems],
            config.block_size(ctx.cfg),
            rng,
        )
        arrays |= {layout.pool(t, m): s for m, s in enumerate(sets)}
        arrays[layout.pool_texts(t)] = np.array(texts_pool, dtype=str)
    return Result(info={"pool/real_blocks": n_real, **info}, arrays=arrays)


def curate(
    ctx: Context, t: int, generated: list[np.ndarray]
) -> tuple[np.ndarray, dict[str, float], dict[str, np.ndarray]]:
    """curation's pick of the blocks generated at t (ecosys/kernels/curation.py): as many
    indices into them, models in order, as there are blocks, drawn from those kept; the
    kept share and the mean score of the kept and the dropped blocks; every block's score
    and the kept indices, to commit."""
    ccfg = ctx.cfg.curation
    blocks = np.concatenate(generated)
    rng = seeds.rng(ctx.cfg.seed, "curation", t)
    if ccfg.name == Curation.degenerate:
        scores = curation.commonest_share(blocks)
        kept = curation.not_degenerate(blocks, ccfg.max_token_share)
    else:
        scores = _scores(ctx, t, blocks)
        rank_by = -scores if ccfg.name == Curation.self else scores  # self: lowest first
        kept = curation.top(rank_by, ccfg.keep, rng)
    dropped = np.setdiff1d(np.arange(len(blocks)), kept)
    info = {"curation/kept_share": len(kept) / len(blocks)}
    info["curation/score_kept"] = float(scores[kept].mean())
    if len(dropped):
        info["curation/score_dropped"] = float(scores[dropped].mean())
    arrays = {layout.curation_scores(t): scores, layout.curation_kept(t): kept}
    return curation.refill(kept, len(blocks), rng), info, arrays


def _scores(ctx: Context, t: int, blocks: np.ndarray) -> np.ndarray:
    """oracle: each block's log p_data per token (p_data smoothed as the exact measures
    smooth it); self, surprise: its perplexity under the model that generated it, as the
    generate phase committed it."""
    if ctx.cfg.curation.name == Curation.oracle:
        key = "oracle ground", id(ctx.members[0].corpus)
        if key not in ctx.shared:
            ctx.shared[key] = ctx.members[0].corpus.p_data.smoothed(ctx.cfg.measure.smoothing)
        return ctx.shared[key].log_prob(blocks) / blocks.shape[1]
    return np.concatenate(
        [ctx.store.array(layout.generated_ppl(t, m)) for m in range(ctx.n_models)]
    )


def _real_texts(mems: list[Member], n: int, rng: np.random.Generator) -> list[str]:
    """n fresh real training blocks as text, each from a random member's corpus."""
    out = []
    for m in rng.integers(len(mems), size=n):
        train = mems[m].corpus.train
        out += _decode(mems[m], train[[rng.integers(len(train))]])
    return out


def _unique(arrays) -> list[np.ndarray]:
    """Each distinct array once (members of one community share their corpus)."""
    seen, out = set(), []
    for a in arrays:
        if id(a) not in seen:
            seen.add(id(a))
            out.append(a)
    return out


def _decode(mem: Member, blocks: np.ndarray) -> list[str]:
    return mem.tokenizer.batch_decode(blocks, skip_special_tokens=True)


def _encoder(mem: Member):
    tok = mem.tokenizer

    def encode(texts: list[str]) -> list[list[int]]:
        return tok(texts, add_special_tokens=False)["input_ids"]

    return encode
