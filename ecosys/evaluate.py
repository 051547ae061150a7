"""Per-block perplexity: exp(mean token NLL of the block), as HF run_clm scores blocks."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from accelerate import Accelerator
from tqdm.auto import tqdm

from ecosys.ranks import Ranks, over_batches


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
    model.eval()
    n_batches = math.ceil(len(blocks) / batch_size)
    bar = tqdm(total=n_batches, desc=desc, leave=False, disable=desc is None)

    def batch(b: int) -> np.ndarray:
        ids = torch.as_tensor(
            blocks[b * batch_size : (b + 1) * batch_size], device=accelerator.device
        )
        with accelerator.autocast():
            logits = model(input_ids=ids).logits
        bar.update()
        return token_nll(logits, ids).mean(-1).double().cpu().numpy()

    out = over_batches(ranks, n_batches, batch)
    bar.close()
    return np.concatenate(out) if out else np.zeros(0)


def block_perplexity(*args, **kwargs) -> np.ndarray:
    """Per-block perplexity, float64 [n_blocks]; arguments as `block_nll`."""
    return np.exp(block_nll(*args, **kwargs))
