"""The config schema: dataclasses registered in Hydra's ConfigStore.

The schema types every key, so `train.epochs=abc`, `train.foo=1` or `model.dtype=int8`
fails inside Hydra at composition: closed value sets are StrEnums (equal to their
strings, so `m.source == "pretrained"` holds). Field metadata marks the keys other
modules derive lists from: `runtime` (not part of a run's identity) and `shape` (what a
built base model's cache key holds).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from enum import StrEnum

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

_RUNTIME = {"runtime": True}  # how a run executes, not what it computes
_SHAPE = {"shape": True}  # decides a built model's shape


class ModelSource(StrEnum):
    pretrained = "pretrained"  # from_pretrained(model.path, else model.hub_id)
    llama2c = "llama2c"  # a llama2.c checkpoint at model.path, converted
    gguf = "gguf"  # a GGUF file (model.path, else model.package's), dequantized once
    random = "random"  # model.arch initialised with model.tokenizer's vocabulary
    synthetic = "synthetic"  # model.arch pretrained by ecosys on the world's Q (base.py)


class Arch(StrEnum):
    gpt2 = "gpt2"
    opt = "opt"
    llama = "llama"


class Dtype(StrEnum):
    default = "default"  # float32 weights (bf16 compute: train.mixed_precision=bf16)
    float32 = "float32"
    bfloat16 = "bfloat16"
    float16 = "float16"


class DataSource(StrEnum):
    synthetic = "synthetic"  # the synthetic world's p_data
    files = "files"  # local text files
    hub = "hub"  # datasets.load_dataset(hub_id, hub_config)
    pool = "pool"  # a finished run's generated pool


class Protocol(StrEnum):
    epochs = "epochs"  # the paper: E epochs over the model's own n blocks
    equal_steps = "equal_steps"  # every model takes the steps E epochs over all N would


class Schedule(StrEnum):
    constant = "constant"
    cosine = "cosine"


class MixedPrecision(StrEnum):  # accelerate's
    no = "no"
    fp16 = "fp16"
    bf16 = "bf16"


class Engine(StrEnum):
    lean = "lean"  # ecosys/kernels/decode.py: generate's tokens, faster
    hf = "hf"  # model.generate itself


class TrackingMode(StrEnum):
    auto = "auto"  # online with an API key, else offline
    online = "online"
    offline = "offline"
    disabled = "disabled"


class Regime(StrEnum):
    replace = "replace"  # the paper: at t ≥ 1 a model trains on its share of the last pool
    accumulate = "accumulate"  # its real set and its shares of every pool so far
    accumulate_subsample = "accumulate_subsample"  # n_m blocks drawn from what accumulate has


class Curation(StrEnum):
    """Which generated blocks enter the pool (ecosys/kernels/curation.py)."""

    none = "none"  # the paper: every one
    oracle = "oracle"  # synthetic world: the highest log p_data per token (a perfect verifier)
    self = "self"  # the lowest perplexity under the model that generated it (confidence)
    surprise = "surprise"  # the highest such perplexity (Gambetta et al. 2024)
    degenerate = "degenerate"  # all but exact duplicates and blocks one token dominates


class Segments(StrEnum):
    split = "split"  # M non-overlapping segments of N (the paper's diversity)
    same = "same"  # every model gets segment 0 (App. G: diversity by expansion's control)
    whole = "whole"  # every model gets all of N (App. H: k identical models)


@dataclass
class WorldConfig:
    """The synthetic language (see ecosys/data/world.py); fixed by `seed`, not by the run seed."""

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
    source: ModelSource = ModelSource.synthetic
    hub_id: str | None = None
    path: str | None = None  # a local directory (gguf: or a .gguf file); wins over hub_id
    package: str | None = None  # gguf: the pip distribution shipping the .gguf (path null)
    tokenizer: str | None = None  # tokenizer dir or hub id; null = the model's own
    dtype: Dtype = Dtype.default
    attn_implementation: str | None = None  # e.g. sdpa, eager; null = transformers' choice
    finetune_lr: float = 3e-4  # the default train.lr for this model (paper: 1e-5 for OPT)
    # the shape of built models (random, synthetic)
    arch: Arch = field(default=Arch.gpt2, metadata=_SHAPE)
    init_seed: int = 0
    n_layer: int = field(default=2, metadata=_SHAPE)
    n_embd: int = field(default=64, metadata=_SHAPE)
    n_head: int = field(default=2, metadata=_SHAPE)
    n_positions: int = field(default=64, metadata=_SHAPE)
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)


@dataclass
class DataConfig:
    name: str = "synthetic"
    source: DataSource = DataSource.synthetic
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
class RegimeConfig:
    """What a model trains on at t ≥ 1 (ecosys/schedule/context.py `training_set`)."""

    name: Regime = Regime.replace
    keep_real: bool = True  # accumulating: keep the real generation set after t = 0


@dataclass
class DataQualityConfig:
    # The label of the generation mode an option sets (conf/data_quality/*.yaml each name
    # theirs): labels come from it, never from generate.*, which cannot tell nucleus
    # sampling from temperature sampling. The default matches generate's defaults.
    name: str = "beam"
    real_fraction: float = 0.0  # share of each pool replaced by fresh real train blocks
    retrain_real: bool = False  # control (App. H): every t trains on the real set, no pool


@dataclass
class CurationConfig:
    """Selection of the generated blocks before the pool is dealt out: the kept blocks are
    repeated in turn back to the pool's size, so every model keeps its n_m = N/M blocks."""

    name: Curation = Curation.none
    keep: float = 0.5  # share of the generated blocks kept (oracle, self, surprise)
    max_token_share: float = 0.5  # degenerate: drop a block whose commonest token exceeds it


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
    weight_decay: float = 0.0
    schedule: Schedule = Schedule.constant
    min_lr: float = 0.0  # end of the cosine schedule
    restart_from_base: bool = False  # paper: the best checkpoint carries into t+1
    start_is_candidate: bool = False  # may the untrained start of an iteration be "best"?
    mixed_precision: MixedPrecision = MixedPrecision.no
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
    engine: Engine = Engine.lean


