"""One ecosystem run, as DESIGN.md §1 tells it.

    corpus → N-block sample → M generation sets (fixed per model)   (ecosys/schedule/members.py)
    evaluate the base models                                        (t = -1)
    for t = 0 … T-1:
        train every model on its training set (best-on-validation epoch)
        evaluate every model on the test set (per-block perplexity)
        measure every model against p_data (synthetic world only: ecosys/measures/exact.py)
        generate continuations of every model's prompts            (t < T-1)
        pool: concatenate, swap in real blocks, shuffle, redistribute
        summarize: μ_{m,t}, μ_t, combined std, μ_T so far → metrics.jsonl

This file is the schedule alone: which phases (ecosys/schedule/phases/) run at t, which units
are already done, committing what their bodies return, and where ranks meet. Every
unit (phase, t, model) commits atomically and is skipped when already committed, so a
killed run resumes where it stopped and ends with the same numbers as an
uninterrupted one.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable
from pathlib import Path

import torch
import transformers
from accelerate import Accelerator
from omegaconf import DictConfig, OmegaConf

from ecosys import config
from ecosys.config.schema import Config
from ecosys.models import base
from ecosys.rundir import layout, summary
from ecosys.rundir.layout import Unit
from ecosys.rundir.store import RunLocked, RunStore
from ecosys.rundir.tracking import Tracker, caught_up, open_tracker
from ecosys.runtime import preemption, ranks
from ecosys.schedule import members
from ecosys.schedule.context import Context, ModelCache, Result, references
from ecosys.schedule.members import Roster
from ecosys.schedule.phases import PHASES, TRAIN, Phase

log = logging.getLogger(__name__)
transformers.utils.logging.disable_progress_bar()  # per-file load/save bars: noise at this rate


class Ecosystem:
    """The schedule of one run: the units of every phase, t and model, in order."""

    def __init__(
        self,
        spec: Config,
        roster: Roster,
        accelerator: Accelerator,
        store: RunStore,
        tracker: Tracker | None = None,
        safe_point: Callable[[int], None] = lambda t: None,
    ):
        # the context every body gets; a body that finds a checkpoint lost has it re-trained
        # by this schedule (redo_train), with the others of its batch group
        self.ctx = ctx = Context(
            spec,
            roster,
            ranks.Ranks(accelerator, len(roster.members)),
            accelerator,
            store,
            ModelCache(spec, roster.members, accelerator),
            references(spec, roster.members),
            redo_train=self._redo_train,
            progress=spec.runtime.progress,
            horizon=max(spec.T, store.planned_T() or 0),
        )
        self.store, self.ranks = store, ctx.ranks
        self.tracker = tracker or Tracker()
        self.safe_point = safe_point  # where a held preemption signal may act
        self.mine = self.ranks.models(ctx.n_models)  # the models whose units this rank runs

    def run(self) -> None:
        for t in range(-1, self.ctx.cfg.T):  # t = -1: the base models
            self.iteration(t)
        last = self.ctx.cfg.T - 1
        for m in self.mine:  # the final checkpoints are part of the result: verify them
            if self.store.done(Unit.of("train", last + 1, m)):
                continue  # the run went further before (a larger T): its checkpoint is later
            self.ctx.weights(last, m)
            if self.ranks.writes(m):
                self.store.prune_checkpoints(m, before=last)
        self.ranks.barrier()

    def iteration(self, t: int) -> None:
        start, seconds = time.perf_counter(), {}
        for phase in PHASES:
            if not phase.applies(self.ctx, t):
                continue
            began = time.perf_counter()
            if phase.per_model:
                for group in self._groups(phase, t):
                    self._run_group(phase, t, group)
            else:
                self.ranks.barrier()  # every model's units of t are committed
                if self.ranks.main and self._todo(Unit.of(phase.name, t), together=False):
                    self._commit(Unit.of(phase.name, t), phase.body(self.ctx, t))
            seconds[phase.name] = time.perf_counter() - began
        self.ranks.barrier()  # the pool (next iteration's training sets) is committed
        if self.ranks.main:
            timing = {"iteration": time.perf_counter() - start, **seconds} if t >= 0 else {}
            self._summarize(t, timing)
            self._log(t)

    # -- units ---------------------------------------------------------------------------

    def _groups(self, phase: Phase, t: int) -> list[list[int]]:
        """This rank's models, in groups that may run `phase` at t as one batched
        computation: same base, same test set, same training-set size, where
        train.together allows it (singletons otherwise, and for the base models)."""
        if phase.together is None or t < 0 or not phase.batchable(self.ctx):
            return [[m] for m in self.mine]
        if not self._together():
            return [[m] for m in self.mine]
        groups: dict[tuple, list[int]] = {}
        for m in self.mine:
            mem = self.ctx.members[m]
            size = len(self.ctx.training_set(t, m)) if phase is TRAIN else 0
            groups.setdefault((mem.base, mem.community, size), []).append(m)
        return list(groups.values())

    def _together(self) -> bool:
        """train.together, where it applies: several models on this rank, no DDP, and no
        fp16 (whose loss scaler Accelerate keeps per prepared model)."""
        tcfg = self.ctx.cfg.train
        if not tcfg.together or self.ranks.data_parallel or len(self.mine) < 2:
            return False
        return tcfg.mixed_precision != "fp16"

    def _run_group(self, phase: Phase, t: int, group: list[int]) -> None:
        """A group's units of `phase` at t; a batched group is computed whole, also when a
        resume finds some of it done (its rounding may depend on who is in the batch),
        and commits the units that are not."""
        units = {m: Unit.of(phase.name, t, m) for m in group}
        if len(group) == 1:
            (m,) = group
            if self._todo(units[m]):
                self._commit(units[m], phase.body(self.ctx, t, m))
        elif todo := [m for m in group if self._todo(units[m])]:
            results = phase.together(self.ctx, t, group)
            for m, result in zip(group, results, strict=True):
                if m in todo:
                    self._commit(units[m], result)

    def _todo(self, unit: Unit, together: bool = True) -> bool:
        """True when `unit` still has to run (not committed, or its files are corrupt);
        ranks that compute a unit `together` decide together (rank 0 alone otherwise)."""
        self.safe_point(unit.t)  # between units: a preemption requeues here; a hold waits
        done = self.store.done(unit)
        if self.ranks.agree(done) if together else done:
            return False
        log.debug("start %s", unit.key)
        return True

    def _commit(self, unit: Unit, result: Result) -> None:
        """Commit a unit's result from the rank that writes it (a train unit with its
        checkpoint); ranks sharing the model wait for the files before they go on."""
        t, m = unit.t, unit.m
        if m < 0 or self.ranks.writes(m):
            ckpt = None
            if result.state is not None:
                tmp = self.store.temp_checkpoint_path(m, t)
                self.ctx.cache.save(m, result.state, tmp)
                ckpt = self.store.adopt_checkpoint(tmp, m, t)
            self.store.commit(unit, arrays=result.arrays, checkpoint=ckpt, info=result.info)
            if ckpt is not None:
                self.store.prune_checkpoints(m, before=t)
        if m >= 0 and self.ranks.data_parallel:
            self.ranks.barrier()

    def _redo_train(self, t: int, m: int) -> Path:
        """Re-train model m's lost checkpoint of t, with the others of its batch group."""
        (group,) = [g for g in self._groups(TRAIN, t) if m in g]
        for other in group:  # the group's other lost checkpoints: redone in the same pass
            self.store.verified_checkpoint(Unit.of("train", t, other))
        self._run_group(TRAIN, t, group)
        return self.store.checkpoint_path(m, t)

    # -- the iteration's rows ------------------------------------------------------------

    def _summarize(self, t: int, seconds: dict[str, float]) -> None:
        """Rank 0: the iteration's model rows and ecosystem row, from committed infos."""
        unit = Unit.of("summary", t)
        if not self._todo(unit, together=False):
            return
        ran = [p for p in PHASES if p.applies(self.ctx, t)]
        rows = []
        for m, mem in enumerate(self.ctx.members):
            coords = {}
            if mem.family or mem.community:
                coords = {"family": mem.model.name, "community": mem.community or mem.data.name}
            infos = [self.ctx.info(p.name, t, m) for p in ran if p.per_model]
            rows.append(summary.model_row(t, m, coords, infos))
        ppls = [self.store.array(layout.ppl(t, m)) for m in range(self.ctx.n_models)]
        eco_infos = [self.ctx.info(p.name, t) for p in ran if not p.per_model]
        mu_before = [self._eco_row(s)["ppl/mean"] for s in range(t)]
        eco = summary.ecosystem_row(t, rows, ppls, mu_before, eco_infos, seconds)
        self.store.commit(unit, rows=[*rows, eco])

    def _eco_row(self, t: int) -> dict:
        rows = self.store.manifest(Unit.of("summary", t))["rows"]
        return next(r for r in rows if r["scope"] == "ecosystem")

    def _log(self, t: int) -> None:
        """The one summary line per iteration (also for iterations done before a resume),
        and the iteration's mirror in the tracker."""
        self.tracker.sync()
        eco = self._eco_row(t)
        if t < 0:
            log.info("t=-1 | base model | μ %.2f", eco["ppl/mean"])
            return
        log.info(
            "t=%d | μ_t %.2f (std %.2f) | μ_T %.2f | train loss %.3f | %.1f s",
            t,
            eco["ppl/mean"],
            eco["ppl/std"],
            eco["ppl/mu_T"],
            eco["train/loss"],
            eco["time/iteration_s"],
        )


