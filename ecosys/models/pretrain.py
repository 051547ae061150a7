"""Pretraining the synthetic world's base model on Q, the world's related distribution.

The stand-in for OPT's pretraining: Q shares p_data's topics but not all of its rows,
so fine-tuning on p_data helps, as fine-tuning OPT on WikiText-2 does.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from accelerate import Accelerator
from omegaconf import DictConfig
from tqdm.auto import tqdm

from ecosys.data import world
from ecosys.kernels.train import step
from ecosys.models import hf
from ecosys.runtime import seeds


def pretrain_tiny(
    cfg: DictConfig, m: DictConfig, out: Path, accelerator: Accelerator, progress: bool
) -> None:
    """Train a fresh tiny GPT2 on fresh samples of Q and `save_pretrained` it to `out`.

    Sequences are n_positions long, so the positions used by generation
    (prompt + continuation) are pretrained too.
    """
    p = m.pretrain
    _, q = world.build(cfg.world)
    rng = seeds.rng(p.seed, "pretrain")
    model = hf.new(m, cfg.world.vocab_size, seeds.derive(p.seed, "pretrain"))
    opt = torch.optim.AdamW(model.parameters(), lr=p.lr, weight_decay=0.0)

    def lr_at(step: int) -> float:
        warm = min(1.0, (step + 1) / max(1, p.warmup))
        return warm * 0.5 * (1 + math.cos(math.pi * step / p.steps))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    alone = accelerator.num_processes > 1  # the main process builds it alone (base._cached)
    if alone:
        model.to(accelerator.device)
    else:
        model, opt = accelerator.prepare(model, opt)
    model.train()
    bar = tqdm(range(p.steps), desc="pretrain base", disable=not progress)
    for _ in bar:
        ids = torch.as_tensor(q.sample(p.batch_size, m.n_positions, rng), device=accelerator.device)
        loss = step(model, ids, opt, sched, accelerator, plain=alone)
        bar.set_postfix(loss=f"{loss:.3f}", refresh=False)
    accelerator.unwrap_model(model).save_pretrained(out)
    accelerator.free_memory()
