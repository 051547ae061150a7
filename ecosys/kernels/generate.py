"""Continuations of prompt blocks: exactly block_size new tokens per prompt.

min = max new tokens, so every continuation is one new training block; all prompts
have the same length, so no padding is needed and beam-search outputs do not depend on
the batch size. `generate.engine`: "lean" (ecosys/kernels/decode.py, `generate`'s tokens in a
fraction of its time) or "hf" (`model.generate` itself); lean falls back to hf where
the model's generation_config asks for something the lean loop does not mirror.
"""

from __future__ import annotations

import logging
import math
import time

import numpy as np
import torch
from accelerate import Accelerator
from tqdm.auto import tqdm

from ecosys.config.schema import GenerateConfig
from ecosys.kernels import decode
from ecosys.models import hf
from ecosys.runtime.ranks import Ranks, over_batches

log = logging.getLogger(__name__)


@torch.no_grad()
def continue_blocks(
    model: torch.nn.Module,
    prompts: np.ndarray,
    gcfg: GenerateConfig,
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
    lean = gcfg.engine == "lean"
    if lean and (keys := decode.unmirrored(model, repetition_penalty=gcfg.repetition_penalty)):
        log.warning("generate.engine=lean does not mirror %s: using model.generate", keys)
        lean = False
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
            if not lean:
                with hf.eager(model):
                    new = model.generate(
                        input_ids=ids,
                        attention_mask=torch.ones_like(ids),
                        min_new_tokens=length,
                        max_new_tokens=length,
                        repetition_penalty=gcfg.repetition_penalty,
                        **mode,
                    )[:, length:]
            elif gcfg.do_sample:
                new = decode.sample(model, ids, length, gcfg.temperature, gcfg.top_k, gcfg.top_p)
            else:
                new = decode.beam_search(model, ids, length, gcfg.num_beams)
        bar.update()
        done += len(ids) * length
        return new.cpu().numpy().astype(np.int64)

    out = over_batches(ranks, n_batches, batch)
    bar.close()
    return np.concatenate(out), done / max(time.perf_counter() - start, 1e-9)
