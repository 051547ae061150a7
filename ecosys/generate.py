"""Continuations of prompt blocks with `transformers`' own `generate`.

Exactly block_size new tokens per prompt (min = max), so every continuation is one
new training block; all prompts have the same length, so no padding is needed and
outputs do not depend on the batch size.
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch
from accelerate import Accelerator
from omegaconf import DictConfig
from tqdm.auto import tqdm

from ecosys.ranks import Ranks, over_batches


@torch.no_grad()
def continue_blocks(
    model: torch.nn.Module,
    prompts: np.ndarray,
    gcfg: DictConfig,
    seed: int,
    accelerator: Accelerator,
    desc: str | None = None,
    ranks: Ranks | None = None,
) -> tuple[np.ndarray, float]:
    """(continuations [n, L] int64, new tokens per second of this process).

    Each batch is seeded from (seed, batch index), so sampled outputs do not depend on
    how many ranks share the batches.
    """
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
    n_batches = math.ceil(n / gcfg.batch_size)
    bar = tqdm(total=n_batches, desc=desc, leave=False, disable=desc is None)
    start, done = time.perf_counter(), 0

    def batch(b: int) -> np.ndarray:
        nonlocal done
        ids = torch.as_tensor(
            prompts[b * gcfg.batch_size : (b + 1) * gcfg.batch_size], device=accelerator.device
        )
        torch.manual_seed(int(np.random.SeedSequence([seed, b]).generate_state(1)[0]))
        with accelerator.autocast():
            seqs = model.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                min_new_tokens=length,
                max_new_tokens=length,
                repetition_penalty=gcfg.repetition_penalty,
                **mode,
            )
        bar.update()
        done += len(ids) * length
        return seqs[:, length:].cpu().numpy().astype(np.int64)

    out = over_batches(ranks, n_batches, batch)
    bar.close()
    return np.concatenate(out), done / max(time.perf_counter() - start, 1e-9)
