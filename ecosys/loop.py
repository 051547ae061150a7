"""One ecosystem run, as DESIGN.md §1 tells it.

    corpus → N-block sample → M generation sets (fixed per model)   (ecosys/members.py)
    evaluate the base model                                        (t = -1)
    for t = 0 … T-1:
        train every model on its training set (best-on-validation epoch)
        evaluate every model on the test set (per-block perplexity)
        measure every model against p_data (synthetic world only: ecosys/exact.py)
        generate continuations of every model's prompts            (t < T-1)
        pool: concatenate, swap in real blocks, shuffle, redistribute
        summarize: μ_{m,t}, μ_t, combined std, μ_T so far → metrics.jsonl

Every step is a unit (phase, t, model) of the run store: committed atomically,
skipped when already committed, so a killed run resumes where it stopped and ends
with the same numbers as an uninterrupted one.
"""

from __future__ import annotations

import gc
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import transformers
from accelerate import Accelerator
from accelerate.utils import broadcast_object_list
from omegaconf import DictConfig

import ecosys
from ecosys import base, config, corpus, exact, members, metrics, models, preemption, seeds
from ecosys.ensemble import Ensemble, states_of
from ecosys.evaluate import block_nll, block_perplexity
from ecosys.generate import continue_blocks
from ecosys.members import Member, Roster
from ecosys.pool import redistribute, redistribute_text
from ecosys.ranks import Ranks, join_slurm_tasks
from ecosys.store import RunLocked, RunStore, Unit
from ecosys.tracking import Tracker, open_tracker
from ecosys.train import fine_tune, fine_tune_together

log = logging.getLogger(__name__)
transformers.utils.logging.disable_progress_bar()  # per-file load/save bars: noise at this rate

PHASES = ("train", "evaluate", "measure", "generate")
TIMING_KEYS = (  # the only values a rerun changes
    "gen/tokens_per_s",
    "time/iteration_s",
    *(f"time/{phase}_s" for phase in PHASES),
)


