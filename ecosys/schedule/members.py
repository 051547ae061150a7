"""Who the M models of an ecosystem are, and what each starts with.

A member has a family (a model config: base model and tokenizer) and a community (a
data config: train / valid / test corpus). By default every member shares `model` and
`data`. Two of the paper's App. G settings change that:

- mixed families (OPT + GPT2): `families` maps names to model configs and member m
  takes family m mod F (names in sorted order);
- community test sets (WikiText-2 + PTB): `communities` maps names to data configs and
  member m takes community (m div F) mod C; each community samples its own N blocks
  from its own train split (trimmed to the shortest community's, as the paper does),
  and each member is scored on its own community's test set.

Every member's blocks are in its own tokens; a member's data share w_m is taken of
its community's N (shares renormalised within the community).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import transformers
from omegaconf import DictConfig
from transformers import PreTrainedTokenizerBase

import ecosys
from ecosys import config
from ecosys.data import corpus
from ecosys.models import base, hf
from ecosys.runtime.ranks import Ranks, allocated_cpus

log = logging.getLogger(__name__)


@dataclass
class Member:
    m: int
    family: str  # key in cfg.families ("" when there is one family)
    community: str  # key in cfg.communities ("" when there is one)
    model: DictConfig
    data: DictConfig
    base: str  # the base model's directory or hub id
    tokenizer: PreTrainedTokenizerBase | None  # None: the synthetic world's token ids
    corpus: corpus.Corpus
    # its segment of the N-block sample [n, L], fixed for the whole run: the prompts it
    # continues at every t, its training set at t = 0, its own blocks for eval_on_train
    # and the base's tail share
    real_blocks: np.ndarray
    budget: int = 0  # N: the blocks of the sample its share was taken of

    @property
    def n(self) -> int:
        return len(self.real_blocks)

    @property
    def tokens(self) -> str:
        """What the member's token ids mean: members with equal values can share blocks."""
        return base.tokenizer_source(self.model, self.base) if self.tokenizer else "synthetic"


@dataclass
class Roster:
    members: list[Member]
    samples: dict[str, int] = field(default_factory=dict)  # N per (family/community)
    dropped: int = 0  # blocks of the samples no member got (N not divisible)

    @property
    def shared_tokens(self) -> bool:
        """All members read the same token ids: pools stay token blocks, else text."""
        return len({mem.tokens for mem in self.members}) == 1


