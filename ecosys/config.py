"""Config schema (dataclasses in Hydra's ConfigStore) and validation before compute.

The schema types every key, so `train.epochs=abc` or `train.foo=1` fails inside Hydra
at composition; `validate` then checks the values against each other and names the
key and the fix in one line. Nothing is written before both have passed.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf


class ConfigError(ValueError):
    """A bad config value: `key` names it, the message says what to do."""

    def __init__(self, key: str, problem: str, fix: str):
        self.key, self.problem, self.fix = key, problem, fix
        super().__init__(f"{key}: {problem} — {fix}")


class Protocol(StrEnum):
    epochs = "epochs"  # the paper: E epochs over the model's own n blocks
    equal_steps = "equal_steps"  # every model takes the steps E epochs over all N would


class Schedule(StrEnum):
    constant = "constant"
    cosine = "cosine"


@dataclass
class WorldConfig:
    """The synthetic language (see ecosys/world.py); fixed by `seed`, not by the run seed."""

    seed: int = 1234
    vocab_size: int = 128
    topics: int = 4
    topic_rows: float = 0.25  # share of each topic's rows that differ from the shared chain
    min_successors: int = 4
    max_successors: int = 32
    zipf_min: float = 0.7
    zipf_max: float = 1.5
    pretrain_rows: float = 0.5  # share of rows the pretraining distribution Q perturbs
    pretrain_mix: float = 0.7  # Q_row = (1 - mix) P_row + mix · fresh row
    train_blocks: int = 1280
    valid_blocks: int = 128
    test_blocks: int = 256


@dataclass
class PretrainConfig:
    """How ecosys pretrains the synthetic world's base model on Q (cached on disk)."""

    steps: int = 600
    batch_size: int = 64
    lr: float = 5e-3
    warmup: int = 50
    seed: int = 0


@dataclass
class ModelConfig:
    name: str = "tiny"
    # pretrained: from_pretrained(path, else hub_id); llama2c: a llama2.c checkpoint at
    # path, converted; random: model.arch initialised with model.tokenizer's vocabulary;
    # synthetic: model.arch pretrained by ecosys on the synthetic world's Q (ecosys/base.py)
    source: str = "synthetic"
    hub_id: str | None = None
    path: str | None = None  # a local directory; for pretrained it wins over hub_id
    tokenizer: str | None = None  # tokenizer dir or hub id; null = the model's own
    dtype: str = "default"  # float32 | bfloat16 | float16; default: bf16 on GPU, fp32 on CPU
    attn_implementation: str | None = None  # e.g. sdpa, eager; null = transformers' choice
    finetune_lr: float = 3e-4  # the default train.lr for this model (paper: 1e-5 for OPT)
    # the shape of built models (random, synthetic)
    arch: str = "gpt2"  # gpt2 | opt | llama
    init_seed: int = 0
    n_layer: int = 2
    n_embd: int = 64
    n_head: int = 2
    n_positions: int = 64
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)


@dataclass
class DataConfig:
    name: str = "synthetic"
    source: str = "synthetic"  # synthetic | files | hub
    block_size: int = 32
    train: str | None = None  # files: local text files, one document line per line
    valid: str | None = None
    test: str | None = None
    hub_id: str | None = None  # hub: datasets.load_dataset(hub_id, hub_config)
    hub_config: str | None = None
    text_column: str = "text"
    add_special_tokens: bool = True  # as HF run_clm tokenizes (OPT: a BOS per line)
    group_batch: int = 1000  # run_clm's group_texts: each batch of lines drops its remainder
    topics: list[int] | None = None  # synthetic: only blocks of these topics (a community)
    run: str | None = None  # pool: a finished run's directory whose generated pool is the corpus
    pool_t: int = 0  # pool: which iteration's pool (pools/tXX)


@dataclass
class ScaleConfig:
    name: str = "tiny"
    fraction: float = 0.4  # share of train blocks sampled as the N-token budget (paper: 2/5)
    max_blocks: int | None = None  # cap on N (debug-sized runs on real corpora)
    max_valid_blocks: int | None = None
    max_test_blocks: int | None = None
    trim_communities: bool = True  # cut every community's train to the shortest (the paper)


@dataclass
class DataQualityConfig:
    real_fraction: float = 0.0  # share of each pool replaced by fresh real train blocks
    retrain_real: bool = False  # control (App. H): every t trains on the real set, no pool


