"""Per-block perplexity: exp(mean token NLL of the block), as HF run_clm scores blocks."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from accelerate import Accelerator
from tqdm.auto import tqdm

from ecosys.runtime.ranks import Ranks, over_batches


def token_nll(logits: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """[B, L-1] NLL of tokens 2..L given their prefix (the first token is not predicted)."""
    logits = logits[:, :-1].float()
    nll = F.cross_entropy(
        logits.reshape(-1, logits.size(-1)), ids[:, 1:].reshape(-1), reduction="none"
    )
    return nll.view(ids.size(0), -1)


@torch.no_grad()
def block_nll(
    model: torch.nn.Module,
    blocks: np.ndarray,
    batch_size: int,
    accelerator: Accelerator,
    desc: str | None = None,
    ranks: Ranks | None = None,
) -> np.ndarray:
    """Mean token NLL of every block, float64 [n_blocks] (batches split over `ranks`)."""
    return block_scores(model, blocks, batch_size, accelerator, desc, ranks)[0]


@torch.no_grad()
def block_scores(
    model: torch.nn.Module,
    blocks: np.ndarray,
    batch_size: int,
    accelerator: Accelerator,
    desc: str | None = None,
    ranks: Ranks | None = None,
    tail: np.ndarray | None = None,
    top: int = 10,
    per_token: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(mean token NLL per block, float64 [n]; [n, 2] per block: positions whose true
    next token is in the `tail` mask over the vocabulary, and those of them the model
    ranks in its `top` — from the same logits, no second pass; zeros without `tail`;
    with `per_token`, every token's NLL [n, L-1], else None)."""
    model.eval()
    n_batches = math.ceil(len(blocks) / batch_size)
    bar = tqdm(total=n_batches, desc=desc, leave=False, disable=desc is None)
    in_tail = None if tail is None else torch.as_tensor(tail, device=accelerator.device)

    def batch(b: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        ids = torch.as_tensor(
            blocks[b * batch_size : (b + 1) * batch_size], device=accelerator.device
        )
        with accelerator.autocast():
            logits = model(input_ids=ids).logits
        bar.update()
        tokens = token_nll(logits, ids)
        nll = tokens.mean(-1).double().cpu().numpy()
        counts = np.zeros((len(ids), 2), dtype=np.int64)
        if in_tail is not None:
            target = ids[:, 1:]
            rare = in_tail[target]
            ranked = (logits[:, :-1].topk(top, dim=-1).indices == target[..., None]).any(-1)
            counts[:, 0] = rare.sum(-1).cpu().numpy()
            counts[:, 1] = (rare & ranked).sum(-1).cpu().numpy()
        return nll, counts, tokens.double().cpu().numpy() if per_token else None

    out = over_batches(ranks, n_batches, batch)
    bar.close()
    if not out:
        return np.zeros(0), np.zeros((0, 2), dtype=np.int64), None
    nll, counts = np.concatenate([o[0] for o in out]), np.concatenate([o[1] for o in out])
    return nll, counts, np.concatenate([o[2] for o in out]) if per_token else None


def block_perplexity(*args, **kwargs) -> np.ndarray:
    """Per-block perplexity, float64 [n_blocks]; arguments as `block_nll`."""
    return np.exp(block_nll(*args, **kwargs))
