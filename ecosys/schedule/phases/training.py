"""The train phase: every model fine-tuned on its training set at t (DESIGN.md §1.3)."""

from __future__ import annotations

import torch

from ecosys.kernels.ensemble import states_of
from ecosys.kernels.train import TrainResult, blocks_seen, fine_tune, fine_tune_together
from ecosys.schedule.context import Context, Result


def train(ctx: Context, t: int, m: int) -> Result:
    """Model m fine-tuned at t from its weights after t-1 (or its base)."""
    start_from = None if ctx.cfg.train.restart_from_base else ctx.weights(t - 1, m)
    blocks = ctx.training_set(t, m)
    model = ctx.cache.model(m, start_from)
    mem = ctx.members[m]
    result = fine_tune(
        model,
        blocks,
        mem.corpus.valid,
        ctx.cfg.train,
        ctx.seed("train", t, m),
        ctx.accelerator,
        ctx.desc("train", t, m),
        ctx.ranks,
        mem.budget,
        score_batch_size=ctx.cfg.score.batch_size,
    )
    state = dict(model.state_dict())
    return _kept(ctx, m, model, state, result, len(blocks))


def train_together(ctx: Context, t: int, group: list[int]) -> list[Result]:
    """The models of `group` (one base, equal training-set sizes) as one batched
    computation (ecosys/kernels/ensemble.py)."""
    restart = ctx.cfg.train.restart_from_base
    starts = [
        states_of(ctx.cache.model(m, None if restart else ctx.weights(t - 1, m))) for m in group
    ]
    sets = [ctx.training_set(t, m) for m in group]
    module = ctx.cache.model(group[0])
    results, states = fine_tune_together(
        module,
        starts,
        sets,
        ctx.members[group[0]].corpus.valid,
        ctx.cfg.train,
        [ctx.seed("train", t, m) for m in group],
        ctx.accelerator,
        ctx.desc("train", t, group[0], group[-1]),
        ctx.members[group[0]].budget,
        score_batch_size=ctx.cfg.score.batch_size,
    )
    return [
        _kept(ctx, m, module, state, result, len(blocks))
        for m, result, state, blocks in zip(group, results, states, sets, strict=True)
    ]


def _kept(
    ctx: Context,
    m: int,
    module: torch.nn.Module,
    state: dict[str, torch.Tensor],
    result: TrainResult,
    examples: int,
) -> Result:
    """Model m's kept weights and what training did."""
    info = {
        "train/loss": result.loss,
        "train/val_loss": result.val_loss,
        "train/best_epoch": result.best_epoch,
        "train/steps": result.steps,
        "train/examples": examples,  # blocks in the training set
        "train/blocks_seen": blocks_seen(examples, ctx.cfg.train.batch_size, result.steps),
        "train/val_losses": result.val_losses,
        "train/param_dist": _distance(module, state, ctx.cache.base_state(m)),
    }
    return Result(info=info, state=state)


def _distance(
    module: torch.nn.Module, state: dict[str, torch.Tensor], base: dict[str, torch.Tensor]
) -> float:
    """‖θ − θ_base‖₂ over all parameters: how far training has moved a model."""
    total = sum(
        float((state[name].detach().float() - base[name].float()).pow(2).sum())
        for name, _ in module.named_parameters()
    )
    return total**0.5
