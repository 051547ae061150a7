"""Fine-tuning one model on its training set, keeping the best-on-validation epoch.

As HF Trainer with per-epoch evaluation and `load_best_model_at_end`: the candidates
are the weights after epochs 1…E (the untrained start too, if asked); the model is
left holding the best of them. The optimizer is fresh every call, as in the paper.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from accelerate import Accelerator
from tqdm.auto import tqdm

from ecosys.config.schema import TrainConfig
from ecosys.kernels.ensemble import Ensemble
from ecosys.kernels.evaluate import block_nll, token_nll
from ecosys.runtime.ranks import Ranks


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


def batch_order(n: int, batch_size: int, gen: torch.Generator) -> Iterator[torch.Tensor]:
    """Indices of the blocks of each batch, endlessly: pass after pass over the n blocks,
    each pass in a fresh order (its last batch may be short)."""
    while True:
        order = torch.randperm(n, generator=gen)
        yield from order.split(batch_size)


def blocks_seen(n: int, batch_size: int, steps: int) -> int:
    """Blocks `steps` batches of `batch_order` over n blocks hold: passes of ⌈n/b⌉
    batches, each pass's last one short where b does not divide n."""
    per_pass = math.ceil(n / batch_size)
    passes, rest = divmod(steps, per_pass)
    return passes * n + min(rest * batch_size, n)


def steps_per_epoch(n: int, tcfg: TrainConfig, budget: int | None = None) -> int:
    """Optimizer steps between validations: one pass over the model's n blocks (the
    paper), or over all N = `budget` blocks (equal_steps: every model takes the steps
    a single model on all of N would, whatever its own n; no budget: its own n)."""
    size = budget if tcfg.protocol == "equal_steps" and budget else n
    return math.ceil(size / tcfg.batch_size)


def optimizer(params, tcfg: TrainConfig, total: int):
    """A fresh AdamW and its schedule over `total` steps (constant, or cosine to min_lr)."""
    params = list(params)
    # fused: one kernel for all tensors instead of a Python loop over them (5× on the CPU)
    fused = all(p.device.type in ("cpu", "cuda") for p in params)
    opt = torch.optim.AdamW(params, lr=tcfg.lr, weight_decay=tcfg.weight_decay, fused=fused)
    if tcfg.schedule == "cosine":
        floor = tcfg.min_lr / tcfg.lr
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * s / total))
        )
    else:
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    return opt, sched


def fine_tune(
    model: torch.nn.Module,
    blocks: np.ndarray,
    valid: np.ndarray,
    tcfg: TrainConfig,
    seed: int,
    accelerator: Accelerator,
    desc: str | None = None,
    ranks: Ranks | None = None,
    budget: int | None = None,
    *,
    score_batch_size: int,
) -> TrainResult:
    """Train `model` in place for tcfg.epochs epochs on `blocks` [n, L] (epochs of the
    `budget` N under train.protocol=equal_steps), validating `score_batch_size` blocks a
    pass (score.batch_size); with `ranks` in data-parallel mode every rank calls this
    together (DDP)."""
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)  # dropout, where the model has any
    n_batches = steps_per_epoch(len(blocks), tcfg, budget)
    total = tcfg.epochs * n_batches
    opt, sched = optimizer(model.parameters(), tcfg, total)
    # `prepare` only where it adds something (DDP, fp16 loss scaling): what it holds is
    # released by `free_memory`, whose gc.collect costs more than training a tiny model
    prepare = (ranks is not None and ranks.data_parallel) or tcfg.mixed_precision == "fp16"
    if prepare:
        model, opt = accelerator.prepare(model, opt)  # the device, mixed precision; DDP
    else:
        model.to(accelerator.device)
    data = torch.as_tensor(blocks)

    def validate() -> float:
        return float(block_nll(model, valid, score_batch_size, accelerator, ranks=ranks).mean())

    def snapshot() -> dict[str, torch.Tensor]:
        state = accelerator.unwrap_model(model).state_dict()
        return {k: v.detach().clone() for k, v in state.items()}

    best_epoch, best_val, best_state, best_loss = -1, math.inf, None, math.nan
    if tcfg.start_is_candidate:
        best_epoch, best_val, best_state = 0, validate(), snapshot()
    val_losses: list[float] = []
    bar = tqdm(total=total, desc=desc, leave=False, disable=desc is None)
    batches = batch_order(len(data), tcfg.batch_size, gen)
    for epoch in range(1, tcfg.epochs + 1):
        model.train()
        losses = []
        for _ in range(n_batches):
            ids = data[next(batches)].to(accelerator.device)
            losses.append(step(model, ids, opt, sched, accelerator, ranks, plain=not prepare))
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


