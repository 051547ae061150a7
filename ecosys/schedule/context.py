"""What a phase body takes and what it returns: the interface between the schedule
(ecosys/schedule/loop.py) and the bodies (ecosys/schedule/phases/).

A body gets a `Context`: the run's typed config, its members, how the work spreads
over ranks, the accelerator, read access to what earlier units committed, and the
model cache. It returns a `Result` whose info keys are already the final metric names
(`train/loss`, `ppl/mean`, …); the schedule alone decides what runs and commits it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from accelerate import Accelerator

from ecosys.config.schema import Config
from ecosys.data import corpus
from ecosys.measures import exact, lenses
from ecosys.models import hf
from ecosys.rundir import layout
from ecosys.rundir.layout import Unit
from ecosys.rundir.store import RunStore
from ecosys.runtime import seeds
from ecosys.runtime.ranks import Ranks
from ecosys.schedule.members import Member, Roster


@dataclass
class Result:
    """What one unit produced. `info`: scalars under their final metric names (they
    become the unit's row entries) and records kept only in the unit's manifest
    (lists); `arrays`: named as ecosys/rundir/layout.py names them; `state`: the weights to
    checkpoint (train only)."""

    info: dict[str, Any] = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    state: dict[str, torch.Tensor] | None = None


class ModelCache:
    """One module per base model, loaded once per process; a member's weights are
    loaded into its base's module when asked for."""

    def __init__(self, cfg: Config, members: list[Member], accelerator: Accelerator):
        self.cfg, self.members, self.accelerator = cfg, members, accelerator
        self.bases: dict[str, tuple[torch.nn.Module, dict[str, torch.Tensor]]] = {}

    def model(self, m: int, weights: Path | None = None) -> torch.nn.Module:
        """Member m's base model, holding a checkpoint's weights if given."""
        src = self.members[m].base
        if src not in self.bases:
            mcfg = self.members[m].model
            dtype = hf.dtype(mcfg.dtype)
            model = hf.load(src, dtype, mcfg.attn_implementation).to(self.accelerator.device)
            if self.cfg.runtime.compile:
                model = hf.compiled(model)
            self.bases[src] = model, {k: v.clone() for k, v in model.state_dict().items()}
        model, state = self.bases[src]
        if weights is None:
            model.load_state_dict(state)
        else:
            hf.load_weights(model, weights)
        return model

    def base_state(self, m: int) -> dict[str, torch.Tensor]:
        """Member m's base weights (its base is loaded: a body asked for its model)."""
        return self.bases[self.members[m].base][1]

    def vocab_size(self, m: int) -> int:
        """The size of member m's model's output vocabulary (its base loaded once)."""
        src = self.members[m].base
        if src not in self.bases:
            self.model(m)
        return self.bases[src][0].config.vocab_size

    def save(self, m: int, state: dict[str, torch.Tensor], path: Path) -> None:
        """Write `state` as member m's checkpoint (through its module: tied weights)."""
        module = self.bases[self.members[m].base][0]
        load_state(module, state)
        hf.save_weights(module, path)


def _no_redo(t: int, m: int) -> Path:
    """A context outside a schedule (tests, the bench) cannot re-train a lost checkpoint."""
    raise RuntimeError(f"model {m}'s checkpoint of t={t} is lost and nothing can re-train it")


@dataclass
class Context:
    cfg: Config
    roster: Roster
    ranks: Ranks
    accelerator: Accelerator
    store: RunStore  # bodies read committed units through it; only the schedule commits
    cache: ModelCache
    references: dict[str, exact.Reference]  # p_data's side per community; {} off-world
    # the schedule's: re-train member m's checkpoint of t, pruned or found corrupt
    redo_train: Callable[[int, int], Path] = _no_redo
    progress: bool = True
    horizon: int = 0  # the T the run dir plans (≥ cfg.T): which t make a pool
    shared: dict[Any, Any] = field(default_factory=dict)  # a process's results bodies share

    @property
    def members(self) -> list[Member]:
        return self.roster.members

    @property
    def n_models(self) -> int:
        return len(self.roster.members)

    def weights(self, t: int, m: int) -> Path | None:
        """Model m's weights after iteration t (None: the base); re-trained if lost."""
        if t < 0:
            return None
        if self.ranks.agree(self.store.verified_checkpoint(Unit.of("train", t, m)) is None):
            return self.redo_train(t, m)
        return self.store.checkpoint_path(m, t)

    def model(self, m: int, t: int) -> torch.nn.Module:
        """Member m's model after iteration t (t = -1: its base)."""
        return self.cache.model(m, self.weights(t, m))

    def info(self, phase: str, t: int, m: int = -1) -> dict[str, Any]:
        return self.store.info_of(Unit.of(phase, t, m))

    def makes_pool(self, t: int) -> bool:
        """Does iteration t end in a pool (generate, cross, pool)? Not the last one, nor
        any when every model re-trains on its real set (data_quality.retrain_real)."""
        return t < max(self.cfg.T, self.horizon) - 1 and not self.cfg.data_quality.retrain_real

    def training_set(self, t: int, m: int) -> np.ndarray:
        """Member m's training blocks at t: its real generation set at t = 0, then by
        regime its share of the last pool (replace, the paper), its real set and its
        shares of every pool so far (accumulate), or n_m blocks drawn uniformly without
        replacement from those (accumulate_subsample). Read from the committed pools,
        never copied: the run store stays O(N·T)."""
        real = self.members[m].real_blocks
        regime = self.cfg.regime
        if t == 0 or self.cfg.data_quality.retrain_real:
            return real
        if regime.name == "replace":
            return self._share(t - 1, m)
        kept = [real] if regime.keep_real else []
        blocks = np.concatenate([*kept, *(self._share(s, m) for s in range(t))])
        if regime.name == "accumulate_subsample":
            rng = seeds.rng(self.cfg.seed, "regime", t, m)
            blocks = blocks[np.sort(rng.choice(len(blocks), size=len(real), replace=False))]
        return blocks

    def _share(self, t: int, m: int) -> np.ndarray:
        """Member m's share of the pool made at t."""
        if self.roster.shared_tokens:
            sizes = [mem.n for mem in self.members]
            return self.store.array(layout.pool(t))[corpus.slices(sizes)[m]]
        return self.store.array(layout.pool(t, m))

    def crosses(self) -> bool:
        """Is the cross-model matrix measured? With lenses, several models that read
        one token space, and lenses.cross (null: for M ≤ 16)."""
        lcfg = self.cfg.lenses
        on = lcfg.cross if lcfg.cross is not None else self.n_models <= 16
        return lcfg.enabled and on and self.n_models > 1 and self.roster.shared_tokens

    def tail(self, m: int) -> np.ndarray:
        """Member m's tail: the token ids outside the most frequent ones that cover 90%
        of its corpus's real training tokens (a mask over its model's vocabulary)."""
        mem = self.members[m]
        key = "tail", id(mem.corpus)
        if key not in self.shared:
            self.shared[key] = lenses.tail_tokens(mem.corpus.train, self.cache.vocab_size(m))
        return self.shared[key]

    def lens_rows(self, t: int, m: int, n: int) -> np.ndarray:
        """The fixed, seeded subsample (lenses.subsample of n) of model m's continuations
        at t that its self perplexity and the cross-model matrix score."""
        k = min(n, self.cfg.lenses.subsample)
        return np.sort(seeds.rng(self.cfg.seed, "lens", t, m).choice(n, size=k, replace=False))

    def seed(self, phase: str, t: int, m: int = -1) -> int:
        return seeds.derive(self.cfg.seed, phase, t, m)

    def desc(self, phase: str, t: int, m: int, last: int | None = None) -> str | None:
        """A progress bar's label, or None (no bar)."""
        who = f"{m + 1}" if last is None else f"{m + 1}…{last + 1}"
        return f"t={t} {phase} m={who}/{self.n_models}" if self.progress else None


def references(cfg: Config, members: list[Member]) -> dict[str, exact.Reference]:
    """p_data's side of the exact measurements, per community; empty where p_data is
    unknown (real corpora, a saved pool) or measure.exact is off."""
    if not cfg.measure.exact or any(mem.corpus.p_data is None for mem in members):
        return {}
    refs = {}
    for i, mem in enumerate(members):
        if mem.community not in refs:
            rng = seeds.rng(cfg.world.seed, "fresh", m=i)
            length = mem.real_blocks.shape[1]
            fresh = mem.corpus.p_data.sample(cfg.measure.fresh_blocks, length, rng)
            refs[mem.community] = exact.Reference(mem.corpus.p_data, fresh, cfg.measure.smoothing)
    return refs


def load_state(module: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    """load_state_dict, tolerant of non-persistent buffers, strict about parameters."""
    missing = module.load_state_dict(state, strict=False).missing_keys
    if missing:
        raise RuntimeError(f"weights lack {missing[:3]}…")
