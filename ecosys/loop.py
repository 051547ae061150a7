"""One ecosystem run, as DESIGN.md §1 tells it.

    corpus → N-block sample → M generation sets (fixed per model)
    evaluate the base model                                        (t = -1)
    for t = 0 … T-1:
        train every model on its training set (best-on-validation epoch)
        evaluate every model on the test set (per-block perplexity)
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
import time
from pathlib import Path

import numpy as np
import torch
import transformers
from accelerate import Accelerator
from omegaconf import DictConfig

import ecosys
from ecosys import base, config, corpus, metrics, models, seeds
from ecosys.evaluate import block_perplexity
from ecosys.generate import continue_blocks
from ecosys.pool import redistribute
from ecosys.store import RunStore, Unit
from ecosys.train import fine_tune

log = logging.getLogger(__name__)
transformers.utils.logging.disable_progress_bar()  # per-file load/save bars: noise at this rate

TIMING_KEYS = ("gen/tokens_per_s", "time/iteration_s")  # the only values a rerun changes


class Ecosystem:
    """The M models of one run and the units that move them through the iterations."""

    def __init__(
        self,
        cfg: DictConfig,
        store: RunStore,
        data: corpus.Corpus,
        sets: list[np.ndarray],
        base: str,
        accelerator: Accelerator,
    ):
        self.cfg, self.store, self.data, self.base = cfg, store, data, base
        self.accelerator = accelerator
        self.sets = sets  # model m's generation set: indices into data.train
        self.sizes = [len(s) for s in sets]
        self.m = len(sets)
        self.progress = cfg.runtime.progress
        self._base_model: torch.nn.Module | None = None

    def run(self) -> None:
        self.evaluate_base()
        for t in range(self.cfg.T):
            start = time.perf_counter()
            for m in range(self.m):
                self.train(t, m)
            for m in range(self.m):
                self.evaluate(t, m)
            if t < self.cfg.T - 1:
                for m in range(self.m):
                    self.generate(t, m)
                self.pool(t)
            self.summarize(t, time.perf_counter() - start)
        for m in range(self.m):  # the final checkpoints are part of the result: verify them
            self.weights(self.cfg.T - 1, m)
            self.store.prune_checkpoints(m, before=self.cfg.T - 1)

    # -- models ------------------------------------------------------------------------

    def model(self, weights: Path | None) -> torch.nn.Module:
        """The base model, with a checkpoint's weights loaded if given."""
        if self._base_model is None:
            m = self.cfg.model
            dtype = models.dtype(m.dtype, self.cfg.runtime.cpu)
            self._base_model = models.load(self.base, dtype, m.attn_implementation)
            self._base_model.to(self.accelerator.device)
            self._base_state = {k: v.clone() for k, v in self._base_model.state_dict().items()}
        model = self._base_model
        if weights is None:
            model.load_state_dict(self._base_state)
        else:
            models.load_weights(model, weights)
        return model

    def weights(self, t: int, m: int) -> Path | None:
        """Model m's weights after iteration t (None: the base); retrained if lost."""
        if t < 0:
            return None
        unit = Unit.of("train", t, m)
        path = self.store.verified_checkpoint(unit)
        if path is None:
            self.train(t, m)
            path = self.store.verified_checkpoint(unit)
        return path

    def training_set(self, t: int, m: int) -> np.ndarray:
        if t == 0:
            return self.data.train[self.sets[m]]
        self.pool(t - 1)  # no-op unless the pool was lost
        return self.store.array(f"pools/t{t - 1:02d}")[corpus.slices(self.sizes)[m]]

    def _todo(self, unit: Unit) -> bool:
        """True when `unit` still has to run (not committed, or its files are corrupt)."""
        if self.store.done(unit):
            return False
        log.debug("start %s", unit.key)
        return True

    def _desc(self, phase: str, t: int, m: int) -> str | None:
        return f"t={t} {phase} m={m + 1}/{self.m}" if self.progress else None

    # -- units -------------------------------------------------------------------------

    def evaluate_base(self) -> None:
        unit = Unit.of("evaluate", -1)
        if self._todo(unit):
            ppl = self._perplexity(
                self.model(None), self.data.test, "base" if self.progress else None
            )
            self.store.commit(unit, arrays={"ppl/base": ppl}, info={"ppl": metrics.block_mean(ppl)})
        unit = Unit.of("summary", -1)
        if self._todo(unit):
            ppl = self.store.array("ppl/base")
            rows = [
                {"scope": "model", "t": -1, "model": m, "ppl/mean": metrics.block_mean(ppl)}
                for m in range(self.m)
            ]
            eco = {"scope": "ecosystem", "t": -1, "ppl/mean": metrics.block_mean(ppl)}
            eco["ppl/std"] = metrics.combined_std([ppl])
            self.store.commit(unit, rows=[*rows, eco])
        log.info("t=-1 | base model | μ %.2f", self.store.info_of(Unit.of("evaluate", -1))["ppl"])

    def train(self, t: int, m: int) -> None:
        unit = Unit.of("train", t, m)
        if not self._todo(unit):
            return
        start_from = None if self.cfg.train.restart_from_base else self.weights(t - 1, m)
        blocks = self.training_set(t, m)
        model = self.model(start_from)
        result = fine_tune(
            model,
            blocks,
            self.data.valid,
            self.cfg.train,
            seeds.derive(self.cfg.seed, "train", t, m),
            self.accelerator,
            self._desc("train", t, m),
        )
        tmp = self.store.temp_checkpoint_path(m, t)
        models.save_weights(model, tmp)
        ckpt = self.store.adopt_checkpoint(tmp, m, t)
        info = {
            "loss": result.loss,
            "val_loss": result.val_loss,
            "best_epoch": result.best_epoch,
            "steps": result.steps,
            "examples": len(blocks),
            "val_losses": result.val_losses,
        }
        self.store.commit(unit, checkpoint=ckpt, info=info)
        self.store.prune_checkpoints(m, before=t)

    def evaluate(self, t: int, m: int) -> None:
        unit = Unit.of("evaluate", t, m)
        if not self._todo(unit):
            return
        model = self.model(self.weights(t, m))
        ppl = self._perplexity(model, self.data.test, self._desc("evaluate", t, m))
        arrays, info = {f"ppl/t{t:02d}.m{m:02d}": ppl}, {"ppl": metrics.block_mean(ppl)}
        if self.cfg.train.eval_on_train:  # the overfitting check: its own real training blocks
            on_train = self._perplexity(model, self.training_set(0, m), None)
            arrays[f"ppl_train/t{t:02d}.m{m:02d}"] = on_train
            info["ppl_train"] = metrics.block_mean(on_train)
        self.store.commit(unit, arrays=arrays, info=info)

    def generate(self, t: int, m: int) -> None:
        unit = Unit.of("generate", t, m)
        if not self._todo(unit):
            return
        prompts = self.training_set(0, m)  # the model's own, fixed prompt set
        tokens, speed = continue_blocks(
            self.model(self.weights(t, m)),
            prompts,
            self.cfg.generate,
            seeds.derive(self.cfg.seed, "generate", t, m),
            self.accelerator,
            self._desc("generate", t, m),
        )
        distinct = len({r.tobytes() for r in tokens}) / len(tokens)
        info = {"tokens_per_s": speed, "distinct": distinct}
        self.store.commit(unit, arrays={f"gen/t{t:02d}.m{m:02d}": tokens}, info=info)

    def pool(self, t: int) -> None:
        unit = Unit.of("pool", t)
        if not self._todo(unit):
            return
        for m in range(self.m):
            self.generate(t, m)  # no-op unless a generated set was lost
        generated = [self.store.array(f"gen/t{t:02d}.m{m:02d}") for m in range(self.m)]
        pooled, n_real = redistribute(
            generated,
            self.data.train,
            self.cfg.data_quality.real_fraction,
            seeds.rng(self.cfg.seed, "pool", t),
        )
        self.store.commit(unit, arrays={f"pools/t{t:02d}": pooled}, info={"real_blocks": n_real})

    def summarize(self, t: int, seconds: float) -> None:
        unit = Unit.of("summary", t)
        if not self._todo(unit):
            return
        ppls = [self.store.array(f"ppl/t{t:02d}.m{m:02d}") for m in range(self.m)]
        rows = []
        for m, ppl in enumerate(ppls):
            tr = self.store.info_of(Unit.of("train", t, m))
            row = {
                "scope": "model",
                "t": t,
                "model": m,
                "ppl/mean": metrics.block_mean(ppl),
                "ppl/std": float(np.std(ppl, ddof=1)),
                "train/loss": tr["loss"],
                "train/val_loss": tr["val_loss"],
                "train/best_epoch": tr["best_epoch"],
                "train/steps": tr["steps"],
                "train/examples": tr["examples"],
            }
            ev = self.store.info_of(Unit.of("evaluate", t, m))
            if "ppl_train" in ev:
                row["ppl_train/mean"] = ev["ppl_train"]
            if t < self.cfg.T - 1:
                gen = self.store.info_of(Unit.of("generate", t, m))
                row["gen/tokens_per_s"] = gen["tokens_per_s"]
                row["gen/distinct"] = gen["distinct"]
            rows.append(row)
        mu_t = [self._mu(s) for s in range(t)] + [
            metrics.ecosystem_mean([r["ppl/mean"] for r in rows])
        ]
        eco = {
            "scope": "ecosystem",
            "t": t,
            "ppl/mean": mu_t[-1],
            "ppl/std": metrics.combined_std(ppls),
            **{f"ppl/m{m}": r["ppl/mean"] for m, r in enumerate(rows)},
            "ppl/mu_T": metrics.aggregated(mu_t, t + 1),
            "train/loss": float(np.mean([r["train/loss"] for r in rows])),
            "time/iteration_s": seconds,
        }
        if self.cfg.train.eval_on_train:
            eco["ppl_train/mean"] = metrics.ecosystem_mean([r["ppl_train/mean"] for r in rows])
        if t < self.cfg.T - 1:
            eco["pool/real_blocks"] = self.store.info_of(Unit.of("pool", t))["real_blocks"]
            eco["gen/tokens_per_s"] = float(np.mean([r["gen/tokens_per_s"] for r in rows]))
        self.store.commit(unit, rows=[*rows, eco])
        log.info(
            "t=%d | μ_t %.2f (std %.2f) | μ_T %.2f | train loss %.3f | %.1f s",
            t,
            eco["ppl/mean"],
            eco["ppl/std"],
            eco["ppl/mu_T"],
            eco["train/loss"],
            seconds,
        )

    def _mu(self, t: int) -> float:
        (row,) = [
            r
            for r in self.store.manifest(Unit.of("summary", t))["rows"]
            if r["scope"] == "ecosystem"
        ]
        return row["ppl/mean"]

    def _perplexity(
        self, model: torch.nn.Module, blocks: np.ndarray, desc: str | None
    ) -> np.ndarray:
        return block_perplexity(
            model, blocks, self.cfg.train.eval_batch_size, self.accelerator, desc
        )


