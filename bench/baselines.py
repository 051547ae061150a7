"""The paper's plain code, as one would write it without ecosys: what each bench row
compares ecosys against, on the same inputs, in the same process."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def hf_generate(model, prompts: torch.Tensor, batch: int, **mode) -> torch.Tensor:
    """The paper's code: `generate` on batches, min = max new tokens, default cache."""
    out = []
    for i in range(0, len(prompts), batch):
        ids = prompts[i : i + batch]
        out.append(
            model.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                min_new_tokens=ids.size(1),
                max_new_tokens=ids.size(1),
                **mode,
            )[:, ids.size(1) :]
        )
    return torch.cat(out)


def plain_train(
    model, blocks: torch.Tensor, valid: torch.Tensor, epochs: int, batch: int, lr: float, seed: int
) -> float:
    """A per-model loop as one would write it: AdamW, shuffled batches, validation after
    every epoch, the best epoch's weights kept. Returns the best validation loss."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    best, best_state = math.inf, None
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(blocks), generator=gen)
        for i in range(0, len(blocks), batch):
            ids = blocks[order[i : i + batch]]
            logits = model(input_ids=ids).logits[:, :-1]
            loss = F.cross_entropy(
                logits.reshape(-1, logits.size(-1)).float(), ids[:, 1:].reshape(-1)
            )
            loss.backward()
            opt.step()
            opt.zero_grad()
        val = plain_nll(model, valid, 64).mean()
        if val < best:
            best, best_state = val, {k: v.clone() for k, v in model.state_dict().items()}
    model.load_state_dict(best_state)
    return float(best)


@torch.no_grad()
def plain_nll(model, blocks: torch.Tensor, batch: int) -> torch.Tensor:
    """Per-block mean token NLL with a plain batched forward pass."""
    model.eval()
    out = []
    for ids in blocks.split(batch):
        logits = model(input_ids=ids).logits[:, :-1].float()
        nll = F.cross_entropy(
            logits.reshape(-1, logits.size(-1)), ids[:, 1:].reshape(-1), reduction="none"
        )
        out.append(nll.view(len(ids), -1).mean(-1))
    return torch.cat(out)
