"""Fine-tuning one model on its training set, keeping the best-on-validation epoch.

As HF Trainer with per-epoch evaluation and `load_best_model_at_end`: the candidates
are the weights after epochs 1…E (the untrained start too, if asked); the model is
left holding the best of them. The optimizer is fresh every call, as in the paper.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from accelerate import Accelerator
from omegaconf import DictConfig
from tqdm.auto import tqdm

from ecosys.evaluate import block_nll, token_nll
from ecosys.ranks import Ranks


@dataclass
class TrainResult:
    loss: float  # mean training loss over the best epoch (nan if the start was best)
    val_loss: float  # validation loss of the kept weights
    best_epoch: int  # 1…E, or 0 for the untrained start
    steps: int  # optimizer steps taken (all epochs)
    val_losses: list[float]  # per epoch, for the record


def step(
    model,
    ids: torch.Tensor,
    opt,
    sched,
    accelerator: Accelerator,
    ranks: Ranks | None = None,
    plain: bool = False,
) -> float:
    """One optimizer step on a batch of blocks; returns the batch's mean token NLL.

    Data-parallel (`ranks.data_parallel`): this rank takes blocks rank::K of the batch
    and scales its summed loss so that DDP's gradient average is the gradient of the
    whole batch's mean, as one process would compute it. `plain`: a model that was not
    `accelerator.prepare`d (one rank's own model), so a plain backward pass.
    """
    if ranks is not None and ranks.data_parallel:
        mine = ids[ranks.rank :: ranks.k]
        weight = ranks.k / (ids.size(0) * (ids.size(1) - 1)) if len(mine) else 0.0
        mine = mine if len(mine) else ids[:1]  # every rank must join the backward pass
        with accelerator.autocast():
            loss = token_nll(model(input_ids=mine).logits, mine).sum() * weight
        accelerator.backward(loss)
        batch_loss = accelerator.reduce(loss.detach(), reduction="sum") / ranks.k
    else:
        with accelerator.autocast():
            loss = token_nll(model(input_ids=ids).logits, ids).mean()
        if plain:
            loss.backward()
        else:
            accelerator.backward(loss)
        batch_loss = loss.detach()
    opt.step()
    sched.step()
    opt.zero_grad(set_to_none=True)
    return batch_loss.item()


def fine_tune(
    model: torch.nn.Module,
    blocks: np.ndarray,
    valid: np.ndarray,
    tcfg: DictConfig,
    seed: int,
    accelerator: Accelerator,
    desc: str | None = None,
    ranks: Ranks | None = None,
) -> TrainResult:
    """Train `model` in place for tcfg.epochs epochs on `blocks` [n, L]; with `ranks`
    in data-parallel mode every rank calls this together (DDP)."""
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)  # dropout, where the model has any
    n_batches = math.ceil(len(blocks) / tcfg.batch_size)
    total = tcfg.epochs * n_batches
    opt = torch.optim.AdamW(model.parameters(), lr=tcfg.lr, weight_decay=tcfg.weight_decay)
    if tcfg.schedule == "cosine":
        floor = tcfg.min_lr / tcfg.lr
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * s / total))
        )
    else:
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    # `prepare` only where it adds something (DDP, fp16 loss scaling): what it holds is
    # released by `free_memory`, whose gc.collect costs more than training a tiny model
    prepare = (ranks is not None and ranks.data_parallel) or tcfg.mixed_precision == "fp16"
    plain = not prepare
    if prepare:
        model, opt = accelerator.prepare(model, opt)  # the device, mixed precision; DDP
    else:
        model.to(accelerator.device)
    data = torch.as_tensor(blocks)

    def validate() -> float:
        return float(block_nll(model, valid, tcfg.eval_batch_size, accelerator, ranks=ranks).mean())

    def snapshot() -> dict[str, torch.Tensor]:
        state = accelerator.unwrap_model(model).state_dict()
        return {k: v.detach().clone() for k, v in state.items()}

    best_epoch, best_val, best_state, best_loss = -1, math.inf, None, math.nan
    if tcfg.start_is_candidate:
        best_epoch, best_val, best_state = 0, validate(), snapshot()
    val_losses: list[float] = []
    bar = tqdm(total=total, desc=desc, leave=False, disable=desc is None)
    for epoch in range(1, tcfg.epochs + 1):
        model.train()
        order = torch.randperm(len(data), generator=gen)
        losses = []
        for i in range(n_batches):
            ids = data[order[i * tcfg.batch_size : (i + 1) * tcfg.batch_size]].to(
                accelerator.device
            )
            losses.append(step(model, ids, opt, sched, accelerator, ranks, plain))
            bar.update()
        val = validate()
        val_losses.append(val)
        bar.set_postfix(epoch=epoch, loss=f"{np.mean(losses):.3f}", val=f"{val:.3f}")
        if val < best_val:
            best_epoch, best_val, best_state = epoch, val, snapshot()
            best_loss = float(np.mean(losses))
    bar.close()
    accelerator.unwrap_model(model).load_state_dict(best_state)
    if prepare:
        accelerator.free_memory()
    return TrainResult(best_loss, best_val, best_epoch, total, val_losses)