def fine_tune_together(
    module: torch.nn.Module,
    starts: list[dict[str, torch.Tensor]],
    sets: list[np.ndarray],
    valid: np.ndarray,
    tcfg: TrainConfig,
    seeds: list[int],
    accelerator: Accelerator,
    desc: str | None = None,
    budget: int | None = None,
    *,
    score_batch_size: int,
) -> tuple[list[TrainResult], list[dict[str, torch.Tensor]]]:
    """`fine_tune` for several models of `module`'s architecture at once (one batched
    computation, ecosys/kernels/ensemble.py): model i starts from starts[i], trains on sets[i]
    (all the same size) in the order its own seed gives, and keeps its own best epoch on
    the shared validation blocks. Returns their results and kept weights."""
    device = accelerator.device
    n = len(sets[0])
    gens = [torch.Generator().manual_seed(s) for s in seeds]
    torch.manual_seed(seeds[0])  # dropout, where the model has any
    ens = Ensemble(module, [{k: v.to(device) for k, v in st.items()} for st in starts])
    n_batches = steps_per_epoch(n, tcfg, budget)
    total = tcfg.epochs * n_batches
    opt, sched = optimizer(ens.parameters(), tcfg, total)
    data = torch.stack([torch.as_tensor(b) for b in sets]).to(device)  # [M, n, L]
    rows = torch.arange(len(sets), device=device)[:, None]
    held = torch.as_tensor(valid, device=device)

    def validate() -> torch.Tensor:
        with accelerator.autocast():
            return ens.block_nll(held, score_batch_size).mean(-1).cpu()  # [M]

    def snapshot() -> dict[str, torch.Tensor]:
        return {k: v.detach().clone() for k, v in ens.params.items()}

    n_models = len(sets)
    best_epoch, best_val, best_loss = [-1] * n_models, [math.inf] * n_models, [math.nan] * n_models
    best = snapshot()
    if tcfg.start_is_candidate:
        best_epoch, best_val = [0] * n_models, validate().tolist()
    val_losses: list[list[float]] = [[] for _ in range(n_models)]
    bar = tqdm(total=total, desc=desc, leave=False, disable=desc is None)
    streams = [batch_order(n, tcfg.batch_size, g) for g in gens]
    for epoch in range(1, tcfg.epochs + 1):
        losses = []
        for _ in range(n_batches):
            ids = data[rows, torch.stack([next(s) for s in streams]).to(device)]
            with accelerator.autocast():
                loss = ens.nll(ids).mean(dim=(1, 2))  # [M]: each model's batch mean
            loss.sum().backward()  # each slice gets its own model's gradient
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            losses.append(loss.detach().cpu())
            bar.update()
        val = validate().tolist()
        epoch_loss = torch.stack(losses).mean(0).tolist()
        for j in range(n_models):
            val_losses[j].append(val[j])
            if val[j] < best_val[j]:
                best_epoch[j], best_val[j], best_loss[j] = epoch, val[j], epoch_loss[j]
                for k, v in ens.params.items():
                    best[k][j] = v[j].detach()
        bar.set_postfix(epoch=epoch, loss=f"{np.mean(epoch_loss):.3f}", val=f"{np.mean(val):.3f}")
    bar.close()
    ens.params = best
    results = [
        TrainResult(best_loss[j], best_val[j], best_epoch[j], total, val_losses[j])
        for j in range(n_models)
    ]
    return results, [ens.state(j) for j in range(n_models)]