class Ecosystem:
    """The M models of one run and the units that move them through the iterations."""

    def __init__(
        self,
        cfg: DictConfig,
        store: RunStore,
        roster: Roster,
        accelerator: Accelerator,
        tracker: Tracker | None = None,
        safe_point: Callable[[], None] = lambda: None,
    ):
        self.cfg, self.store, self.roster = cfg, store, roster
        self.safe_point = safe_point  # where a held preemption signal may act
        self.tracker = tracker or Tracker()
        self.members: list[Member] = roster.members
        self.m = len(self.members)
        self.accelerator = accelerator
        self.ranks = Ranks(accelerator, self.m)
        self.mine = self.ranks.models(self.m)  # the models whose units this process computes
        self.progress = cfg.runtime.progress
        self._bases: dict[str, tuple[torch.nn.Module, dict]] = {}  # loaded once per base
        self._base_ppl: dict[tuple[str, str], np.ndarray] = {}
        self.references = _references(cfg, self.members)  # {community: p_data's side}

    def run(self) -> None:
        main, ranks = self.ranks.main, self.ranks
        for m in self.mine:
            self.evaluate(-1, m)
            if self.references:
                self.measure(-1, m)
        ranks.barrier()
        if main:
            self.summarize(-1, 0.0)
            self.log_iteration(-1)
        for t in range(self.cfg.T):
            start, spent = time.perf_counter(), {}
            for phase in self._phases(t):
                began = time.perf_counter()
                for group in self._groups(phase, t):
                    self._run_group(phase, t, group)
                spent[phase] = time.perf_counter() - began
            if self._pools(t):
                ranks.barrier()  # every model's generated set is committed
                if main:
                    self.pool(t)
            ranks.barrier()  # the pool (next iteration's training sets) is committed
            if main:
                if self.references and self.m > 1:
                    self.disagree(t)
                self.summarize(t, time.perf_counter() - start, spent)
                self.log_iteration(t)
        for m in self.mine:  # the final checkpoints are part of the result: verify them
            self.weights(self.cfg.T - 1, m)
            if ranks.writes(m):
                self.store.prune_checkpoints(m, before=self.cfg.T - 1)
        ranks.barrier()

    # -- models and data ---------------------------------------------------------------

    def model(self, m: int, weights: Path | None) -> torch.nn.Module:
        """Member m's base model, with a checkpoint's weights loaded if given."""
        src = self.members[m].base
        if src not in self._bases:
            mcfg = self.members[m].model
            dtype = models.dtype(mcfg.dtype, self.cfg.runtime.cpu)
            model = models.load(src, dtype, mcfg.attn_implementation).to(self.accelerator.device)
            if self.cfg.runtime.compile:
                model = models.compiled(model)
            self._bases[src] = model, {k: v.clone() for k, v in model.state_dict().items()}
        model, state = self._bases[src]
        if weights is None:
            model.load_state_dict(state)
        else:
            models.load_weights(model, weights)
        return model

    def weights(self, t: int, m: int) -> Path | None:
        """Model m's weights after iteration t (None: the base); retrained if lost."""
        if t < 0:
            return None
        unit = Unit.of("train", t, m)
        if self.ranks.agree(self.store.verified_checkpoint(unit) is None):
            (group,) = [g for g in self._groups("train", t) if m in g]
            for other in group:  # the group's other lost checkpoints: redone in the same pass
                self.store.verified_checkpoint(Unit.of("train", t, other))
            self._run_group("train", t, group)
        return self.store.checkpoint_path(m, t)

    def _pools(self, t: int) -> bool:
        """Is there a pool after t? Not after the last iteration, nor when every model
        re-trains on its real set (data_quality.retrain_real)."""
        return t < self.cfg.T - 1 and not self.cfg.data_quality.retrain_real

    def _phases(self, t: int) -> list[str]:
        return [
            p
            for p in PHASES
            if (p != "measure" or self.references) and (p != "generate" or self._pools(t))
        ]

    def training_set(self, t: int, m: int) -> np.ndarray:
        """Member m's training blocks at t: its generation set, then its pool share."""
        if t == 0 or self.cfg.data_quality.retrain_real:
            return self.members[m].prompts
        if self.roster.shared_tokens:
            sizes = [mem.n for mem in self.members]
            return self.store.array(f"pools/t{t - 1:02d}")[corpus.slices(sizes)[m]]
        return self.store.array(f"pools/t{t - 1:02d}.m{m:02d}")

    def _todo(self, unit: Unit, together: bool = True) -> bool:
        """True when `unit` still has to run (not committed, or its files are corrupt);
        ranks that compute a unit `together` decide together (rank 0 alone otherwise)."""
        self.safe_point()  # between units: a preemption checkpoints and requeues here
        done = self.store.done(unit)
        if self.ranks.agree(done) if together else done:
            return False
        log.debug("start %s", unit.key)
        return True

    def _groups(self, phase: str, t: int) -> list[list[int]]:
        """This rank's models, in groups that may run `phase` at t as one batched
        computation: same base, same test set, same training-set size, where
        train.together allows it (singletons otherwise, and for generation)."""
        solo = phase in ("generate", "measure") or (
            phase == "evaluate" and self.cfg.train.eval_on_train
        )
        if solo or not self._together():
            return [[m] for m in self.mine]
        groups: dict[tuple, list[int]] = {}
        for m in self.mine:
            mem = self.members[m]
            size = len(self.training_set(t, m)) if phase == "train" else 0
            groups.setdefault((mem.base, mem.community, size), []).append(m)
        return list(groups.values())

    def _run_group(self, phase: str, t: int, group: list[int]) -> None:
        """A group's units of `phase` at t; a batched group is computed whole, also when a
        resume finds some of it done (its rounding may depend on who is in the batch),
        and commits the units that are not."""
        if len(group) == 1:
            getattr(self, phase)(t, group[0])
        elif todo := [m for m in group if self._todo(Unit.of(phase, t, m))]:
            getattr(self, f"{phase}_together")(t, group, todo)

    def _together(self) -> bool:
        """train.together, where it applies: several models on this rank, no DDP, and no
        fp16 (whose loss scaler Accelerate keeps per prepared model)."""
        tcfg = self.cfg.train
        if not tcfg.together or self.ranks.data_parallel or len(self.mine) < 2:
            return False
        return tcfg.mixed_precision != "fp16"

    def _commit(self, unit: Unit, m: int, **parts) -> None:
        """Commit model m's unit from the rank that writes it; ranks sharing the model
        wait for the files before they go on."""
        if self.ranks.writes(m):
            self.store.commit(unit, **parts)
        if self.ranks.data_parallel:
            self.ranks.barrier()

    def _desc(self, phase: str, t: int, m: int, last: int | None = None) -> str | None:
        models = f"{m + 1}" if last is None else f"{m + 1}…{last + 1}"
        return f"t={t} {phase} m={models}/{self.m}" if self.progress else None

    def _perplexity(
        self, model: torch.nn.Module, blocks: np.ndarray, desc: str | None
    ) -> np.ndarray:
        return block_perplexity(
            model, blocks, self.cfg.train.eval_batch_size, self.accelerator, desc, self.ranks
        )

    # -- units -------------------------------------------------------------------------

    def train(self, t: int, m: int) -> None:
        unit = Unit.of("train", t, m)
        if not self._todo(unit):
            return
        start_from = None if self.cfg.train.restart_from_base else self.weights(t - 1, m)
        blocks = self.training_set(t, m)
        model = self.model(m, start_from)
        result = fine_tune(
            model,
            blocks,
            self.members[m].corpus.valid,
            self.cfg.train,
            seeds.derive(self.cfg.seed, "train", t, m),
            self.accelerator,
            self._desc("train", t, m),
            self.ranks,
            self.members[m].budget,
        )
        self._keep(t, m, model, result, len(blocks))

    def train_together(self, t: int, group: list[int], todo: list[int]) -> None:
        """The train units of `group` (models of one base) as one batched computation;
        those of `todo` are committed."""
        restart = self.cfg.train.restart_from_base
        starts = [
            states_of(self.model(m, None if restart else self.weights(t - 1, m))) for m in group
        ]
        sets = [self.training_set(t, m) for m in group]
        module = self.model(group[0], None)
        results, states = fine_tune_together(
            module,
            starts,
            sets,
            self.members[group[0]].corpus.valid,
            self.cfg.train,
            [seeds.derive(self.cfg.seed, "train", t, m) for m in group],
            self.accelerator,
            self._desc("train", t, group[0], group[-1]),
            self.members[group[0]].budget,
        )
        for m, result, state, blocks in zip(group, results, states, sets, strict=True):
            if m in todo:
                _load(module, state)
                self._keep(t, m, module, result, len(blocks))

    def _keep(self, t: int, m: int, model: torch.nn.Module, result, examples: int) -> None:
        """Commit model m's train unit at t: its kept weights and what training did."""
        info = {
            "loss": result.loss,
            "val_loss": result.val_loss,
            "best_epoch": result.best_epoch,
            "steps": result.steps,
            "examples": examples,
            "val_losses": result.val_losses,
            "param_dist": self._distance_from_base(m, model),
        }
        if self.ranks.writes(m):
            tmp = self.store.temp_checkpoint_path(m, t)
            models.save_weights(model, tmp)
            ckpt = self.store.adopt_checkpoint(tmp, m, t)
            self.store.commit(Unit.of("train", t, m), checkpoint=ckpt, info=info)
            self.store.prune_checkpoints(m, before=t)
        if self.ranks.data_parallel:
            self.ranks.barrier()

    def _distance_from_base(self, m: int, model: torch.nn.Module) -> float:
        """‖θ − θ_base‖₂ over all parameters: how far training has moved model m."""
        base_state = self._bases[self.members[m].base][1]
        total = sum(
            float((p.detach().float() - base_state[name].float()).pow(2).sum())
            for name, p in model.named_parameters()
        )
        return total**0.5

    def evaluate(self, t: int, m: int) -> None:
        """Per-block test perplexity of model m after t (t = -1: its base model)."""
        unit = Unit.of("evaluate", t, m)
        if not self._todo(unit):
            return
        mem = self.members[m]
        model = self.model(m, self.weights(t, m))
        if t < 0:  # members sharing a base and a test set share its evaluation
            key = mem.base, mem.community
            if key not in self._base_ppl:
                self._base_ppl[key] = self._perplexity(
                    model, mem.corpus.test, self._desc("evaluate", t, m)
                )
            ppl = self._base_ppl[key]
        else:
            ppl = self._perplexity(model, mem.corpus.test, self._desc("evaluate", t, m))
        arrays, info = {_ppl_name("ppl", t, m): ppl}, {"ppl": metrics.block_mean(ppl)}
        if self.cfg.train.eval_on_train:  # the overfitting check: its own real training blocks
            on_train = self._perplexity(model, mem.prompts, None)
            arrays[_ppl_name("ppl_train", t, m)] = on_train
            info["ppl_train"] = metrics.block_mean(on_train)
        self._commit(unit, m, arrays=arrays, info=info)

    def evaluate_together(self, t: int, group: list[int], todo: list[int]) -> None:
        """The evaluate units of `group` (one base, one test set) in one batched pass;
        those of `todo` are committed."""
        states = [states_of(self.model(m, self.weights(t, m))) for m in group]
        ens = Ensemble(self.model(group[0], None), states)
        test = torch.as_tensor(self.members[group[0]].corpus.test, device=self.accelerator.device)
        with self.accelerator.autocast():
            ppl = np.exp(ens.block_nll(test, self.cfg.train.eval_batch_size).cpu().numpy())
        for m, row in zip(group, ppl, strict=True):
            if m in todo:
                arrays, info = {_ppl_name("ppl", t, m): row}, {"ppl": metrics.block_mean(row)}
                self._commit(Unit.of("evaluate", t, m), m, arrays=arrays, info=info)

    def measure(self, t: int, m: int) -> None:
        """Model m after t against p_data (ecosys/exact.py): its KL rate, the distance of
        its own samples and (t ≥ 0) of the blocks it trained on at t."""
        unit = Unit.of("measure", t, m)
        if not self._todo(unit):
            return
        ref = self.references[self.members[m].community]
        model = self.model(m, self.weights(t, m))
        fresh_nll = block_nll(model, ref.fresh, self.cfg.train.eval_batch_size, self.accelerator)
        n_samples = self.cfg.measure.model_samples
        first = torch.as_tensor(ref.fresh[:n_samples, 0], device=self.accelerator.device)
        with self.accelerator.autocast(), models.eager(model):  # its cache grows every step
            samples = exact.sample(
                model, first, ref.fresh.shape[1], seeds.derive(self.cfg.seed, "measure", t, m)
            )
        model_side = ref.distances(samples.cpu().numpy())
        info = {"kl_rate": float(np.mean(fresh_nll - ref.oracle_nll))}
        info |= {f"model_{k}": v for k, v in model_side.items()}
        if t >= 0:
            info |= {f"data_{k}": v for k, v in ref.distances(self.training_set(t, m)).items()}
        self._commit(unit, m, info=info)

    def disagree(self, t: int) -> None:
        """Rank 0, once every model of t is committed: the models' mean pairwise
        Jensen–Shannon divergence on the first measure.js_blocks test blocks."""
        unit = Unit.of("disagree", t)
        if not self._todo(unit, together=False):
            return
        groups: dict[str, list[torch.Tensor]] = {}
        for m, mem in enumerate(self.members):
            blocks = mem.corpus.test[: self.cfg.measure.js_blocks]
            ids = torch.as_tensor(blocks, device=self.accelerator.device)
            probs = exact.next_token_probs(self.model(m, self.weights(t, m)), ids)
            groups.setdefault(mem.community, []).append(probs.cpu())
        js = float(np.mean([exact.js(probs) for probs in groups.values()]))  # per community
        self.store.commit(unit, info={"js": js})

    def generate(self, t: int, m: int) -> None:
        unit = Unit.of("generate", t, m)
        if not self._todo(unit):
            return
        tokens, speed = continue_blocks(
            self.model(m, self.weights(t, m)),
            self.members[m].prompts,  # the model's own, fixed prompt set
            self.cfg.generate,
            seeds.derive(self.cfg.seed, "generate", t, m),
            self.accelerator,
            self._desc("generate", t, m),
            self.ranks,
        )
        distinct = len({r.tobytes() for r in tokens}) / len(tokens)
        info = {"tokens_per_s": speed, "distinct": distinct}
        self._commit(unit, m, arrays={f"gen/t{t:02d}.m{m:02d}": tokens}, info=info)

    def pool(self, t: int) -> None:
        """Rank 0, once every model's generated set of t is committed (and verified)."""
        unit = Unit.of("pool", t)
        if not self._todo(unit, together=False):
            return
        generated = [self.store.array(f"gen/t{t:02d}.m{m:02d}") for m in range(self.m)]
        rng = seeds.rng(self.cfg.seed, "pool", t)
        fraction = self.cfg.data_quality.real_fraction
        pool_info = {}
        if self.roster.shared_tokens:
            real = np.concatenate(_unique(mem.corpus.train for mem in self.members))
            pooled, n_real = redistribute(generated, real, fraction, rng)
            arrays = {f"pools/t{t:02d}": pooled}
            if len(self.references) == 1:  # the pool's distance from p_data
                (ref,) = self.references.values()
                pool_info = {f"pool_{k}": v for k, v in ref.distances(pooled).items()}
        else:
            texts = [
                s for mem, g in zip(self.members, generated, strict=True) for s in _decode(mem, g)
            ]
            texts_pool, sets, n_real = redistribute_text(
                texts,
                self._real_texts(round(fraction * len(texts)), rng),
                fraction,
                [_encoder(mem) for mem in self.members],
                [mem.n for mem in self.members],
                config.block_size(self.cfg),
                rng,
            )
            arrays = {f"pools/t{t:02d}.m{m:02d}": s for m, s in enumerate(sets)}
            arrays[f"pools/t{t:02d}.texts"] = np.array(texts_pool, dtype=str)
        self.store.commit(unit, arrays=arrays, info={"real_blocks": n_real, **pool_info})

    def _real_texts(self, n: int, rng: np.random.Generator) -> list[str]:
        """n fresh real training blocks as text, each from a random member's corpus."""
        out = []
        for m in rng.integers(self.m, size=n):
            train = self.members[m].corpus.train
            out += _decode(self.members[m], train[[rng.integers(len(train))]])
        return out

    def summarize(self, t: int, seconds: float, spent: dict[str, float] | None = None) -> None:
        """The iteration's rows: one per model and one for the ecosystem (with this
        process's wall seconds, in all and per phase)."""
        unit = Unit.of("summary", t)
        if not self._todo(unit, together=False):
            return
        ppls = [self.store.array(_ppl_name("ppl", t, m)) for m in range(self.m)]
        rows = []
        for m, ppl in enumerate(ppls):
            mem = self.members[m]
            row = {"scope": "model", "t": t, "model": m, "ppl/mean": metrics.block_mean(ppl)}
            row["ppl/std"] = float(np.std(ppl, ddof=1)) if len(ppl) > 1 else 0.0
            if mem.family or mem.community:
                row |= {"family": mem.model.name, "community": mem.community or mem.data.name}
            ev = self.store.info_of(Unit.of("evaluate", t, m))
            if "ppl_train" in ev:
                row["ppl_train/mean"] = ev["ppl_train"]
            if t >= 0:
                tr = self.store.info_of(Unit.of("train", t, m))
                row |= {
                    "train/loss": tr["loss"],
                    "train/val_loss": tr["val_loss"],
                    "train/best_epoch": tr["best_epoch"],
                    "train/steps": tr["steps"],
                    "train/examples": tr["examples"],
                    "train/param_dist": tr["param_dist"],
                }
            if self.references:
                row |= self._exact_row(t, m)
            if t >= 0 and self._pools(t):
                gen = self.store.info_of(Unit.of("generate", t, m))
                row["gen/tokens_per_s"] = gen["tokens_per_s"]
                row["gen/distinct"] = gen["distinct"]
            rows.append(row)
        mu = metrics.ecosystem_mean([r["ppl/mean"] for r in rows])
        eco = {"scope": "ecosystem", "t": t, "ppl/mean": mu, "ppl/std": metrics.combined_std(ppls)}
        eco |= {f"ppl/m{m}": r["ppl/mean"] for m, r in enumerate(rows)}
        if self.cfg.train.eval_on_train:
            eco["ppl_train/mean"] = metrics.ecosystem_mean([r["ppl_train/mean"] for r in rows])
        if t >= 0:
            mu_t = [self._mu(s) for s in range(t)] + [mu]
            eco["ppl/mu_T"] = metrics.aggregated(mu_t, t + 1)
            eco["train/loss"] = float(np.mean([r["train/loss"] for r in rows]))
            eco["time/iteration_s"] = seconds
            eco |= {f"time/{phase}_s": v for phase, v in (spent or {}).items()}
        for key in sorted({k for r in rows for k in r if k.startswith("exact/")}):
            eco[key] = float(np.mean([r[key] for r in rows]))
        if self.references and self.m > 1 and t >= 0:
            eco["exact/js"] = self.store.info_of(Unit.of("disagree", t))["js"]
        if t >= 0 and self._pools(t):
            pool = self.store.info_of(Unit.of("pool", t))
            eco["pool/real_blocks"] = pool["real_blocks"]
            eco |= {f"exact/{k}": v for k, v in pool.items() if k.startswith("pool_")}
            eco["gen/tokens_per_s"] = float(np.mean([r["gen/tokens_per_s"] for r in rows]))
        self.store.commit(unit, rows=[*rows, eco])

    def _exact_row(self, t: int, m: int) -> dict[str, float]:
        """Model m's exact measurements at t, and the EDQ of the data it trained on:
        δ_EDQ(t) = W2(its training blocks at t) − W2(its model before t), and the same
        with the KL analogue."""
        got = self.store.info_of(Unit.of("measure", t, m))
        row = {f"exact/{k}": v for k, v in got.items()}
        if t >= 0:
            before = self.store.info_of(Unit.of("measure", t - 1, m))
            row["exact/edq"] = got["data_w2"] - before["model_w2"]
            row["exact/edq_kl"] = got["data_kl"] - before["model_kl"]
        return row

    def log_iteration(self, t: int) -> None:
        """The one summary line per iteration (also for iterations done before a resume),
        and the iteration's mirror in the tracker."""
        self.tracker.sync()
        eco = next(
            r
            for r in self.store.manifest(Unit.of("summary", t))["rows"]
            if r["scope"] == "ecosystem"
        )
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

    def _mu(self, t: int) -> float:
        rows = self.store.manifest(Unit.of("summary", t))["rows"]
        return next(r["ppl/mean"] for r in rows if r["scope"] == "ecosystem")