@dataclass
class ScoreConfig:
    """Every scoring pass: validation in training, the test set, the exact measures, the
    cross-model matrix, self perplexity (train.eval_batch_size before it was named for
    all of them)."""

    batch_size: int = 64  # blocks per forward pass; equal-length blocks: batch-independent


@dataclass
class MeasureConfig:
    """The synthetic world's exact measurements (ecosys/measures/exact.py); off where
    p_data is unknown."""

    exact: bool = True  # KL rate, W2 / EDQ of data and model samples, per (t, model)
    fresh_blocks: int = 256  # fresh p_data blocks: the reference sample
    model_samples: int = 256  # blocks sampled from each model (τ = 1) for its W2
    smoothing: float = 1e-4  # p_data's ground metric mixes this much uniform mass per row
    js_blocks: int = 64  # test blocks for the models' pairwise Jensen–Shannon divergence


@dataclass
class LensesConfig:
    """What collapses beyond perplexity (ecosys/measures/lenses.py), per (t, model) and per t."""

    enabled: bool = True  # lexical and tail lenses, self perplexity, tail ranks, the cross matrix
    subsample: int = 64  # continuations per model for self-BLEU, self perplexity, cross matrix
    cross: bool | None = None  # the M × M cross-model perplexity matrix; null: on for M ≤ 16
    cross_others: int = 3  # other models each model scores (seeded): 16 × 4 of 256 at M = 16


WANDB_PROJECT = "ecosys"  # W&B's project where a run sets none (the analysis's default too)


@dataclass
class TrackingConfig:
    """W&B, a mirror of the run store (ecosys/rundir/tracking.py): excluded from the run id."""

    mode: TrackingMode = TrackingMode.auto
    project: str = WANDB_PROJECT
    entity: str | None = None
    group: str | None = None  # null: a multirun's sweep dir name


@dataclass
class RuntimeConfig:
    """How a run executes, not what it computes: excluded from the run id."""

    progress: bool = True
    cpu: bool = False  # force CPU even where a GPU is present
    threads: int | None = None  # torch intra-op threads; null = the CPUs allotted (ranks.py)
    lock_timeout: float = 0.0  # seconds to wait for a run dir held by another process
    preempt_grace_s: float = 30.0  # SLURM's SIGUSR2 waits ≤ this long for a unit boundary
    compile: bool = False  # torch.compile each base's forward: train, score, generate (lean)


@dataclass
class Config:
    T: int = 10
    seed: int = 0
    out_dir: str = field(default="runs", metadata=_RUNTIME)
    # null: derived from the condition, seed and config hash
    run_name: str | None = field(default=None, metadata=_RUNTIME)
    cache_dir: str = field(default=".cache/ecosys", metadata=_RUNTIME)
    world: WorldConfig = field(default_factory=WorldConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    scale: ScaleConfig = field(default_factory=ScaleConfig)
    data_quality: DataQualityConfig = field(default_factory=DataQualityConfig)
    diversity: DiversityConfig = field(default_factory=DiversityConfig)
    regime: RegimeConfig = field(default_factory=RegimeConfig)
    curation: CurationConfig = field(default_factory=CurationConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    generate: GenerateConfig = field(default_factory=GenerateConfig)
    score: ScoreConfig = field(default_factory=ScoreConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig, metadata=_RUNTIME)
    tracking: TrackingConfig = field(default_factory=TrackingConfig, metadata=_RUNTIME)
    measure: MeasureConfig = field(default_factory=MeasureConfig)
    lenses: LensesConfig = field(default_factory=LensesConfig)
    # Mixed families (paper App. G): members cycle through these model configs, in key
    # order: +model@families.opt=opt-125m +model@families.gpt2=gpt2. Empty: all `model`.
    families: dict[str, ModelConfig] = field(default_factory=dict)
    # Community test sets (App. G): members cycle through these corpora, each trained on
    # its own sample and scored on its own test set: +data@communities.ptb=ptb. Empty: `data`.
    communities: dict[str, DataConfig] = field(default_factory=dict)


# Keys that say where and how a run executes; the rest decide its results.
RUNTIME_KEYS = tuple(f.name for f in fields(Config) if f.metadata.get("runtime"))
# The model keys that decide a built (random, synthetic) base's shape: its cache key.
SHAPE = tuple(f.name for f in fields(ModelConfig) if f.metadata.get("shape"))


def register() -> None:
    ConfigStore.instance().store(name="schema", node=Config)
