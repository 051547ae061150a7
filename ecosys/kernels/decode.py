"""A lean decode loop for the one shape of generation ecosys needs, equal to `generate`.

Every prompt has the same length and min = max new tokens, so the end-of-sequence token
can never be chosen, no beam ever finishes early, and no padding is needed. That leaves
HF's beam search doing, per step, work whose result is known in advance (stopping
criteria, finished-beam bookkeeping, gathers over full-length sequence buffers), and
prefilling the prompt once per beam. `beam_search` and `sample` below do only what
changes the output, in HF's order and precision, so their tokens equal `generate`'s
(tests/test_decode.py; a difference can only come from a near-tie of beam scores,
where two kernels' rounding may order candidates differently). Written by hand because
`generate` has no switch for "fixed length, prefill once".
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from transformers import StaticCache
from transformers.generation import (
    LogitsProcessorList,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

# generation_config keys that add logits processors the lean loop does not mirror, with
# the values that add none
_NEUTRAL: dict[str, tuple] = {
    "repetition_penalty": (None, 1.0),
    "no_repeat_ngram_size": (None, 0),
    "bad_words_ids": (None,),
    "sequence_bias": (None,),
    "forced_bos_token_id": (None,),
    "forced_eos_token_id": (None,),
    "suppress_tokens": (None, []),
    "begin_suppress_tokens": (None, []),
    "min_p": (None,),
    "typical_p": (None, 1.0),
    "epsilon_cutoff": (None, 0.0),
    "eta_cutoff": (None, 0.0),
    "top_h": (None,),
    "renormalize_logits": (None, False),
    "remove_invalid_values": (None, False),
    "exponential_decay_length_penalty": (None,),
    "diversity_penalty": (None, 0.0),
    "watermarking_config": (None,),
    "guidance_scale": (None, 1.0),
}


def unmirrored(model: torch.nn.Module, **overrides) -> list[str]:
    """generation_config keys (the model's, with `overrides`) that would make `generate`
    do something this module does not; empty when the lean loop is exact."""
    gen = model.generation_config
    return [
        key
        for key, neutral in _NEUTRAL.items()
        if overrides.get(key, getattr(gen, key, None)) not in neutral
    ]


def _eos_mask(model: torch.nn.Module, vocab: int, device: torch.device) -> torch.Tensor | None:
    """Where MinNewTokensLengthLogitsProcessor puts -inf: the EOS ids (never reached)."""
    eos = model.generation_config.eos_token_id
    if eos is None:
        return None
    ids = torch.as_tensor(eos if isinstance(eos, list) else [eos], device=device)
    mask = torch.isin(torch.arange(vocab, device=device), ids)
    return mask if bool(mask.any()) else None


def _next_logits(out) -> torch.Tensor:
    return out.logits[:, -1, :].to(dtype=torch.float32)


def _next_log_probs(out, eos: torch.Tensor | None) -> torch.Tensor:
    """HF beam search's scores: float32 log_softmax, then EOS masked (MinNewTokens)."""
    logp = F.log_softmax(_next_logits(out), dim=-1)
    return logp if eos is None else logp.masked_fill(eos, -float("inf"))


def _prefill(
    model: torch.nn.Module, prompts: torch.Tensor, new_tokens: int
) -> tuple[object, StaticCache]:
    """The prompts' forward pass (last position's logits only) into a static cache sized
    for the continuation, so every later step has one shape (runtime.compile)."""
    cache = StaticCache(config=model.config, max_cache_len=prompts.size(1) + new_tokens)
    return model(input_ids=prompts, cache=cache, use_cache=True, logits_to_keep=1), cache


def _repeat(cache: StaticCache, n: int) -> None:
    """Each prompt's cache, copied to its n beams (StaticLayer lacks batch_repeat_interleave)."""
    for layer in cache.layers:
        layer.keys = layer.keys.repeat_interleave(n, dim=0)
        layer.values = layer.values.repeat_interleave(n, dim=0)
        layer.batch_size = layer.keys.size(0)


def _reorder_generated(cache: StaticCache, index: torch.Tensor, start: int, end: int) -> None:
    """Cache.reorder_cache, for positions start…end only: beams are only ever reordered
    among the beams of their own prompt, whose prompt positions are equal."""
    for layer in cache.layers:  # index_select: several times faster than keys[index, …]
        layer.keys[:, :, start:end] = layer.keys[:, :, start:end].index_select(0, index)
        layer.values[:, :, start:end] = layer.values[:, :, start:end].index_select(0, index)


@torch.no_grad()
def beam_search(
    model: torch.nn.Module, prompts: torch.Tensor, new_tokens: int, num_beams: int
) -> torch.Tensor:
    """The top beam's `new_tokens` continuation of every prompt [B, P] → [B, new_tokens],
    as `generate(num_beams=…, do_sample=False, min_new_tokens=max_new_tokens=new_tokens)`.

    HF's step: log_softmax in float32, EOS masked, add each beam's score, keep the top
    2·num_beams of num_beams·V candidates and continue the first num_beams; at the last
    step the best candidate is the answer. Here the prompt is run once per prompt, not
    once per beam, and its cache copied to the beams (at step 0 only beam 0 counts:
    HF starts beams 1… at -1e9).
    """
    b, nb = prompts.size(0), num_beams
    length = prompts.size(1)
    out, cache = _prefill(model, prompts, new_tokens)
    vocab = out.logits.size(-1)
    eos = _eos_mask(model, vocab, prompts.device)
    scores, tokens = torch.topk(_next_log_probs(out, eos), k=2 * nb)  # [B, V] → 2·nb
    scores, tokens = scores[:, :nb], tokens[:, :nb]
    seqs = tokens[:, :, None]  # [B, nb, 1]
    if new_tokens == 1:
        return seqs[:, 0]
    _repeat(cache, nb)
    offset = torch.arange(b, device=prompts.device)[:, None] * nb
    for step in range(1, new_tokens):
        out = model(input_ids=tokens.reshape(-1, 1), cache=cache, use_cache=True)
        logp = _next_log_probs(out, eos)
        cand = (logp.view(b, nb, vocab) + scores[:, :, None]).view(b, nb * vocab)
        scores, index = torch.topk(cand, k=2 * nb)
        scores, index = scores[:, :nb], index[:, :nb]
        beam, tokens = index // vocab, index % vocab
        history = seqs.gather(1, beam[:, :, None].expand(-1, -1, step))
        seqs = torch.cat([history, tokens[:, :, None]], 2)
        if step < new_tokens - 1:
            _reorder_generated(cache, (beam + offset).view(-1), length, length + step)
    return seqs[:, 0]


@torch.no_grad()
def sample(
    model: torch.nn.Module,
    prompts: torch.Tensor,
    new_tokens: int,
    temperature: float = 1.0,
    top_k: int | None = 50,
    top_p: float = 1.0,
) -> torch.Tensor:
    """Sampled continuations [B, new_tokens], as `generate(do_sample=True, num_beams=1,
    …)`: the same warpers in the same order, one `torch.multinomial` per step, so the
    same torch seed draws the same tokens. A static cache, as in `beam_search`, so a
    compiled forward sees one shape per step."""
    warpers = LogitsProcessorList()
    if temperature != 1.0:
        warpers.append(TemperatureLogitsWarper(temperature))
    if top_k:
        warpers.append(TopKLogitsWarper(top_k=top_k, min_tokens_to_keep=1))
    if top_p < 1.0:
        warpers.append(TopPLogitsWarper(top_p=top_p, min_tokens_to_keep=1))
    out, cache = _prefill(model, prompts, new_tokens)
    logits = _next_logits(out)
    eos = _eos_mask(model, logits.size(-1), prompts.device)
    new: list[torch.Tensor] = []
    for step in range(new_tokens):
        if step:
            out = model(input_ids=new[-1][:, None], cache=cache, use_cache=True)
            logits = _next_logits(out)
        if eos is not None:
            logits = logits.masked_fill(eos, -float("inf"))
        logits = warpers(prompts, logits)  # these warpers read no tokens
        new.append(torch.multinomial(F.softmax(logits, dim=-1), num_samples=1).squeeze(1))
    return torch.stack(new, 1)