def run(cfg: DictConfig, root: str | Path | None = None, group: str | None = None) -> Path:
    """Run (or resume) the ecosystem `cfg` describes; returns its run directory.
    `group` names the sweep the run belongs to (the tracker's group). Under
    `accelerate launch` every process calls this; ecosys/runtime/ranks.py says who does what."""
    config.validate(cfg)
    run_dir = Path(root if root is not None else cfg.out_dir) / config.run_name(cfg)
    if RunStore.finished(run_dir, cfg) and caught_up(cfg, run_dir, cfg.T):
        log.info("%s holds T = %d iterations already: nothing to do", run_dir, cfg.T)
        return run_dir  # not a byte written: a finished cell of a rerun grid is a no-op
    torch.set_num_threads(ranks.threads(cfg.runtime.threads))  # else the CPUs allotted
    accelerator = ranks.accelerator(cfg)
    if not accelerator.is_main_process:  # one process tells the story
        log.parent.setLevel(logging.WARNING)
    roster = members.assemble(cfg)  # bases, tokenizers, corpora, generation sets: no training
    info = members.run_info(cfg, roster, run_dir.name, accelerator.num_processes)
    opened = ranks.main_first(
        accelerator, lambda: RunStore.open(run_dir, cfg, info), (config.ConfigError, RunLocked)
    )
    with opened or RunStore.attach(run_dir) as store:
        log.info("run dir %s", run_dir)
        members.describe(roster, info, ranks.Ranks(accelerator, len(roster.members)))
        for mcfg in {id(mem.model): mem.model for mem in roster.members}.values():
            base.ensure(cfg, mcfg, accelerator)  # one process builds it, the others wait
        spec: Config = OmegaConf.to_object(cfg)  # typed from here on
        main = accelerator.is_main_process
        tracker = open_tracker(cfg, run_dir, info, group) if main else Tracker()
        try:
            gc.freeze()  # the libraries' objects: each unit's gc.collect then skips them
            with preemption.deferred(cfg.runtime.preempt_grace_s) as safe_point:
                Ecosystem(spec, roster, accelerator, store, tracker, safe_point).run()
        except Exception as err:  # into log.txt: a grid's status reads a cell's error there
            log.error("run failed: %s: %s", type(err).__name__, err)
            raise
        finally:
            tracker.finish()
        log.info("done: %s", run_dir)
    return run_dir