def _references(cfg: DictConfig, mems: list[Member]) -> dict[str, exact.Reference]:
    """p_data's side of the exact measurements, per community; empty where p_data is
    unknown (real corpora, a saved pool) or measure.exact is off."""
    if not cfg.measure.exact or any(mem.corpus.p_data is None for mem in mems):
        return {}
    refs = {}
    for i, mem in enumerate(mems):
        if mem.community not in refs:
            rng = seeds.rng(cfg.world.seed, "fresh", m=i)
            fresh = mem.corpus.p_data.sample(cfg.measure.fresh_blocks, mem.prompts.shape[1], rng)
            refs[mem.community] = exact.Reference(mem.corpus.p_data, fresh, cfg.measure.smoothing)
    return refs


def _ppl_name(kind: str, t: int, m: int) -> str:
    return f"{kind}/base.m{m:02d}" if t < 0 else f"{kind}/t{t:02d}.m{m:02d}"


def _unique(arrays) -> list[np.ndarray]:
    seen, out = set(), []
    for a in arrays:
        if id(a) not in seen:
            seen.add(id(a))
            out.append(a)
    return out


def _load(module: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    """load_state_dict, tolerant of non-persistent buffers, strict about parameters."""
    missing = module.load_state_dict(state, strict=False).missing_keys
    if missing:
        raise RuntimeError(f"weights lack {missing[:3]}…")


def _decode(mem: Member, blocks: np.ndarray) -> list[str]:
    return mem.tokenizer.batch_decode(blocks, skip_special_tokens=True)


def _encoder(mem: Member):
    tok = mem.tokenizer

    def encode(texts: list[str]) -> list[list[int]]:
        return tok(texts, add_special_tokens=False)["input_ids"]

    return encode


def run(cfg: DictConfig, root: str | Path | None = None, group: str | None = None) -> Path:
    """Run (or resume) the ecosystem `cfg` describes; returns its run directory.
    `group` names the sweep the run belongs to (the tracker's group). Under
    `accelerate launch` every process calls this; ecosys/ranks.py says who does what."""
    config.validate(cfg)
    if cfg.runtime.threads:
        torch.set_num_threads(cfg.runtime.threads)
    accelerator = _accelerator(cfg)
    main = accelerator.is_main_process
    if not main:  # one process tells the story
        log.parent.setLevel(logging.WARNING)
    roster = members.assemble(cfg)  # bases, tokenizers, corpora, generation sets: no training
    run_dir = Path(root if root is not None else cfg.out_dir) / config.run_name(cfg)
    info = _run_info(cfg, roster, run_dir, accelerator.num_processes)

    with _open_store(run_dir, cfg, info, accelerator) as store:
        log.info("run dir %s", run_dir)
        sizes = [mem.n for mem in roster.members]
        log.info(
            "N = %s blocks of %d → %d models × %s (%d dropped)%s",
            "/".join(map(str, roster.samples.values())),
            config.block_size(cfg),
            len(sizes),
            f"{sizes[0]} blocks" if len(set(sizes)) == 1 else "/".join(map(str, sizes)),
            roster.dropped,
            f"; {accelerator.num_processes} processes" if accelerator.num_processes > 1 else "",
        )
        if accelerator.num_processes > 1:
            world = dist.get_world_size() if dist.is_initialized() else 1
            mode = (
                "data-parallel per model"
                if roster_dp(roster, accelerator)
                else "models spread over ranks"
            )
            log.info("process group: world size %d (%s)", world, mode)
        if "world" in info:
            w = info["world"]
            log.info(
                "world: exp(H) %.2f, oracle test ppl %.2f",
                w["entropy_rate_ppl"],
                w["oracle_test_ppl"],
            )
        for mcfg in {id(mem.model): mem.model for mem in roster.members}.values():
            base.ensure(
                cfg, mcfg, accelerator
            )  # one process builds it, the others wait on its lock
        tracker = open_tracker(cfg, run_dir, info, group) if main else Tracker()
        try:
            gc.freeze()  # the libraries' objects: each unit's gc.collect then skips them
            with preemption.deferred(cfg.runtime.preempt_grace_s) as safe_point:
                Ecosystem(cfg, store, roster, accelerator, tracker, safe_point).run()
        finally:
            tracker.finish()
        log.info("done: %s", run_dir)
    return run_dir


def _accelerator(cfg: DictConfig) -> Accelerator:
    """The process's Accelerator. Several launched processes without a GPU join one
    process group on the CPU (gloo): Accelerate would otherwise run them as
    independent copies of the whole run."""
    join_slurm_tasks()
    launched = int(os.environ.get("WORLD_SIZE", "1")) > 1
    cpu = cfg.runtime.cpu or (launched and not torch.cuda.is_available())
    return Accelerator(cpu=cpu, mixed_precision=cfg.train.mixed_precision)


def roster_dp(roster: Roster, accelerator: Accelerator) -> bool:
    return Ranks(accelerator, len(roster.members)).data_parallel


def _open_store(run_dir: Path, cfg: DictConfig, info: dict, accelerator: Accelerator) -> RunStore:
    """Rank 0 opens (locks, checks, writes) the run store; the other ranks attach to it
    once it has, or raise what rank 0 raised."""
    if accelerator.num_processes == 1:
        return RunStore.open(run_dir, cfg, info)
    store, error = None, None
    if accelerator.is_main_process:
        try:
            store = RunStore.open(run_dir, cfg, info)
        except (config.ConfigError, RunLocked) as err:
            error = err
    box = [error]
    broadcast_object_list(box, from_process=0)
    if box[0] is not None:
        raise box[0]
    return store or RunStore.attach(run_dir)


def _run_info(cfg: DictConfig, roster: Roster, run_dir: Path, processes: int) -> dict:
    first = roster.members[0]
    info = {
        "processes": processes,
        "run_id": config.config_hash(cfg),
        "name": run_dir.name,
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
        info["world"] = {
            "entropy_rate_ppl": float(np.exp(first.corpus.p_data.entropy_rate())),
            "oracle_test_ppl": float(
                first.corpus.p_data.block_perplexity(first.corpus.test).mean()
            ),
        }
    return info