class Segments(StrEnum):
    split = "split"  # M non-overlapping segments of N (the paper's diversity)
    same = "same"  # every model gets segment 0 (App. G: diversity by expansion's control)
    whole = "whole"  # every model gets all of N (App. H: k identical models)


@dataclass
class DiversityConfig:
    m: int = 1
    shares: list[float] | None = None  # data shares w_m; null = equal shares 1/M
    segments: Segments = Segments.split


@dataclass
class TrainConfig:
    epochs: int = 5
    lr: float = MISSING  # defaults to ${model.finetune_lr} in conf/train/default.yaml
    batch_size: int = 16
    eval_batch_size: int = 64
    weight_decay: float = 0.0
    schedule: Schedule = Schedule.constant
    min_lr: float = 0.0  # end of the cosine schedule
    restart_from_base: bool = False  # paper: the best checkpoint carries into t+1
    start_is_candidate: bool = False  # may the untrained start of an iteration be "best"?
    mixed_precision: str = "no"  # no | fp16 | bf16 (accelerate)
    eval_on_train: bool = False  # also score each model on its real training blocks (App. H)
    together: bool = False  # a rank's models of one base as one batched step (ensemble.py)
    protocol: Protocol = Protocol.epochs  # equal_steps: the control the paper lacks


@dataclass
class GenerateConfig:
    num_beams: int = 5
    do_sample: bool = False
    temperature: float = 1.0
    top_k: int = 50
    top_p: float = 1.0
    repetition_penalty: float = 1.0  # 1.0 = none (the paper's "0.0")
    batch_size: int = 128  # paper: 32; equal-length prompts make outputs batch-independent
    engine: str = "lean"  # lean (ecosys/decode.py: generate's tokens, faster) | hf (generate)


@dataclass
class MeasureConfig:
    """The synthetic world's exact measurements (ecosys/exact.py); off where p_data is unknown."""

    exact: bool = True  # KL rate, W2 / EDQ of data and model samples, per (t, model)
    fresh_blocks: int = 256  # fresh p_data blocks: the reference sample
    model_samples: int = 256  # blocks sampled from each model (τ = 1) for its W2
    smoothing: float = 1e-4  # p_data's ground metric mixes this much uniform mass per row
    js_blocks: int = 64  # test blocks for the models' pairwise Jensen–Shannon divergence


@dataclass
class LensesConfig:
    """What collapses beyond perplexity (ecosys/lenses.py), per (t, model) and per t."""

    enabled: bool = True  # lexical and tail lenses, self perplexity, tail ranks, the cross matrix
    subsample: int = 64  # continuations per model for self-BLEU, self perplexity, cross matrix
    cross: bool | None = None  # the M × M cross-model perplexity matrix; null: on for M ≤ 16


@dataclass
class TrackingConfig:
    """W&B, a mirror of the run store (ecosys/tracking.py): excluded from the run id."""

    mode: str = "auto"  # auto (online with an API key, else offline) | online | offline | disabled
    project: str = "ecosys"
    entity: str | None = None
    group: str | None = None  # null: a multirun's sweep dir name


@dataclass
class RuntimeConfig:
    """How a run executes, not what it computes: excluded from the run id."""

    progress: bool = True
    cpu: bool = False  # force CPU even where a GPU is present
    threads: int | None = None  # torch intra-op threads; null = torch's default
    lock_timeout: float = 0.0  # seconds to wait for a run dir held by another process
    preempt_grace_s: float = 30.0  # SLURM's SIGUSR2 waits ≤ this long for a unit boundary
    compile: bool = False  # torch.compile each base's forward: train, score, generate (lean)


