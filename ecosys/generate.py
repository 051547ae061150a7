"""Continuations of prompt blocks with `transformers`' own `generate`.

Exactly block_size new tokens per prompt (min = max), so every continuation is one
new training block; all prompts have the same length, so no padding is needed and
outputs do not depend on the batch size.
"""

from __future__ import annotations

import time

import numpy as np
import torch
from accelerate import Accelerator
from omegaconf import DictConfig
from tqdm.auto import tqdm


@torch.no_grad()
def continue_blocks(
    model: torch.nn.Module,
    prompts: np.ndarray,
    gcfg: DictConfig,
    seed: int,
    accelerator: Accelerator,
    desc: str | None = None,
) -> tuple[np.ndarray, float]:
    """(continuations [n, L] int64, new tokens per second)."""
    model = accelerator.unwrap_model(model).eval()
    n, length = prompts.shape
    mode = (
        dict(
            do_sample=True,
            num_beams=1,
            temperature=gcfg.temperature,
            top_k=gcfg.top_k,
            top_p=gcfg.top_p,
        )
        if gcfg.do_sample
        else dict(do_sample=False, num_beams=gcfg.num_beams)
    )
    torch.manual_seed(seed)
    start, out = time.perf_counter(), []
    for i in tqdm(range(0, n, gcfg.batch_size), desc=desc, leave=False, disable=desc is None):
        ids = torch.as_tensor(prompts[i : i + gcfg.batch_size], device=accelerator.device)
        with accelerator.autocast():
            seqs = model.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                min_new_tokens=length,
                max_new_tokens=length,
                repetition_penalty=gcfg.repetition_penalty,
                **mode,
            )
        out.append(seqs[:, length:].cpu())
    seconds = time.perf_counter() - start
    return torch.cat(out).numpy().astype(np.int64), n * length / max(seconds, 1e-9)
