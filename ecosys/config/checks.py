"""Validation before compute: everything decidable from the config alone.

(What a run reads, models, corpora and files, is checked in inputs.py.)

Hydra has already rejected unknown keys, wrong types and values outside a closed set
(the schema's enums). What is left: ranges, as rows of one table, and values checked
against each other, one small function per group. Every failure is a ConfigError that
names the key and the fix in one line.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from ecosys.config.errors import check
from ecosys.config.inputs import corpora, tracking

Row = tuple[str, Callable[[Any], bool], str, str]  # key, predicate, problem, fix


def _ge(n: float) -> tuple[Callable[[Any], bool], str]:
    return (lambda v: v >= n), f"must be ≥ {n}"


def _gt(n: float) -> tuple[Callable[[Any], bool], str]:
    return (lambda v: v > n), f"must be > {n}"


def _ge_or_null(n: float) -> tuple[Callable[[Any], bool], str]:
    return (lambda v: v is None or v >= n), f"must be ≥ {n} or null"


RANGES: list[Row] = [
    ("T", *_ge(1), "set T=10 (the paper) or any T ≥ 1"),
    ("seed", *_ge(0), "use a non-negative seed"),
    ("diversity.m", *_ge(1), "pick diversity=d1|d2|d4|d8|d16"),
    (
        "scale.fraction",
        lambda v: 0 < v <= 1,
        "must be in (0, 1]",
        "use scale=primary (0.4) or scale=full (1.0)",
    ),
    *[
        (f"scale.{k}", *_ge_or_null(1), "raise it")
        for k in ("max_blocks", "max_valid_blocks", "max_test_blocks")
    ],
    (
        "data_quality.real_fraction",
        lambda v: 0 <= v <= 1,
        "must be in [0, 1]",
        "use data_quality=real10 (0.1) or a value in [0, 1]",
    ),
    ("train.epochs", *_ge(1), "set train.epochs=5"),
    ("train.lr", *_gt(0), "set e.g. train.lr=1e-5"),
    ("train.min_lr", *_ge(0), "set train.min_lr=0"),
    ("train.batch_size", *_ge(1), "set train.batch_size=16"),
    ("score.batch_size", *_ge(1), "set score.batch_size=64"),
    ("generate.num_beams", *_ge(1), "set generate.num_beams=5"),
    ("generate.batch_size", *_ge(1), "set generate.batch_size=32"),
    ("generate.repetition_penalty", *_gt(0), "use 1.0 for no penalty"),
    # checked under beam search too: a value no decoding can use is a typo, not a choice
    (
        "generate.temperature",
        *_gt(0),
        "use data_quality=temp0.5|temp1|temp2, or beam search (data_quality=beam)",
    ),
    (
        "generate.top_p",
        lambda v: 0 < v <= 1,
        "must be in (0, 1]",
        "use generate.top_p=1.0 (the paper)",
    ),
    ("generate.top_k", *_ge(0), "use 50 (the paper), or 0 for no top-k cut"),
    ("data.block_size", *_ge(2), "use 128 (the paper)"),
    ("lenses.subsample", *_ge(2), "use lenses.subsample=64 (self-BLEU needs other rows)"),
    ("lenses.cross_others", *_ge(1), "use lenses.cross_others=3 (or lenses.cross=false)"),
    *[
        (f"measure.{k}", *_ge(2), "use the default")
        for k in ("fresh_blocks", "model_samples", "js_blocks")
    ],
    ("measure.smoothing", lambda v: 0 < v < 1, "must be in (0, 1)", "use measure.smoothing=1e-4"),
    (
        "curation.keep",
        lambda v: 0 < v <= 1,
        "must be in (0, 1]",
        "use curation.keep=0.5 (the share of generated blocks kept)",
    ),
    (
        "curation.max_token_share",
        lambda v: 0 < v <= 1,
        "must be in (0, 1]",
        "use curation.max_token_share=0.5",
    ),
]

SAMPLING: list[Row] = [  # where generate.do_sample
    (
        "generate.num_beams",
        lambda v: v == 1,
        "must be 1 when sampling",
        "sample with num_beams=1 or search with do_sample=false",
    ),
]

SYNTHETIC_WORLD: list[Row] = [  # where data.source is synthetic
    ("world.vocab_size", *_ge(2), "use 128"),
    ("world.topics", *_ge(1), "use 4"),
    *[(f"world.{k}", *_ge(1), "raise it") for k in ("train_blocks", "valid_blocks", "test_blocks")],
]


def _rows(cfg: DictConfig) -> Iterator[Row]:
    yield from RANGES
    if cfg.generate.do_sample:
        yield from SAMPLING
    if cfg.data.source == "synthetic":
        yield from SYNTHETIC_WORLD


def validate(cfg: DictConfig) -> None:
    """Static checks: everything decidable from the config alone, before any compute."""
    for key, ok, problem, fix in _rows(cfg):
        v = OmegaConf.select(cfg, key)
        check(ok(v), key, f"{problem}, got {v}", fix)
    for group in (_diversity, _data_quality, _curation, _measure, _world, corpora, tracking):
        group(cfg)
    check_out_dir(cfg.out_dir)


def check_out_dir(path: str, key: str = "out_dir") -> None:
    """`path` is a directory or can be made one, and a run's directory can be made in it,
    leaving nothing behind: a path under a regular file, a read-only directory or a
    filesystem that refuses new directories (/proc, whatever the permission bits say)
    would otherwise fail at the first write, with a traceback."""
    p = Path(path).expanduser().absolute()
    there = next(q for q in (p, *p.parents) if os.path.exists(q))  # the root always does
    fix = f"point {key} at a directory you can write to (or a path that can be made one)"
    check(
        there.is_dir(),
        key,
        f"{path} cannot be a directory: {there} is a file" if there != p else f"{path} is a file",
        fix,
    )
    check(os.access(there, os.W_OK | os.X_OK), key, f"{there} is not writable", fix)
    try:  # the filesystem's own answer: make a directory there, and remove it
        os.rmdir(tempfile.mkdtemp(prefix=".ecosys-probe-", dir=there))
    except OSError as err:
        check(False, key, f"{there} refuses a new directory ({err.strerror})", fix)


def _diversity(cfg: DictConfig) -> None:
    d = cfg.diversity
    if d.shares is None:
        return
    w = list(d.shares)
    check(
        len(w) == d.m,
        "diversity.shares",
        f"has {len(w)} entries but diversity.m={d.m}",
        f"set diversity.m={len(w)} or give {d.m} shares",
    )
    check(
        all(x > 0 for x in w),
        "diversity.shares",
        f"must all be > 0, got {w}",
        "give every model a positive share",
    )
    check(
        abs(sum(w) - 1.0) < 1e-6,
        "diversity.shares",
        f"must sum to 1, sum is {sum(w):.6g}",
        "normalise the shares so they sum to 1",
    )


def _data_quality(cfg: DictConfig) -> None:
    dq = cfg.data_quality
    check(
        not (dq.retrain_real and dq.real_fraction > 0),
        "data_quality.real_fraction",
        "has no meaning with data_quality.retrain_real (no pool is made)",
        "use data_quality=retrain_real alone",
    )
    regime = cfg.regime.name
    check(
        not (dq.retrain_real and regime != "replace"),
        "regime",
        f"regime={regime} accumulates pools, but data_quality=retrain_real makes none",
        "use regime=replace with data_quality=retrain_real, or another data_quality",
    )
    check(
        cfg.regime.keep_real or regime != "replace",
        "regime.keep_real",
        "is false, but regime=replace accumulates no real set to drop",
        "use regime=accumulate (or accumulate_subsample) with regime.keep_real=false",
    )


def _curation(cfg: DictConfig) -> None:
    name = cfg.curation.name
    if name == "none":
        return
    check(
        not cfg.data_quality.retrain_real,
        "curation",
        f"curation={name} selects from the pool, but data_quality=retrain_real makes none",
        "use curation=none with data_quality=retrain_real",
    )
    if name == "oracle":  # one p_data that every pooled block can be scored under
        check(
            cfg.data.source == "synthetic" and not cfg.communities and not cfg.families,
            "curation",
            "curation=oracle needs p_data, known only in the synthetic world (one community)",
            "use data=synthetic without communities/families, or curation=self|surprise|degenerate",
        )


def _measure(cfg: DictConfig) -> None:
    ms = cfg.measure
    check(
        ms.model_samples <= ms.fresh_blocks,
        "measure.model_samples",
        f"is {ms.model_samples}, but their first tokens come from {ms.fresh_blocks} fresh blocks",
        "raise measure.fresh_blocks or lower measure.model_samples",
    )


def _world(cfg: DictConfig) -> None:
    w = cfg.world
    for dcfg in cfg.communities.values() or [cfg.data]:
        bad = [k for k in dcfg.topics or [] if not 0 <= k < w.topics]
        check(
            not bad,
            "data.topics",
            f"{bad} are not topics of a world with world.topics={w.topics}",
            f"pick topics in 0 … {w.topics - 1}",
        )
    if cfg.data.source == "synthetic":
        check(
            1 <= w.min_successors <= w.max_successors <= w.vocab_size,
            "world.min_successors",
            "need 1 ≤ min_successors ≤ max_successors ≤ vocab_size",
            "use 4 and 32",
        )
        check(0 <= w.zipf_min <= w.zipf_max, "world.zipf_min", "need 0 ≤ min ≤ max", "0.7/1.5")


def check_context(block_size: int, context: int, key: str = "data.block_size") -> None:
    """A prompt block and its continuation must both fit in the model's context."""
    check(
        2 * block_size <= context,
        key,
        f"{block_size} needs a context of 2×{block_size}={2 * block_size} (prompt + "
        f"continuation); the model has {context}",
        f"use {key} ≤ {context // 2}",
    )


def check_budget(smallest: int, n_blocks: int, n_models: int) -> None:
    """Every model must get at least one block of the N-block sample."""
    check(
        smallest >= 1,
        "diversity.m",
        f"the sample has N={n_blocks} blocks, too few for {n_models} models "
        f"(the smallest share gets {smallest})",
        "lower diversity.m, or raise scale.fraction / scale.max_blocks",
    )