def assignment(cfg: DictConfig) -> list[tuple[str, str]]:
    """(family, community) of every member."""
    fams = sorted(cfg.families) or [""]
    coms = sorted(cfg.communities) or [""]
    return [
        (fams[m % len(fams)], coms[(m // len(fams)) % len(coms)]) for m in range(cfg.diversity.m)
    ]


def assemble(cfg: DictConfig) -> Roster:
    """Bases, tokenizers, corpora and generation sets of all members; no training."""
    fam_cfgs = dict(cfg.families) or {"": cfg.model}
    com_cfgs = dict(cfg.communities) or {"": cfg.data}
    who = assignment(cfg)

    bases, tokenizers = {}, {}
    for f in sorted({f for f, _ in who}):
        mcfg = fam_cfgs[f]
        bases[f] = base.locate(cfg, mcfg)
        synthetic = mcfg.source == "synthetic"
        context = mcfg.n_positions if synthetic else hf.context_length(bases[f])
        for c in sorted({c for _, c in who}):
            config.check_context(com_cfgs[c].block_size, context, _key("data.block_size", c))
        tokenizers[f] = (
            None if synthetic else hf.load_tokenizer(base.tokenizer_source(mcfg, bases[f]))
        )

    corpora = {
        (f, c): corpus.load(cfg, com_cfgs[c], tokenizers[f], f"communities.{c}" if c else "data")
        for f, c in sorted(set(who))
    }
    if len(com_cfgs) > 1 and cfg.scale.trim_communities:
        for f in {f for f, _ in who}:
            shortest = min(len(corpora[f, c].train) for c in com_cfgs if (f, c) in corpora)
            for c in com_cfgs:
                if (f, c) in corpora:
                    corpora[f, c].train = corpora[f, c].train[:shortest]

    w = config.shares(cfg)
    roster = Roster([])
    real_blocks, budgets = {}, {}
    for f, c in sorted(set(who)):
        train = corpora[f, c].train
        sample = corpus.budget(len(train), cfg.scale.fraction, cfg.scale.max_blocks, cfg.seed)
        in_community = [m for m, (_, cm) in enumerate(who) if cm == c]
        total = sum(w[m] for m in in_community)
        sizes = corpus.split_sizes(len(sample), [w[m] / total for m in in_community])
        config.check_budget(min(sizes), len(sample), len(in_community))
        parts = _segments(cfg.diversity.segments, sample, sizes, cfg.seed)
        for m, idx in zip(in_community, parts, strict=True):
            if who[m][0] == f:
                real_blocks[m] = train[idx]
        roster.samples["/".join(filter(None, (f, c))) or "all"] = budgets[f, c] = len(sample)
        if f == min(fm for fm, cm in who if cm == c):  # count each community's sample once
            roster.dropped += len(sample) - len(np.unique(np.concatenate(parts)))
    for m, (f, c) in enumerate(who):
        roster.members.append(
            Member(
                m,
                f,
                c,
                fam_cfgs[f],
                com_cfgs[c],
                bases[f],
                tokenizers[f],
                corpora[f, c],
                real_blocks[m],
                budgets[f, c],
            )
        )
    return roster


def _segments(how: str, sample: np.ndarray, sizes: list[int], seed: int) -> list[np.ndarray]:
    """Each model's generation set: its own segment (split), all segment 0 (same: the
    expansion control), or all of N (whole: k identical models)."""
    if how == config.Segments.whole:
        return corpus.segment(sample, [len(sample)], seed) * len(sizes)
    parts = corpus.segment(sample, sizes, seed)
    return [parts[0]] * len(parts) if how == config.Segments.same else parts


def _key(key: str, community: str) -> str:
    return f"communities.{community}.{key.split('.', 1)[1]}" if community else key


def run_info(cfg: DictConfig, roster: Roster, name: str, processes: int) -> dict[str, Any]:
    """run.json: who the members are, N, D, and what the run is; written once."""
    first = roster.members[0]
    info = {
        "processes": processes,
        "run_id": config.config_hash(cfg),
        "name": name,
        "condition": config.condition(cfg),
        "D": config.hill_shannon(config.shares(cfg)),
        "M": cfg.diversity.m,
        "seed": cfg.seed,
        "T": cfg.T,
        "N": sum(roster.samples.values()),
        "samples": roster.samples,
        "sizes": [mem.n for mem in roster.members],
        "dropped_blocks": roster.dropped,
        "block_size": config.block_size(cfg),
        "members": [
            {
                "m": mem.m,
                "family": mem.model.name,
                "community": mem.community or mem.data.name,
                "base": mem.base,
                "n": mem.n,
                "test_blocks": len(mem.corpus.test),
                "valid_blocks": len(mem.corpus.valid),
            }
            for mem in roster.members
        ],
        "versions": {
            "ecosys": ecosys.__version__,
            "torch": torch.__version__,
            "transformers": transformers.__version__,
        },
    }
    if first.corpus.p_data is not None:
        p_data = first.corpus.p_data
        info["world"] = {
            "entropy_rate_ppl": float(np.exp(p_data.entropy_rate())),
            "oracle_test_ppl": float(p_data.block_perplexity(first.corpus.test).mean()),
        }
    return info


def describe(roster: Roster, info: dict[str, Any], ranks: Ranks) -> None:
    """The run's opening log lines: N, the shares, the processes, the world's floor."""
    sizes = info["sizes"]
    log.info(
        "N = %s blocks of %d → %d models × %s (%d dropped)%s",
        "/".join(map(str, roster.samples.values())),
        info["block_size"],
        len(sizes),
        f"{sizes[0]} blocks" if len(set(sizes)) == 1 else "/".join(map(str, sizes)),
        roster.dropped,
        f"; {ranks.k} processes" if ranks.k > 1 else "",
    )
    cpus, source = allocated_cpus()
    log.info(
        "torch threads: %d per process (allotted: %d, %s)", torch.get_num_threads(), cpus, source
    )
    if ranks.k > 1:
        world = dist.get_world_size() if dist.is_initialized() else 1
        mode = "data-parallel per model" if ranks.data_parallel else "models spread over ranks"
        log.info("process group: world size %d (%s)", world, mode)
    if "world" in info:
        w = info["world"]
        log.info(
            "world: exp(H) %.2f, oracle test ppl %.2f", w["entropy_rate_ppl"], w["oracle_test_ppl"]
        )