def run(cfg: DictConfig, root: str | Path | None = None) -> Path:
    """Run (or resume) the ecosystem `cfg` describes; returns its run directory."""
    config.validate(cfg)
    if cfg.runtime.threads:
        torch.set_num_threads(cfg.runtime.threads)
    base_model = base.locate(cfg)
    synthetic = cfg.model.source == "synthetic"
    config.check_context(
        cfg, cfg.model.n_positions if synthetic else models.context_length(base_model)
    )
    tokenizer = None if synthetic else models.load_tokenizer(base.tokenizer_source(cfg, base_model))
    data = corpus.load(cfg, tokenizer)
    sample = corpus.budget(len(data.train), cfg.scale.fraction, cfg.scale.max_blocks, cfg.seed)
    config.check_budget(cfg, len(sample))

    sizes = corpus.split_sizes(len(sample), config.shares(cfg))
    run_dir = Path(root if root is not None else cfg.out_dir) / config.run_name(cfg)
    info = {
        "run_id": config.config_hash(cfg),
        "name": run_dir.name,
        "condition": {
            "model": cfg.model.name,
            "scale": cfg.scale.name,
            "data_quality": config.data_quality_label(cfg),
            "diversity": config.diversity_label(cfg),
        },
        "D": config.hill_shannon(config.shares(cfg)),
        "M": cfg.diversity.m,
        "seed": cfg.seed,
        "T": cfg.T,
        "N": len(sample),
        "sizes": sizes,
        "dropped_blocks": len(sample) - sum(sizes),
        "block_size": cfg.data.block_size,
        "test_blocks": len(data.test),
        "valid_blocks": len(data.valid),
        "versions": {
            "ecosys": ecosys.__version__,
            "torch": torch.__version__,
            "transformers": transformers.__version__,
        },
    }
    if data.p_data is not None:
        info["world"] = {
            "entropy_rate_ppl": float(np.exp(data.p_data.entropy_rate())),
            "oracle_test_ppl": float(data.p_data.block_perplexity(data.test).mean()),
        }

    with RunStore.open(run_dir, cfg, info) as store:
        log.info("run dir %s", run_dir)
        log.info(
            "N = %d blocks of %d → %d models × %s (%d dropped)",
            len(sample),
            cfg.data.block_size,
            len(sizes),
            _sizes_text(sizes),
            info["dropped_blocks"],
        )
        if "world" in info:
            w = info["world"]
            log.info(
                "world: exp(H) %.2f, oracle test ppl %.2f",
                w["entropy_rate_ppl"],
                w["oracle_test_ppl"],
            )
        accelerator = Accelerator(cpu=cfg.runtime.cpu, mixed_precision=cfg.train.mixed_precision)
        base.ensure(cfg, accelerator)
        sets = corpus.segment(sample, sizes, cfg.seed)
        gc.freeze()  # the libraries' objects: each unit's gc.collect then skips them
        Ecosystem(cfg, store, data, sets, base_model, accelerator).run()
        log.info("done: %s", run_dir)
    return run_dir


def _sizes_text(sizes: list[int]) -> str:
    return f"{sizes[0]} blocks" if len(set(sizes)) == 1 else "/".join(map(str, sizes))