@dataclass
class Config:
    T: int = 10
    seed: int = 0
    out_dir: str = "runs"
    run_name: str | None = None  # null: derived from the condition, seed and config hash
    cache_dir: str = ".cache/ecosys"
    world: WorldConfig = field(default_factory=WorldConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    scale: ScaleConfig = field(default_factory=ScaleConfig)
    data_quality: DataQualityConfig = field(default_factory=DataQualityConfig)
    diversity: DiversityConfig = field(default_factory=DiversityConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    generate: GenerateConfig = field(default_factory=GenerateConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    measure: MeasureConfig = field(default_factory=MeasureConfig)
    lenses: LensesConfig = field(default_factory=LensesConfig)
    # Mixed families (paper App. G): members cycle through these model configs, in key
    # order: +model@families.opt=opt-125m +model@families.gpt2=gpt2. Empty: all `model`.
    families: dict[str, ModelConfig] = field(default_factory=dict)
    # Community test sets (App. G): members cycle through these corpora, each trained on
    # its own sample and scored on its own test set: +data@communities.ptb=ptb. Empty: `data`.
    communities: dict[str, DataConfig] = field(default_factory=dict)


DTYPE_NAMES = ("float32", "bfloat16", "float16")

# Keys that say where and how a run executes; the rest decide its results.
RUNTIME_KEYS = ("out_dir", "run_name", "cache_dir", "runtime", "tracking")


def register() -> None:
    ConfigStore.instance().store(name="schema", node=Config)


def resolved(cfg: DictConfig) -> dict[str, Any]:
    return OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)


def identity(cfg: DictConfig) -> dict[str, Any]:
    """The part of the config that decides results: what a run dir must match."""
    return {k: v for k, v in resolved(cfg).items() if k not in RUNTIME_KEYS}


def config_hash(cfg: DictConfig) -> str:
    blob = json.dumps(identity(cfg), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:8]


def shares(cfg: DictConfig) -> list[float]:
    d = cfg.diversity
    return list(d.shares) if d.shares is not None else [1.0 / d.m] * d.m


def hill_shannon(w: list[float]) -> float:
    """D = exp(-Σ w ln w): equal shares give D = M."""
    return math.exp(-sum(x * math.log(x) for x in w if x > 0))


def data_quality_label(cfg: DictConfig) -> str:
    g = cfg.generate
    label = f"temp{g.temperature:g}" if g.do_sample else "beam" if g.num_beams > 1 else "greedy"
    f = cfg.data_quality.real_fraction
    return f"{label}+real{round(100 * f)}" if f > 0 else label


def diversity_label(cfg: DictConfig) -> str:
    if cfg.diversity.shares is None:
        return f"d{cfg.diversity.m}"
    return f"D{hill_shannon(shares(cfg)):.2f}"


def protocol_label(cfg: DictConfig) -> str:
    """The controls a run departs from the paper's protocol by; "paper" when none."""
    parts = []
    if cfg.train.protocol != Protocol.epochs:
        parts.append(str(cfg.train.protocol))
    if cfg.diversity.segments != Segments.split:
        parts.append(f"segments_{cfg.diversity.segments}")
    if cfg.data_quality.retrain_real:
        parts.append("retrain_real")
    return "+".join(parts) or "paper"


def block_size(cfg: DictConfig) -> int:
    """The run's block size: data's, or the communities' (which must all agree)."""
    coms = [cfg.communities[k] for k in sorted(cfg.communities)]
    return coms[0].block_size if coms else cfg.data.block_size


def condition(cfg: DictConfig) -> dict[str, str]:
    """The labels that name a run's condition: mixed families by their models' names,
    communities by their keys, joined by +."""
    fams = [cfg.families[k].name for k in sorted(cfg.families)] or [cfg.model.name]
    coms = sorted(cfg.communities) or [_data_label(cfg.data)]
    return {
        "model": "+".join(fams),
        "data": "+".join(coms),
        "scale": cfg.scale.name,
        "data_quality": data_quality_label(cfg),
        "diversity": diversity_label(cfg),
        "protocol": protocol_label(cfg),
    }


def _data_label(d: DictConfig) -> str:
    return f"{d.name}_t{d.pool_t}" if d.source == "pool" else d.name


def run_name(cfg: DictConfig) -> str:
    if cfg.run_name:
        return cfg.run_name
    labels = [v for k, v in condition(cfg).items() if not (k == "protocol" and v == "paper")]
    return "_".join(labels) + f"_s{cfg.seed}-{config_hash(cfg)}"


def _check(ok: bool, key: str, problem: str, fix: str) -> None:
    if not ok:
        raise ConfigError(key, problem, fix)


def validate(cfg: DictConfig) -> None:
    """Static checks: everything decidable from the config alone, before any compute."""
    _check(cfg.T >= 1, "T", f"must be ≥ 1, got {cfg.T}", "set T=10 (the paper) or any T ≥ 1")
    _check(cfg.seed >= 0, "seed", f"must be ≥ 0, got {cfg.seed}", "use a non-negative seed")

    d = cfg.diversity
    _check(d.m >= 1, "diversity.m", f"must be ≥ 1, got {d.m}", "pick diversity=d1|d2|d4|d8|d16")
    if d.shares is not None:
        w = list(d.shares)
        _check(
            len(w) == d.m,
            "diversity.shares",
            f"has {len(w)} entries but diversity.m={d.m}",
            f"set diversity.m={len(w)} or give {d.m} shares",
        )
        _check(
            all(x > 0 for x in w),
            "diversity.shares",
            f"must all be > 0, got {w}",
            "give every model a positive share",
        )
        _check(
            abs(sum(w) - 1.0) < 1e-6,
            "diversity.shares",
            f"must sum to 1, sum is {sum(w):.6g}",
            "normalise the shares so they sum to 1",
        )

    s = cfg.scale
    _check(
        0 < s.fraction <= 1,
        "scale.fraction",
        f"must be in (0, 1], got {s.fraction}",
        "use scale=primary (0.4) or scale=full (1.0)",
    )
    for key in ("max_blocks", "max_valid_blocks", "max_test_blocks"):
        v = s[key]
        _check(v is None or v >= 1, f"scale.{key}", f"must be ≥ 1 or null, got {v}", "raise it")

    dq = cfg.data_quality
    _check(
        0 <= dq.real_fraction <= 1,
        "data_quality.real_fraction",
        f"must be in [0, 1], got {dq.real_fraction}",
        "use data_quality=real10 (0.1) or a value in [0, 1]",
    )

    t = cfg.train
    _check(t.epochs >= 1, "train.epochs", f"must be ≥ 1, got {t.epochs}", "set train.epochs=5")
    _check(t.lr > 0, "train.lr", f"must be > 0, got {t.lr}", "set e.g. train.lr=1e-5")
    _check(t.min_lr >= 0, "train.min_lr", f"must be ≥ 0, got {t.min_lr}", "set train.min_lr=0")
    _check(t.batch_size >= 1, "train.batch_size", f"must be ≥ 1, got {t.batch_size}", "set 16")
    _check(
        t.eval_batch_size >= 1,
        "train.eval_batch_size",
        f"must be ≥ 1, got {t.eval_batch_size}",
        "set train.eval_batch_size=64",
    )
    _check(
        t.mixed_precision in ("no", "fp16", "bf16"),
        "train.mixed_precision",
        f"must be no|fp16|bf16, got {t.mixed_precision!r}",
        "use train.mixed_precision=no on CPU",
    )

    g = cfg.generate
    _check(g.num_beams >= 1, "generate.num_beams", f"must be ≥ 1, got {g.num_beams}", "set 5")
    _check(g.batch_size >= 1, "generate.batch_size", f"must be ≥ 1, got {g.batch_size}", "set 32")
    _check(
        g.repetition_penalty > 0,
        "generate.repetition_penalty",
        f"must be > 0, got {g.repetition_penalty}",
        "use 1.0 for no penalty",
    )
    if g.do_sample:
        _check(
            g.temperature > 0,
            "generate.temperature",
            f"must be > 0 when sampling, got {g.temperature}",
            "use data_quality=temp0.5|temp1|temp2, or beam search (data_quality=beam)",
        )
        _check(
            0 < g.top_p <= 1,
            "generate.top_p",
            f"must be in (0, 1], got {g.top_p}",
            "use generate.top_p=1.0 (the paper)",
        )
        _check(g.top_k >= 0, "generate.top_k", f"must be ≥ 0, got {g.top_k}", "use 50 (paper)")
        _check(
            g.num_beams == 1,
            "generate.num_beams",
            f"must be 1 when sampling, got {g.num_beams}",
            "sample with num_beams=1 or search with do_sample=false",
        )

    _check(
        g.engine in ("lean", "hf"),
        "generate.engine",
        f"must be lean|hf, got {g.engine!r}",
        "use lean (generate's tokens, faster) or hf (model.generate itself)",
    )
    modes = ("auto", "online", "offline", "disabled")
    _check(
        cfg.tracking.mode in modes,
        "tracking.mode",
        f"must be {'|'.join(modes)}, got {cfg.tracking.mode!r}",
        "use tracking=wandb (auto) or tracking=none",
    )

    b = cfg.data.block_size
    _check(b >= 2, "data.block_size", f"must be ≥ 2, got {b}", "use 128 (the paper)")

    for mcfg in cfg.families.values() or [cfg.model]:
        for dcfg in cfg.communities.values() or [cfg.data]:
            _validate_model(mcfg, dcfg)
    for dcfg in cfg.communities.values() or [cfg.data]:
        _validate_data(dcfg)
        _check(
            dcfg.block_size == block_size(cfg),
            "communities",
            f"has block_size {dcfg.block_size}, another {block_size(cfg)}",
            "give all communities one block_size",
        )

    _check(
        not (dq.retrain_real and dq.real_fraction > 0),
        "data_quality.real_fraction",
        "has no meaning with data_quality.retrain_real (no pool is made)",
        "use data_quality=retrain_real alone",
    )
    _check(
        cfg.lenses.subsample >= 2,
        "lenses.subsample",
        f"must be ≥ 2 (self-BLEU needs other continuations), got {cfg.lenses.subsample}",
        "use lenses.subsample=64",
    )
    ms = cfg.measure
    for key in ("fresh_blocks", "model_samples", "js_blocks"):
        _check(ms[key] >= 2, f"measure.{key}", f"must be ≥ 2, got {ms[key]}", "use the default")
    _check(
        ms.model_samples <= ms.fresh_blocks,
        "measure.model_samples",
        f"is {ms.model_samples}, but their first tokens come from {ms.fresh_blocks} fresh blocks",
        "raise measure.fresh_blocks or lower measure.model_samples",
    )
    _check(
        0 < ms.smoothing < 1,
        "measure.smoothing",
        f"must be in (0, 1), got {ms.smoothing}",
        "use measure.smoothing=1e-4",
    )

    w = cfg.world
    for dcfg in cfg.communities.values() or [cfg.data]:
        bad = [k for k in dcfg.topics or [] if not 0 <= k < w.topics]
        _check(
            not bad,
            "data.topics",
            f"{bad} are not topics of a world with world.topics={w.topics}",
            f"pick topics in 0 … {w.topics - 1}",
        )
    if cfg.data.source == "synthetic":
        _check(w.vocab_size >= 2, "world.vocab_size", "must be ≥ 2", "use 128")
        _check(w.topics >= 1, "world.topics", "must be ≥ 1", "use 4")
        _check(
            1 <= w.min_successors <= w.max_successors <= w.vocab_size,
            "world.min_successors",
            "need 1 ≤ min_successors ≤ max_successors ≤ vocab_size",
            "use 4 and 32",
        )
        _check(0 <= w.zipf_min <= w.zipf_max, "world.zipf_min", "need 0 ≤ min ≤ max", "0.7/1.5")
        for key in ("train_blocks", "valid_blocks", "test_blocks"):
            _check(w[key] >= 1, f"world.{key}", f"must be ≥ 1, got {w[key]}", "raise it")


def _exists(path: str | None, key: str, what: str, fix: str, directory: bool = False) -> None:
    if path is None:
        return
    p = Path(path).expanduser()
    _check(p.is_dir() if directory else p.exists(), key, f"{path} is not {what}", fix)


def _validate_model(m: DictConfig, data: DictConfig) -> None:
    sources = ("pretrained", "llama2c", "random", "synthetic")
    _check(
        m.source in sources,
        "model.source",
        f"must be {'|'.join(sources)}, got {m.source!r}",
        "pick a model=... option (python -m ecosys --help)",
    )
    _check(
        m.dtype in ("default", *DTYPE_NAMES),
        "model.dtype",
        f"must be default|{'|'.join(DTYPE_NAMES)}, got {m.dtype!r}",
        "use model.dtype=float32 on CPU",
    )
    _exists(
        m.path,
        "model.path",
        "a directory",
        "point model.path at a save_pretrained (or llama2.c) directory, or drop it",
        directory=True,
    )
    if m.source == "pretrained":
        _check(
            m.path is not None or m.hub_id is not None,
            "model.path",
            "a pretrained model needs model.path or model.hub_id",
            "set model.path=/dir/of/save_pretrained",
        )
    if m.source == "llama2c":
        _check(
            m.path is not None,
            "model.path",
            "llama2c needs the checkpoint's directory",
            "set model.path",
        )
    if m.source == "random":
        _check(
            m.tokenizer is not None,
            "model.tokenizer",
            "a randomly initialised model needs a tokenizer for its vocabulary",
            "set model.tokenizer=/dir/with/vocab.json+merges.txt (or a hub id)",
        )
    if m.tokenizer is not None and m.tokenizer.startswith(("/", ".", "~")):  # a path, not a hub id
        _exists(
            m.tokenizer, "model.tokenizer", "a directory", "point it at a tokenizer directory", True
        )
    if m.source in ("random", "synthetic"):
        _check(
            m.arch in ("gpt2", "opt", "llama"),
            "model.arch",
            f"must be gpt2|opt|llama, got {m.arch!r}",
            "use model.arch=gpt2",
        )
        _check(
            m.n_embd % m.n_head == 0,
            "model.n_head",
            f"n_embd={m.n_embd} is not divisible by n_head={m.n_head}",
            "pick n_head dividing n_embd",
        )
    if m.source == "synthetic":
        _check(
            data.source in ("synthetic", "pool"),
            "data",
            "the synthetic model only speaks the synthetic world's language",
            "use data=synthetic with model=tiny",
        )
        _check(m.pretrain.steps >= 1, "model.pretrain.steps", "must be ≥ 1", "set e.g. 600")
    else:
        _check(
            data.source != "synthetic",
            "data",
            f"model={m.name} reads text, but data=synthetic is token ids of the synthetic world",
            "use data=files (local text) or data=wikitext2 with a real model",
        )


def _validate_data(d: DictConfig) -> None:
    sources = ("synthetic", "files", "hub", "pool")
    _check(
        d.source in sources,
        "data.source",
        f"must be {'|'.join(sources)}, got {d.source!r}",
        "pick a data=... option",
    )
    if d.source == "files":
        for split in ("train", "valid", "test"):
            _check(
                d[split] is not None,
                f"data.{split}",
                "data=files needs a train, a valid and a test file",
                f"set data.{split}=/path/to/{split}.txt",
            )
            _exists(d[split], f"data.{split}", "a file", f"point data.{split} at a local text file")
    if d.source == "hub":
        _check(
            d.hub_id is not None, "data.hub_id", "data from the hub needs an id", "set data.hub_id"
        )
    _check(d.group_batch >= 1, "data.group_batch", "must be ≥ 1", "use 1000 (run_clm)")
    if d.topics is not None:
        _check(
            d.source == "synthetic" and len(d.topics) > 0,
            "data.topics",
            f"selects topics of the synthetic world, got {list(d.topics)} with data={d.name}",
            "drop data.topics, or use it with data=synthetic",
        )
    if d.source == "pool":
        _check(
            d.run is not None,
            "data.run",
            "data=pool needs the run whose generated pool becomes the corpus",
            "set data.run=runs/<sweep>/<run dir> (a finished run)",
        )
        pool = pool_file(d)
        _check(
            pool.exists(),
            "data.pool_t",
            f"{pool} does not exist (a run with T iterations has pools t = 0 … T-2, "
            "and only runs whose members share one tokenizer keep token pools)",
            "pick data.pool_t of a pool that run wrote",
        )
        width = np.load(pool, mmap_mode="r").shape[1]
        _check(
            width == d.block_size,
            "data.block_size",
            f"is {d.block_size}, but the pool's blocks have {width} tokens",
            f"set data.block_size={width}",
        )


def pool_file(d: DictConfig) -> Path:
    """The saved pool data=pool reads: pools/tXX.npy of the run data.run names."""
    return Path(d.run).expanduser() / "pools" / f"t{d.pool_t:02d}.npy"


def check_context(block_size: int, context: int, key: str = "data.block_size") -> None:
    """A prompt block and its continuation must both fit in the model's context."""
    _check(
        2 * block_size <= context,
        key,
        f"{block_size} needs a context of 2×{block_size}={2 * block_size} (prompt + "
        f"continuation); the model has {context}",
        f"use {key} ≤ {context // 2}",
    )


def check_budget(smallest: int, n_blocks: int, n_models: int) -> None:
    """Every model must get at least one block of the N-block sample."""
    _check(
        smallest >= 1,
        "diversity.m",
        f"the sample has N={n_blocks} blocks, too few for {n_models} models "
        f"(the smallest share gets {smallest})",
        "lower diversity.m, or raise scale.fraction / scale.max_blocks",
    )
