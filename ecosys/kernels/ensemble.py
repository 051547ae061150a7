"""Several models of one architecture as one batched computation (`torch.func`).

Their parameters are stacked on a leading model axis and one forward pass is vmapped
over it, so the synthetic world's M small models train and score in one step instead
of M steps that each leave the CPU (or GPU) mostly idle. Each model's loss depends on
its own slice only, so the gradient of the summed loss is every model's own gradient,
and AdamW, which is elementwise, updates each slice exactly as a separate optimizer
would: results equal the per-model loop up to floating-point rounding.
"""

from __future__ import annotations

import copy

import torch
from torch.func import functional_call, vmap

from ecosys.kernels.evaluate import token_nll


class Ensemble:
    """M copies of `module`'s architecture holding the M parameter sets `states`."""

    def __init__(self, module: torch.nn.Module, states: list[dict[str, torch.Tensor]]):
        first: dict[int, str] = {}
        self.alias: dict[str, str] = {}  # tied parameters (lm_head → wte): one stacked tensor
        for name, p in module.named_parameters(remove_duplicate=False):
            if id(p) in first:
                self.alias[name] = first[id(p)]
            else:
                first[id(p)] = name
        names = list(first.values())
        self.params = {k: torch.stack([s[k] for s in states]).requires_grad_() for k in names}
        self.buffers = {
            k: torch.stack([s.get(k, b) for s in states]) for k, b in module.named_buffers()
        }
        self.template = copy.deepcopy(module).to("meta")
        self.template.__dict__.pop("forward", None)  # runtime.compile's graphs are not vmappable
        self.template.config._attn_implementation = "eager"  # vmappable; sdpa is looped over M

    def _forward(self, params, buffers, ids: torch.Tensor) -> torch.Tensor:
        full = {**params, **{a: params[b] for a, b in self.alias.items()}, **buffers}
        kwargs = {"use_cache": False}
        return functional_call(self.template, full, (ids,), kwargs, tie_weights=False).logits

    def logits(self, ids: torch.Tensor) -> torch.Tensor:
        """[M, B, L, V] logits of ids [M, B, L] (each model its own batch) or [B, L] (one
        batch for all)."""
        shared = ids.dim() == 2
        return vmap(self._forward, in_dims=(0, 0, None if shared else 0))(
            self.params, self.buffers, ids
        )

    def nll(self, ids: torch.Tensor) -> torch.Tensor:
        """[M, B, L-1] token NLLs, as `evaluate.token_nll` computes them per model."""
        logits = self.logits(ids)
        m, b = logits.shape[:2]
        target = ids.expand(m, *ids.shape[-2:]) if ids.dim() == 2 else ids
        return token_nll(logits.flatten(0, 1), target.flatten(0, 1)).view(m, b, -1)

    @torch.no_grad()
    def block_nll(self, blocks: torch.Tensor, batch_size: int) -> torch.Tensor:
        """[M, n] float64 mean token NLL of every block for every model, as
        `evaluate.block_nll` gives per model."""
        return torch.cat([self.nll(ids).mean(-1).double() for ids in blocks.split(batch_size)], 1)

    def state(self, i: int) -> dict[str, torch.Tensor]:
        """Model i's parameters and buffers (detached copies), for `load_state_dict`."""
        out = {k: v[i].detach().clone() for k, v in self.params.items()}
        out |= {a: out[b] for a, b in self.alias.items()}
        return out | {k: v[i].clone() for k, v in self.buffers.items()}

    def parameters(self) -> list[torch.Tensor]:
        return list(self.params.values())


def states_of(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """module's parameters and buffers, detached copies: one member of an Ensemble."""
    out = {k: p.detach().clone() for k, p in module.named_parameters()}
    return out | {k: b.clone() for k, b in module.named_buffers()}
