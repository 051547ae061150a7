"""The exchange between models: each generates continuations of its own fixed prompts,
and the outputs are pooled, shuffled and redistributed (DESIGN.md §1.3)."""

from __future__ import annotations

import numpy as np

from ecosys import config
from ecosys.kernels.evaluate import block_perplexity
from ecosys.kernels.generate import continue_blocks
from ecosys.kernels.pooling import redistribute, redistribute_text
from ecosys.measures import lenses, metrics
from ecosys.rundir import layout
from ecosys.runtime import seeds
from ecosys.schedule.context import Context, Result
from ecosys.schedule.members import Member


def generate(ctx: Context, t: int, m: int) -> Result:
    """Model m's continuations of its own, fixed prompt set; with lenses, what they
    lost (ecosys/measures/lenses.py) and the model's perplexity on a fixed subsample of them."""
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
    if ctx.cfg.lenses.enabled:
        info |= lenses.lexical(tokens, ctx.tail(m), ctx.seed("lens", t, m))
        own = tokens[ctx.lens_rows(t, m, len(tokens))]
        bs = ctx.cfg.score.batch_size
        own_ppl = block_perplexity(model, own, bs, ctx.accelerator, ranks=ctx.ranks)
        info["lens/self_ppl"] = metrics.block_mean(own_ppl)
    return Result(info=info, arrays={layout.generated(t, m): tokens})


def pool(ctx: Context, t: int) -> Result:
    """Every model's generated set of t, pooled (with fresh real blocks swapped in at
    data_quality.real_fraction), shuffled and dealt out as the next training sets."""
    generated = [ctx.store.array(layout.generated(t, m)) for m in range(ctx.n_models)]
    rng = seeds.rng(ctx.cfg.seed, "pool", t)
    fraction = ctx.cfg.data_quality.real_fraction
    mems = ctx.members
    info = {}
    if ctx.roster.shared_tokens:
        real = np.concatenate(_unique(mem.corpus.train for mem in mems))
        pooled, n_real = redistribute(generated, real, fraction, rng)
        arrays = {layout.pool(t): pooled}
        if ctx.cfg.lenses.enabled:  # the pool's lexical lenses, by member 0's tail
            found = lenses.lexical(pooled, ctx.tail(0), ctx.seed("lens", t))
            info |= {k.replace("lens/", "pool/"): v for k, v in found.items()}
        if len(ctx.references) == 1:  # the pool's distance from p_data
            (ref,) = ctx.references.values()
            info |= {f"exact/pool_{k}": v for k, v in ref.distances(pooled).items()}
    else:
        texts = [s for mem, g in zip(mems, generated, strict=True) for s in _decode(mem, g)]
        texts_pool, sets, n_real = redistribute_text(
            texts,
            _real_texts(mems, round(fraction * len(texts)), rng),
            fraction,
            [_encoder(mem) for mem in mems],
            [mem.n for mem in mems],
            config.block_size(ctx.cfg),
            rng,
        )
        arrays = {layout.pool(t, m): s for m, s in enumerate(sets)}
        arrays[layout.pool_texts(t)] = np.array(texts_pool, dtype=str)
    return Result(info={"pool/real_blocks": n_real, **info}, arrays=arrays)


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
